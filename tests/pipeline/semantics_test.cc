// tf.data semantics, as tables of cases: shuffle-then-repeat vs repeat-then-shuffle, the last
// partial batch, shard before shuffle, cache then shuffle, take/skip arithmetic.
#include <algorithm>
#include <atomic>
#include <functional>
#include <set>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::concat;
using testing::Values;

Values sorted(Values v) {
  std::sort(v.begin(), v.end());
  return v;
}

Values range_values(std::int64_t n) {
  Values v;
  for (std::int64_t i = 0; i < n; ++i) v.push_back(i);
  return v;
}

TEST(ShuffleSemantics, ShuffleThenRepeatKeepsEpochsApartAndReshuffles) {
  auto r = collect(Dataset::range(20).shuffle(20, 3).repeat(3));
  Values all = concat(r.out);
  ASSERT_EQ(all.size(), 60u);
  std::vector<Values> epochs;
  for (int e = 0; e < 3; ++e) {
    Values ep(all.begin() + e * 20, all.begin() + (e + 1) * 20);
    EXPECT_EQ(sorted(ep), range_values(20)) << "epoch " << e << " is not a permutation";
    epochs.push_back(ep);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
}

TEST(ShuffleSemantics, NoReshuffleRepeatsTheSameOrder) {
  auto r = collect(Dataset::range(20).shuffle(20, 3, /*reshuffle_each_iteration=*/false).repeat(2));
  Values all = concat(r.out);
  ASSERT_EQ(all.size(), 40u);
  EXPECT_EQ(Values(all.begin(), all.begin() + 20), Values(all.begin() + 20, all.end()));
  EXPECT_NE(Values(all.begin(), all.begin() + 20), range_values(20));
}

TEST(ShuffleSemantics, RepeatThenShuffleMixesAcrossEpochBoundaries) {
  auto r = collect(Dataset::range(20).repeat(3).shuffle(40, 3));
  Values all = concat(r.out);
  ASSERT_EQ(all.size(), 60u);
  Values expected;
  for (int e = 0; e < 3; ++e) for (std::int64_t i = 0; i < 20; ++i) expected.push_back(i);
  EXPECT_EQ(sorted(all), sorted(expected));
  // Some value appears twice within the first 20 outputs: epochs are mixed.
  std::set<std::int64_t> first(all.begin(), all.begin() + 20);
  EXPECT_LT(first.size(), 20u);
}

TEST(ShuffleSemantics, SameSeedSameOrderDifferentSeedDifferentOrder) {
  auto a = concat(collect(Dataset::range(100).shuffle(50, 1)).out);
  auto b = concat(collect(Dataset::range(100).shuffle(50, 1)).out);
  auto c = concat(collect(Dataset::range(100).shuffle(50, 2)).out);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Unseeded shuffles follow Options::seed.
  auto d = concat(collect(Dataset::range(100).shuffle(50), {.seed = 5}).out);
  auto e = concat(collect(Dataset::range(100).shuffle(50), {.seed = 5}).out);
  auto f = concat(collect(Dataset::range(100).shuffle(50), {.seed = 6}).out);
  EXPECT_EQ(d, e);
  EXPECT_NE(d, f);
}

TEST(ShuffleSemantics, IsAPermutationForAnySeedAndBuffer) {
  for (std::uint64_t seed : {0u, 1u, 99u}) {
    for (std::size_t buffer : {1u, 2u, 7u, 64u, 1000u}) {
      auto all = concat(collect(Dataset::range(257).shuffle(buffer, seed)).out);
      EXPECT_EQ(sorted(all), range_values(257)) << "seed " << seed << " buffer " << buffer;
      if (buffer == 1) {
        EXPECT_EQ(all, range_values(257));
      }
    }
  }
}

struct BatchCase {
  std::int64_t n, batch;
  bool drop;
  std::vector<std::int64_t> sizes;
};

TEST(BatchSemantics, LastPartialBatchTable) {
  const BatchCase cases[] = {
      {10, 4, false, {4, 4, 2}}, {10, 4, true, {4, 4}}, {8, 4, false, {4, 4}}, {8, 4, true, {4, 4}},
      {3, 4, false, {3}},        {3, 4, true, {}},      {0, 4, false, {}},     {1, 1, false, {1}},
  };
  for (const BatchCase& c : cases) {
    Iterator it = Dataset::range(c.n).batch(c.batch, c.drop).iterator();
    std::vector<std::int64_t> sizes;
    std::int64_t expect_next = 0;
    while (auto b = it.next()) {
      ASSERT_EQ((*b)[0].shape().rank(), 1);
      sizes.push_back((*b)[0].shape()[0]);
      for (std::int64_t i = 0; i < (*b)[0].shape()[0]; ++i) EXPECT_EQ((*b)[0].data_as<std::int64_t>()[i], expect_next++);
    }
    EXPECT_EQ(sizes, c.sizes) << "n=" << c.n << " batch=" << c.batch << " drop=" << c.drop;
    EXPECT_EQ(Dataset::range(c.n).batch(c.batch, c.drop).cardinality(), std::ssize(c.sizes));
  }
}

TEST(BatchSemantics, StacksEveryComponentWithItsShape) {
  std::vector<Element> elements;
  for (int i = 0; i < 5; ++i) {
    elements.push_back(Element{Tensor::from_values<float>({2, 3}, {float(i), 1, 2, 3, 4, 5}), Tensor::scalar<std::int32_t>(i)});
  }
  Iterator it = Dataset::from_vector(elements).batch(2).iterator();
  auto b = it.next();
  ASSERT_TRUE(b);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((*b)[0].shape(), (Shape{2, 2, 3}));
  EXPECT_EQ((*b)[1].shape(), (Shape{2}));
  EXPECT_EQ((*b)[0].data_as<float>()[6], 1.0f);
  EXPECT_EQ((*b)[1].data_as<std::int32_t>()[1], 1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>((*b)[0].data()) % 64, 0u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>((*b)[1].data()) % 64, 0u);
}

TEST(BatchSemantics, MismatchedShapesNameTheRecordAndSuggestPaddedBatch) {
  std::vector<Element> elements = {Element{Tensor::from_values<float>({2}, {1, 2})},
                                   Element{Tensor::from_values<float>({3}, {1, 2, 3})}};
  Iterator it = Dataset::from_vector(elements).batch(2).iterator();
  try {
    it.next();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.context().record, 1);
    EXPECT_NE(std::string(e.what()).find("padded_batch"), std::string::npos) << e.what();
  }
}

