// BufferAllocator: where batch stages get the memory they write a batch into.
//
// The default allocates aligned heap memory per batch. A pinned ring (device/) hands out slots
// of page-locked memory instead, so a batch is written once, straight into memory the GPU can
// copy from. allocate() may block for back-pressure (every slot leased); it must return nullptr
// promptly once `cancelled` becomes true. The returned storage's deleter gives it back.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

namespace stoker {

class BufferAllocator {
 public:
  virtual ~BufferAllocator() = default;
  virtual std::shared_ptr<std::byte> allocate(std::size_t bytes, const std::atomic<bool>& cancelled) = 0;
  // Bytes held for the allocator's whole life (e.g. a ring's slots), charged to the memory budget
  // once when an iterator starts. Batches from such an allocator are not charged again.
  virtual std::size_t reserved_bytes() const { return 0; }
  // Called by a Runtime right after it set its cancelled flag, from the cancelling thread. An
  // allocator whose allocate() can block must wake its waiters so they re-check their flag (lock
  // the mutex the waiters use before notifying, or the wake-up can be lost). Never throws.
  virtual void notify_cancelled() noexcept {}
};

// 64-byte aligned heap memory, one allocation per batch; a batch of 8 MiB or more is a mapping of
// its own on huge-page boundaries, advised for transparent huge pages and unmapped when freed.
class HeapAllocator final : public BufferAllocator {
 public:
  std::shared_ptr<std::byte> allocate(std::size_t bytes, const std::atomic<bool>& cancelled) override;
  // Whether large batches get their own huge-page mapping (false under AddressSanitizer).
  static bool maps_large_batches();
};

}  // namespace stoker
