// PinnedRing: the lease protocol, back-pressure, cancellation and a real pipeline writing into
// the ring. Host memory (RingMemory::kHost) so every test runs without a GPU; the same code path
// serves pinned slots.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "device/pinned_ring.h"
#include "pipeline/dataset.h"
#include "tests/device/device_test_util.h"

namespace stoker {
namespace {

using namespace std::chrono_literals;

// Spins (yielding) until `cond` holds; fails the test after 10 s instead of hanging.
template <class F>
bool eventually(F cond) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(PinnedRing, LeasesDistinctSlotsAndReusesReleasedOnes) {
  PinnedRing ring(1000, 3, RingMemory::kHost);
  EXPECT_EQ(ring.slot_bytes(), 1024u);  // rounded up to 64
  EXPECT_EQ(ring.reserved_bytes(), 3u * 1024u);
  EXPECT_FALSE(ring.pinned());
  std::atomic<bool> cancelled{false};
  auto a = ring.allocate(1000, cancelled);
  auto b = ring.allocate(10, cancelled);
  auto c = ring.allocate(0, cancelled);
  std::set<std::byte*> ptrs{a.get(), b.get(), c.get()};
  EXPECT_EQ(ptrs.size(), 3u);
  for (std::byte* p : ptrs) EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 64, 0u);
  EXPECT_EQ(ring.leased(), 3u);
  std::byte* freed = b.get();
  b.reset();
  EXPECT_EQ(ring.leased(), 2u);
  auto d = ring.allocate(1, cancelled);
  EXPECT_EQ(d.get(), freed);  // the only free slot
  // A copy of a lease is the same lease: the slot returns when the last copy dies.
  auto d2 = d;
  d.reset();
  EXPECT_EQ(ring.leased(), 3u);
  d2.reset();
  EXPECT_EQ(ring.leased(), 2u);
  RingStats s = ring.stats();
  EXPECT_EQ(s.leases, 4u);
  EXPECT_EQ(s.peak_leased, 3u);
  EXPECT_EQ(s.waits, 0u);
}

TEST(PinnedRing, RejectsBatchLargerThanSlotNamingBothSizes) {
  PinnedRing ring(4096, 2, RingMemory::kHost);
  std::atomic<bool> cancelled{false};
  try {
    ring.allocate(5000, cancelled);
    FAIL() << "expected kOutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    EXPECT_NE(e.message().find("5000"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("4096"), std::string::npos) << e.message();
  }
  EXPECT_EQ(ring.leased(), 0u);
}

TEST(PinnedRing, RejectsEmptyRing) {
  EXPECT_THROW(PinnedRing(0, 2, RingMemory::kHost), Error);
  EXPECT_THROW(PinnedRing(64, 0, RingMemory::kHost), Error);
}

TEST(PinnedRing, ProducerBlocksWhenAllLeasedAndResumesOnRelease) {
  PinnedRing ring(256, 2, RingMemory::kHost);
  std::atomic<bool> cancelled{false};
  auto a = ring.allocate(256, cancelled);
  auto b = ring.allocate(256, cancelled);
  std::atomic<bool> returned{false};
  std::shared_ptr<std::byte> got;
  std::thread producer([&] {
    got = ring.allocate(256, cancelled);
    returned = true;
  });
  // The producer has entered the wait (counted under the ring's lock before blocking).
  ASSERT_TRUE(eventually([&] { return ring.stats().waits == 1; }));
  EXPECT_FALSE(returned.load());
  std::byte* slot_b = b.get();
  b.reset();  // release one lease: the producer takes exactly that slot
  producer.join();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(got.get(), slot_b);
  EXPECT_EQ(ring.leased(), 2u);
  EXPECT_GT(ring.stats().wait_s, 0.0);
}

TEST(PinnedRing, CancellationWakesABlockedAllocate) {
  // A backstop poll of an hour: only the wake-up can end the wait.
  PinnedRing ring(256, 1, RingMemory::kHost, std::chrono::hours(1));
  std::atomic<bool> cancelled{false};
  auto a = ring.allocate(1, cancelled);
  std::shared_ptr<std::byte> got = a;  // non-null sentinel
  std::thread producer([&] { got = ring.allocate(1, cancelled); });
  ASSERT_TRUE(eventually([&] { return ring.stats().waits == 1; }));
  cancelled = true;
  ring.notify_cancelled();
  producer.join();
  EXPECT_EQ(got, nullptr);
  EXPECT_EQ(ring.stats().cancelled, 1u);
  EXPECT_EQ(ring.leased(), 1u);  // the cancelled call took nothing
}

TEST(PinnedRing, AlreadyCancelledReturnsNullWithoutBlocking) {
  PinnedRing ring(256, 1, RingMemory::kHost, std::chrono::hours(1));
  std::atomic<bool> cancelled{true};
  auto a = ring.allocate(1, cancelled);
  EXPECT_EQ(a, nullptr);
}

TEST(PinnedRing, LeaseOutlivesTheRing) {
  std::shared_ptr<std::byte> lease;
  {
    PinnedRing ring(128, 2, RingMemory::kHost);
    std::atomic<bool> cancelled{false};
    lease = ring.allocate(128, cancelled);
  }
  std::memset(lease.get(), 0xAB, 128);  // still valid memory (ASan would flag a use after free)
  EXPECT_EQ(static_cast<unsigned char>(lease.get()[127]), 0xAB);
  lease.reset();  // frees the slot memory
}

TEST(PinnedRing, SlotBytesForMatchesTheBatchLayout) {
  Element row{Tensor::scalar<std::int64_t>(1), Tensor(DType::kF32, Shape{3, 5})};
  // 8 x int64 = 64 bytes; 8 x 60 = 480 -> 512.
  EXPECT_EQ(PinnedRing::slot_bytes_for(row, 8), 64u + 512u);
  EXPECT_THROW(PinnedRing::slot_bytes_for(row, 0), Error);
}

using testing::pair_slot_bytes;
using testing::pairs;

TEST(PinnedRingPipeline, BatchesEqualHeapBatches) {
  for (bool prefetch : {false, true}) {
    Dataset ds = pairs(53).batch(8);
    if (prefetch) ds = ds.prefetch(2);
    auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(8), 3, RingMemory::kHost);
    auto heap_it = ds.iterator({.num_threads = 2});
    auto ring_it = ds.iterator({.num_threads = 2, .batch_allocator = ring});
    int n = 0;
    for (;;) {
      auto h = heap_it.next();
      auto r = ring_it.next();
      ASSERT_EQ(h.has_value(), r.has_value());
      if (!h) break;
      EXPECT_EQ(*h, *r) << "batch " << n;
      EXPECT_GE(ring->leased(), 1u);  // *r lives in a slot
      ++n;
    }
    EXPECT_EQ(n, 7);  // 6 full batches and one of 5
    EXPECT_EQ(ring->stats().leases, 7u);
  }
}