TEST(BatchSemantics, PaddedBatchPadsToTheLargestShape) {
  std::vector<Element> elements;
  for (int n : {1, 3, 2}) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(n), n);
    elements.push_back(Element{Tensor::from_values<std::int32_t>({n}, std::span<const std::int32_t>(v))});
  }
  Iterator it = Dataset::from_vector(elements).padded_batch(3, false, -1).iterator();
  auto b = it.next();
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0].shape(), (Shape{3, 3}));
  std::vector<std::int32_t> got((*b)[0].data_as<std::int32_t>(), (*b)[0].data_as<std::int32_t>() + 9);
  EXPECT_EQ(got, (std::vector<std::int32_t>{1, -1, -1, 3, 3, 3, 2, 2, -1}));
}

TEST(ShardSemantics, ShardBeforeShuffleGivesDisjointCompleteShards) {
  for (bool source_pushdown : {true, false}) {
    Values all;
    for (std::int64_t i = 0; i < 4; ++i) {
      Dataset base = source_pushdown ? Dataset::range(103) : Dataset::range(103).map([](Element e) { return e; });
      all = concat({all, concat(collect(base.shard(4, i).shuffle(16, 9)).out)});
    }
    EXPECT_EQ(sorted(all), range_values(103)) << "pushdown " << source_pushdown;
  }
  EXPECT_THROW(Dataset::range(3).shard(2, 2), Error);
  EXPECT_THROW(Dataset::range(3).shard(0, 0), Error);
}

