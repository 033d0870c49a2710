// Parallel map: order, errors in order, the skip policy, the in-flight bound, determinism of
// random augmentations across thread counts.
#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::concat;
using testing::Values;

Element times(const Element& e, std::int64_t k) { return Element{Tensor::scalar<std::int64_t>(e[0].item<std::int64_t>() * k)}; }

TEST(MapStage, PreservesOrderForAnyThreadCount) {
  for (int threads : {1, 2, 4, 8}) {
    auto r = collect(Dataset::range(2000).map([](Element e) { return times(e, 2); }), {.num_threads = threads});
    Values all = concat(r.out);
    ASSERT_EQ(all.size(), 2000u);
    for (std::int64_t i = 0; i < 2000; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], 2 * i) << "threads " << threads;
  }
}

TEST(MapStage, ErrorOnElementKSurfacesAfterElementsBeforeIt) {
  for (int threads : {1, 2, 8}) {
    for (std::int64_t k : {0, 1, 37, 999}) {
      Dataset ds = Dataset::range(1000).map([k](Element e) {
        if (e[0].item<std::int64_t>() == k) throw std::runtime_error("bad pixel");
        return e;
      }).prefetch(4);
      Iterator it = ds.iterator({.num_threads = threads});
      auto r = collect(it);
      ASSERT_TRUE(r.error) << "threads " << threads << " k " << k;
      EXPECT_EQ(r.delivered_before_error, static_cast<std::size_t>(k));
      EXPECT_EQ(r.error->context().record, k);
      EXPECT_EQ(r.error->context().stage, "map");
      EXPECT_NE(std::string(r.error->what()).find("bad pixel"), std::string::npos);
      // Continuing after the error delivers everything else, in order.
      Values all = concat(r.out);
      ASSERT_EQ(all.size(), 999u);
      EXPECT_EQ(std::count(all.begin(), all.end(), k), 0);
      EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
    }
  }
}

TEST(MapStage, SkipPolicyCountsAndLogsAndLosesNothingElse) {
  auto bad = [](std::int64_t v) { return v % 10 == 3; };
  Dataset ds = Dataset::range(100).map([bad](Element e) {
    std::int64_t v = e[0].item<std::int64_t>();
    if (bad(v)) throw Error(ErrorCode::kDataLoss, "corrupt record " + std::to_string(v));
    return e;
  });
  Iterator it = ds.iterator({.num_threads = 2, .error_policy = ErrorPolicy::kSkip, .max_logged_errors = 4});
  auto r = collect(it);
  EXPECT_FALSE(r.error);
  Values all = concat(r.out);
  EXPECT_EQ(all.size(), 90u);
  for (std::int64_t v = 0; v < 100; ++v) {
    EXPECT_EQ(std::count(all.begin(), all.end(), v), bad(v) ? 0 : 1);
  }
  PipelineStats s = it.stats();
  EXPECT_EQ(s.skipped, 10u);
  EXPECT_EQ(s.errors_seen, 10u);
  ASSERT_EQ(s.first_errors.size(), 4u);
  EXPECT_NE(s.first_errors[0].find("corrupt record 3"), std::string::npos) << s.first_errors[0];
  EXPECT_NE(s.first_errors[1].find("corrupt record 13"), std::string::npos);
  auto map_stage = std::find_if(s.stages.begin(), s.stages.end(), [](const StageStats& st) { return st.name == "map"; });
  ASSERT_NE(map_stage, s.stages.end());
  EXPECT_EQ(map_stage->skipped, 10u);
}

TEST(MapStage, NeverExceedsMaxInFlight) {
  std::atomic<int> running{0}, peak{0};
  Dataset ds = Dataset::range(400).map(
      [&](Element e) {
        int now = running.fetch_add(1) + 1;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        volatile double x = 0;
        for (int i = 0; i < 20000; ++i) x = x + i;
        running.fetch_sub(1);
        return e;
      },
      {.max_in_flight = 3});
  auto r = collect(ds, {.num_threads = 8});
  EXPECT_EQ(r.out.size(), 400u);
  EXPECT_LE(peak.load(), 3);
}

TEST(MapStage, UnorderedModeDeliversEveryElementOnce) {
  auto r = collect(Dataset::range(3000).map([](Element e) { return e; }, {.deterministic = false}), {.num_threads = 4});
  Values all = concat(r.out);
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), 3000u);
  for (std::int64_t i = 0; i < 3000; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i);
}

// The determinism requirement: same seed, same output for 1, 2 and 8 threads, with a
// random augmentation in the map, shuffles before and after it, and two epochs.
TEST(Determinism, SameSeedSameOutputForOneTwoAndEightThreads) {
  auto make = [] {
    return Dataset::range(600)
        .shuffle(100)
        .map([](Element e, Rng& rng) {
          std::int64_t v = e[0].item<std::int64_t>();
          std::vector<float> pixels(8);
          for (float& p : pixels) p = static_cast<float>(v) + static_cast<float>(rng.uniform(-1, 1));
          if (rng.bernoulli(0.5)) std::reverse(pixels.begin(), pixels.end());  // a random flip
          return Element{Tensor::from_values<float>({8}, std::span<const float>(pixels)), e[0]};
        })
        .shuffle(50)
        .batch(32)
        .repeat(2)
        .prefetch(kAutotune);
  };
  auto run = [&](int threads, std::uint64_t seed) {
    std::vector<Element> out;
    Iterator it = make().iterator({.num_threads = threads, .seed = seed});
    while (auto b = it.next()) out.push_back(*b);
    return out;
  };
  auto one = run(1, 42), two = run(2, 42), eight = run(8, 42), other = run(2, 43);
  ASSERT_EQ(one.size(), 38u);
  EXPECT_TRUE(one == two);
  EXPECT_TRUE(one == eight);
  EXPECT_FALSE(one == other);
}

TEST(MapStage, UserExceptionBecomesInvalidArgumentWithContext) {
  Iterator it = Dataset::range(3).map([](Element) -> Element { throw 42; }).iterator({.num_threads = 1});
  try {
    it.next();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.context().record, 0);
  }
}

}  // namespace
}  // namespace stoker
