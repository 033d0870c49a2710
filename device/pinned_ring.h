// PinnedRing: K reusable slots of page-locked host memory that batch() writes batches into.
//
//   auto ring = std::make_shared<stoker::PinnedRing>(PinnedRing::slot_bytes_for(row, 256), 2);
//   auto it = ds.batch(256).prefetch(2).iterator({.batch_allocator = ring});
//
// Each batch is written once, straight into a slot, from which the GPU copies it by DMA. The
// slots are allocated once (one cudaHostAlloc when a CUDA device is present, else 64-byte aligned
// host memory: same code path) and reused; no allocation happens per batch.
//
// Lease protocol. allocate() hands out a free slot as a shared_ptr whose deleter returns it: the
// slot is leased until the last Tensor viewing it is gone, and is never handed out again before.
// When all K slots are leased, allocate() blocks (back-pressure: the pipeline cannot run more
// than K batches ahead of the consumer). It returns nullptr promptly once `cancelled` becomes true:
// a Runtime calls notify_cancelled() right after it sets its flag, which wakes the waiter; a
// caller passing its own flag calls wake_waiters() after setting it (waiters also re-check every
// 50 ms, as a backstop for a caller that forgets).
//
// Lifetime. Leases keep the ring's state (and the slot memory) alive, so the ring may be
// destroyed while batches are still held: the memory is freed when the last lease dies.
// Memory: reserved_bytes() = K * slot_bytes(), charged once to the iterator's budget.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "pipeline/allocator.h"
#include "pipeline/element.h"
#include "pipeline/error.h"

namespace stoker {

enum class RingMemory {
  kAuto,    // pinned when a CUDA device is present, else aligned host memory
  kPinned,  // cudaHostAlloc; throws when CUDA is missing
  kHost,    // 64-byte aligned host memory (tests; CPU-only training)
};

struct RingStats {
  std::size_t num_slots = 0;
  std::size_t slot_bytes = 0;
  bool pinned = false;
  std::size_t leased = 0;           // slots leased now
  std::size_t peak_leased = 0;
  std::uint64_t leases = 0;         // allocate() calls that returned a slot
  std::uint64_t waits = 0;          // of which had to wait for a free slot
  double wait_s = 0;                // total time allocate() waited for a free slot (back-pressure)
  std::uint64_t cancelled = 0;      // allocate() calls that returned nullptr on cancellation
};

namespace detail {
struct RingState;
}

class PinnedRing final : public BufferAllocator {
 public:
  static constexpr std::size_t kAlign = 64;

  // slot_bytes is rounded up to a multiple of kAlign. num_slots >= 1 (2: double buffering).
  // backstop_poll: how often a blocked allocate() re-checks its flag without being woken.
  explicit PinnedRing(std::size_t slot_bytes, std::size_t num_slots = 2, RingMemory memory = RingMemory::kAuto,
                      std::chrono::milliseconds backstop_poll = std::chrono::milliseconds(50));
  ~PinnedRing() override;
  PinnedRing(const PinnedRing&) = delete;
  PinnedRing& operator=(const PinnedRing&) = delete;

  // Blocks while every slot is leased; nullptr once `cancelled`. Throws kOutOfMemory when `bytes`
  // exceeds slot_bytes() (the message gives both numbers).
  std::shared_ptr<std::byte> allocate(std::size_t bytes, const std::atomic<bool>& cancelled) override;
  std::size_t reserved_bytes() const override;
  void notify_cancelled() noexcept override { wake_waiters(); }
  // Wakes every allocate() waiting for a slot so it re-checks its cancelled flag.
  void wake_waiters() noexcept;

  std::size_t slot_bytes() const;
  std::size_t num_slots() const;
  bool pinned() const;
  std::size_t leased() const;
  RingStats stats() const;

  // Slot bytes batch(batch_size) needs for elements shaped like `row` (the batch stage's layout:
  // each component padded to kAlign bytes).
  static std::size_t slot_bytes_for(const Element& row, std::int64_t batch_size);

 private:
  std::shared_ptr<detail::RingState> state_;
};

}  // namespace stoker