TEST(ShardSemantics, EqualShardsEachYieldFloorOfTotalOverNumShards) {
  struct Source {
    const char* name;
    std::function<Dataset(std::int64_t)> make;
  };
  const Source sources[] = {
      {"pushdown (range)", [](std::int64_t n) { return Dataset::range(n); }},
      {"known size, no pushdown", [](std::int64_t n) { return Dataset::range(n).map([](Element e) { return e; }); }},
      {"unknown size", [](std::int64_t n) { return testing::ints(n); }},
  };
  for (const Source& src : sources) {
    for (std::int64_t total : {0, 1, 2, 3, 5, 10, 103}) {
      for (std::int64_t num : {1, 2, 3, 4, 7}) {
        SCOPED_TRACE(std::string(src.name) + " total " + std::to_string(total) + " shards " + std::to_string(num));
        Values all;
        for (std::int64_t i = 0; i < num; ++i) {
          Dataset s = src.make(total).shard(num, i, true);
          const Values got = concat(collect(s).out);
          EXPECT_EQ(static_cast<std::int64_t>(got.size()), total / num) << "shard " << i;
          if (s.cardinality() != kUnknownCardinality) EXPECT_EQ(s.cardinality(), total / num);
          all = concat({all, got});
        }
        // Disjoint, and only the last total % num elements are dropped.
        EXPECT_EQ(sorted(all), range_values(total / num * num));
      }
    }
  }
  // Repeated: every epoch of every shard is equal.
  EXPECT_EQ(concat(collect(testing::ints(7).shard(2, 1, true).repeat(2)).out), (Values{1, 3, 5, 1, 3, 5}));
}

TEST(CacheSemantics, CacheThenShuffleReadsOnceAndReshufflesEachEpoch) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  Dataset ds = Dataset::range(30)
                   .map([calls](Element e) {
                     calls->fetch_add(1);
                     return e;
                   })
                   .cache()
                   .shuffle(30, 4)
                   .repeat(3);
  auto all = concat(collect(ds).out);
  ASSERT_EQ(all.size(), 90u);
  EXPECT_EQ(calls->load(), 30);
  Values e0(all.begin(), all.begin() + 30), e1(all.begin() + 30, all.begin() + 60);
  EXPECT_EQ(sorted(e0), range_values(30));
  EXPECT_EQ(sorted(e1), range_values(30));
  EXPECT_NE(e0, e1);
}

struct SliceCase {
  const char* name;
  std::function<Dataset(Dataset)> f;
  Values want;
};

TEST(SliceSemantics, TakeSkipTable) {
  const SliceCase cases[] = {
      {"take 3", [](Dataset d) { return d.take(3); }, {0, 1, 2}},
      {"take 0", [](Dataset d) { return d.take(0); }, {}},
      {"take all", [](Dataset d) { return d.take(-1); }, {0, 1, 2, 3, 4, 5}},
      {"take more", [](Dataset d) { return d.take(100); }, {0, 1, 2, 3, 4, 5}},
      {"skip 4", [](Dataset d) { return d.skip(4); }, {4, 5}},
      {"skip more", [](Dataset d) { return d.skip(100); }, {}},
      {"skip then take", [](Dataset d) { return d.skip(1).take(2); }, {1, 2}},
      {"take then skip", [](Dataset d) { return d.take(4).skip(3); }, {3}},
      {"repeat then take", [](Dataset d) { return d.repeat().take(8); }, {0, 1, 2, 3, 4, 5, 0, 1}},
      {"filter then take", [](Dataset d) { return d.filter([](const Element& e) { return e[0].item<int>() % 2; }).take(2); }, {1, 3}},
  };
  for (const SliceCase& c : cases) {
    EXPECT_EQ(concat(collect(c.f(Dataset::range(6))).out), c.want) << c.name;
  }
}

TEST(RepeatSemantics, EmptyInputRepeatedForeverEnds) {
  EXPECT_TRUE(collect(Dataset::range(0).repeat()).out.empty());
  EXPECT_EQ(Dataset::range(0).repeat().cardinality(), 0);
  EXPECT_EQ(Dataset::range(5).repeat().cardinality(), kInfiniteCardinality);
  EXPECT_EQ(Dataset::range(5).repeat(3).take(7).cardinality(), 7);
}

}  // namespace
}  // namespace stoker
