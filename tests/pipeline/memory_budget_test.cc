// One memory budget: a pipeline streams 20x more data than its budget, and the bytes it holds
// stay within the documented bound (memory_budget.h) the whole time.
#include <atomic>
#include <numeric>
#include <thread>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

constexpr std::size_t kElementBytes = 4096;
constexpr std::size_t kBudget = 1 << 20;

Dataset big_elements(std::int64_t n) {
  return Dataset::from_generator([n] {
    return [i = std::int64_t{0}, n]() mutable -> std::optional<Element> {
      if (i >= n) return std::nullopt;
      Tensor t(DType::kU8, Shape{static_cast<std::int64_t>(kElementBytes)});
      std::memset(t.mutable_data(), static_cast<int>(i & 0xff), kElementBytes);
      ++i;
      return Element{t, Tensor::scalar<std::int64_t>(i - 1)};
    };
  });
}

TEST(MemoryBudget, StreamingTwentyTimesTheBudgetStaysWithinTheBound) {
  const std::int64_t n = 20 * kBudget / kElementBytes + 100;  // > 20x the budget in bytes
  constexpr std::int64_t kBatch = 16;
  Dataset ds = big_elements(n)
                   .map([](Element e) {
                     Tensor copy = e[0].clone();  // a real transform: new storage per element
                     copy.mutable_data()[0] = std::byte{1};
                     return Element{copy, e[1]};
                   })
                   .shuffle(100'000)  // would hold the whole input without the budget
                   .batch(kBatch)
                   .prefetch(kAutotune);
  Iterator it = ds.iterator({.num_threads = 2, .memory_budget = kBudget});
  // Bound from memory_budget.h: limit + one unit per buffering stage (map chunk <= limit/16,
  // shuffle element, batch under assembly, prefetch batch).
  const std::size_t batch_bytes = kBatch * (kElementBytes + 8) + 128;
  const std::size_t bound = kBudget + kBudget / 16 + kElementBytes + 2 * batch_bytes;
  std::size_t streamed = 0, max_seen = 0;
  std::int64_t count = 0;
  while (auto b = it.next()) {
    streamed += b->nbytes();
    count += (*b)[0].shape()[0];
    max_seen = std::max(max_seen, it.stats().bytes_held);
  }
  PipelineStats s = it.stats();
  EXPECT_EQ(count, n);
  EXPECT_GE(streamed, 20 * kBudget);
  EXPECT_LE(max_seen, bound);
  EXPECT_LE(s.peak_bytes, bound) << s.to_string();
  // The shuffle buffer used most of the budget rather than a token amount.
  auto shuffle = std::find_if(s.stages.begin(), s.stages.end(), [](const StageStats& st) { return st.name == "shuffle"; });
  ASSERT_NE(shuffle, s.stages.end());
  EXPECT_GT(shuffle->peak_bytes, static_cast<std::int64_t>(kBudget / 2)) << s.to_string();
  EXPECT_EQ(s.bytes_held, 0u) << "everything released at the end";
}

TEST(MemoryBudget, StagesReportTheirLiveBytesAndTheySumToTheTotal) {
  Dataset ds = big_elements(2000).shuffle(64).batch(8).prefetch(4);
  Iterator it = ds.iterator({.num_threads = 2, .memory_budget = 64 << 20});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(it.next());
  PipelineStats s = it.stats();
  std::int64_t sum = 0;
  for (const StageStats& st : s.stages) sum += st.bytes_held;
  // Stats are read while the prefetch thread runs; they agree once it waits for room.
  for (int tries = 0; tries < 200 && static_cast<std::size_t>(sum) != s.bytes_held; ++tries) {
    std::this_thread::yield();
    s = it.stats();
    sum = 0;
    for (const StageStats& st : s.stages) sum += st.bytes_held;
  }
  EXPECT_EQ(static_cast<std::size_t>(sum), s.bytes_held) << s.to_string();
  EXPECT_GE(s.bytes_held, 63 * kElementBytes) << "the shuffle buffer (64, one just taken) is held\n" << s.to_string();
  EXPECT_NE(s.to_string().find("shuffle"), std::string::npos);
}

TEST(MemoryBudget, InMemoryCacheSpillsPastHalfTheBudgetAndReplaysExactly) {
  const std::int64_t n = 600;  // 2.4 MiB of elements for a 1 MiB budget
  Dataset ds = big_elements(n).cache().repeat(2);
  Iterator it = ds.iterator({.num_threads = 1, .memory_budget = kBudget});
  std::vector<std::int64_t> order;
  while (auto e = it.next()) {
    std::int64_t i = (*e)[1].item<std::int64_t>();
    order.push_back(i);
    ASSERT_EQ(static_cast<int>((*e)[0].data()[kElementBytes - 1]), static_cast<int>(i & 0xff));
  }
  ASSERT_EQ(order.size(), static_cast<std::size_t>(2 * n));
  for (std::int64_t i = 0; i < 2 * n; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i % n);
  EXPECT_LE(it.stats().peak_bytes, kBudget);
}

}  // namespace
}  // namespace stoker