TEST(PinnedRingPipeline, ReservedSlotsAreChargedToTheBudgetOnce) {
  auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(8), 2, RingMemory::kHost);
  auto it = pairs(40).batch(8).iterator({.num_threads = 1, .batch_allocator = ring});
  while (it.next()) {
  }
  PipelineStats s = it.stats();
  EXPECT_GE(s.peak_bytes, ring->reserved_bytes());
  // After the run only the ring's reservation is held: batches in slots were never charged (or
  // their charge would have been released here too, but the batch stage's own counter shows 0).
  EXPECT_EQ(s.bytes_held, ring->reserved_bytes()) << s.to_string();
  for (const StageStats& st : s.stages) {
    if (st.name == "batch") {
      EXPECT_EQ(st.peak_bytes, 0) << s.to_string();
    }
  }
}

TEST(PinnedRingPipeline, SlotTooSmallFailsWithOutOfMemory) {
  auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(8) - 64, 2, RingMemory::kHost);
  auto it = pairs(16).batch(8).iterator({.num_threads = 1, .batch_allocator = ring});
  try {
    it.next();
    FAIL() << "expected kOutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory) << e.what();
  }
}

TEST(PinnedRingPipeline, DestroyingTheIteratorWhileTheConsumerHoldsEverySlotNeitherHangsNorLeaks) {
  // Only the cancellation wake-up can unblock the producer (backstop poll of an hour).
  auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(4), 2, RingMemory::kHost, std::chrono::hours(1));
  std::vector<Element> held;
  {
    auto it = pairs(1000).batch(4).prefetch(2).iterator({.num_threads = 2, .batch_allocator = ring});
    held.push_back(*it.next());
    held.push_back(*it.next());
    // The prefetch thread now wants a third slot and blocks.
    ASSERT_TRUE(eventually([&] { return ring->stats().waits >= 1 && ring->leased() == 2; }));
  }  // destroying the iterator cancels: the blocked allocate returns, the producer exits
  EXPECT_EQ(ring->leased(), 2u);  // the consumer's batches are still valid
  EXPECT_EQ(held[1][0].data_as<std::int64_t>()[0], 4);
  EXPECT_EQ(held[1][1].data_as<float>()[15], 500.0f);  // element 5, first value
  EXPECT_EQ(ring->stats().cancelled, 1u);
  held.clear();
  EXPECT_EQ(ring->leased(), 0u);
}

TEST(PinnedRingPipeline, ConsumerHoldingBatchesThrottlesTheProducer) {
  auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(4), 3, RingMemory::kHost);
  auto it = pairs(400).batch(4).prefetch(8).iterator({.num_threads = 2, .batch_allocator = ring});
  std::int64_t expect = 0;
  while (auto b = it.next()) {
    EXPECT_LE(ring->leased(), 3u);
    for (int r = 0; r < (*b)[0].shape()[0]; ++r) EXPECT_EQ((*b)[0].data_as<std::int64_t>()[r], expect++);
  }
  EXPECT_EQ(expect, 400);
  EXPECT_LE(ring->stats().peak_leased, 3u);
  EXPECT_EQ(ring->leased(), 0u);
}

}  // namespace
}  // namespace stoker
