// Cancellation: destroying an iterator mid-epoch with slow work in flight finishes every task,
// starts no new one, joins every thread and returns promptly.
#include <atomic>
#include <chrono>
#include <thread>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

struct Probe {
  std::atomic<int> started{0}, finished{0}, running{0};
};

Dataset slow_pipeline(std::shared_ptr<Probe> probe, std::chrono::milliseconds cost) {
  return Dataset::range(1'000'000)
      .map([probe, cost](Element e) {
        probe->started.fetch_add(1);
        probe->running.fetch_add(1);
        std::this_thread::sleep_for(cost);  // stands for slow decode work
        probe->running.fetch_sub(1);
        probe->finished.fetch_add(1);
        return e;
      })
      .batch(4)
      .prefetch(8);
}

TEST(Cancellation, DestroyingMidEpochFinishesInFlightWorkAndStartsNoMore) {
  for (int threads : {1, 2, 8}) {
    auto probe = std::make_shared<Probe>();
    std::chrono::steady_clock::duration took{};
    {
      Iterator it = slow_pipeline(probe, std::chrono::milliseconds(20)).iterator({.num_threads = threads});
      ASSERT_TRUE(it.next());
      ASSERT_TRUE(it.next());
      auto t0 = std::chrono::steady_clock::now();
      it = Iterator(std::move(it));  // moved-from iterators are inert
      {
        Iterator dying = std::move(it);
      }
      took = std::chrono::steady_clock::now() - t0;
    }
    // Everything that started has finished, and nothing starts afterwards.
    EXPECT_EQ(probe->running.load(), 0) << "threads " << threads;
    EXPECT_EQ(probe->started.load(), probe->finished.load());
    int after = probe->started.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(probe->started.load(), after);
    // One element's cost (20 ms) bounds the wait; allow slack for a loaded machine. The 100 ms
    // figure is measured by bench/pipeline_bench (BM_CancelLatency).
    EXPECT_LT(took, std::chrono::seconds(2)) << "threads " << threads;
  }
}

TEST(Cancellation, DestroyingBeforeTheFirstNextDoesNotHang) {
  auto probe = std::make_shared<Probe>();
  { Iterator it = slow_pipeline(probe, std::chrono::milliseconds(5)).iterator({.num_threads = 2}); }
  EXPECT_EQ(probe->running.load(), 0);
}

TEST(Cancellation, NextOnAMovedFromIteratorEnds) {
  Iterator a = Dataset::range(3).iterator();
  Iterator b = std::move(a);
  EXPECT_FALSE(a.next());  // NOLINT(bugprone-use-after-move): documented as inert
  EXPECT_TRUE(b.next());
}

}  // namespace
}  // namespace stoker
