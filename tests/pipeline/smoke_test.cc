#include <gtest/gtest.h>

#include "pipeline/dataset.h"

namespace stoker {
namespace {

TEST(Smoke, RangeMapBatchPrefetch) {
  auto ds = Dataset::range(10)
                .map([](Element e) { return Element{Tensor::scalar<std::int64_t>(e[0].item<std::int64_t>() * 2)}; })
                .batch(4)
                .prefetch(2);
  for (int threads : {1, 2}) {
    auto it = ds.iterator({.num_threads = threads});
    std::vector<std::int64_t> got;
    while (auto b = it.next()) {
      for (int i = 0; i < (*b)[0].shape()[0]; ++i) got.push_back((*b)[0].data_as<std::int64_t>()[i]);
    }
    ASSERT_EQ(got.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(got[i], 2 * i);
  }
}

}  // namespace
}  // namespace stoker
