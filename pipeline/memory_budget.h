// MemoryBudget and MemoryCharge: the one byte budget shared by every buffer of a running pipeline.
//
// Invariant: budget.used() is the sum of the live MemoryCharges of all stages (plus the bytes an
// allocator reserves up front, e.g. a pinned ring). Stages that buffer *optionally* ask before
// taking on more, and wait, shrink or spill otherwise:
//  - greedy buffers that would fill any amount (shuffle buffer, in-memory cache) ask
//    has_room_for_buffer(): they stop at 3/4 of the limit, leaving a quarter for streaming;
//  - streaming buffers ask has_room() and keep to a share: the map window under 1/8 of the
//    limit, the prefetch queue under 1/4; so greedy buffers always get at least 3/8 of it.
// A stage may always hold the one element, chunk (<= limit/16) or batch it needs to make
// progress, so the bound is: peak <= limit + (number of buffering stages) x (largest element or
// batch), and in practice peak <= limit whenever a batch is under a quarter of it. Stats report
// the peak so the bound can be checked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "pipeline/error.h"

namespace stoker {

struct StageCounters;

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t limit) : limit_(limit) {}

  std::size_t limit() const { return limit_; }
  std::size_t used() const { return used_.load(std::memory_order_relaxed); }
  std::size_t peak() const { return peak_.load(std::memory_order_relaxed); }
  bool has_room(std::size_t bytes) const { return used() + bytes <= limit_; }
  bool has_room_for_buffer(std::size_t bytes) const { return used() + bytes <= limit_ - limit_ / 4; }
  // One unit (an element, a block, a batch) larger than the whole budget can never be held within
  // it: callers check fits() before allocating it and otherwise refuse(), which throws
  // kOutOfMemory naming `what`, its size and the budget. (Two calls, so the hot path builds no
  // message.)
  bool fits(std::size_t bytes) const { return bytes <= limit_; }
  [[noreturn]] void refuse(std::size_t bytes, const std::string& what, const ErrorContext& where) const;
  // "12.3 MiB" (powers of 1024), for messages.
  static std::string format_bytes(double bytes);

  void charge(std::size_t bytes);
  void release(std::size_t bytes);

 private:
  std::size_t limit_;
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> peak_{0};
};

// Bytes held by one stage, charged to the budget and to the stage's counters for as long as the
// charge lives. Move-only.
class MemoryCharge {
 public:
  MemoryCharge() = default;
  MemoryCharge(MemoryBudget* budget, StageCounters* stage, std::size_t bytes);
  MemoryCharge(MemoryCharge&& o) noexcept { *this = std::move(o); }
  MemoryCharge& operator=(MemoryCharge&& o) noexcept;
  MemoryCharge(const MemoryCharge&) = delete;
  MemoryCharge& operator=(const MemoryCharge&) = delete;
  ~MemoryCharge() { reset(); }

  std::size_t bytes() const { return bytes_; }
  void reset();

 private:
  MemoryBudget* budget_ = nullptr;
  StageCounters* stage_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace stoker
