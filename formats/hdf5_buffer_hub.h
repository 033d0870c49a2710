// BufferHub: the HDF5 source's block buffers, recycled per size, and their leases in zero-copy mode
// (formats/hdf5_source.cc). Internal to the source; not installed API.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "pipeline/memory_budget.h"
#include "pipeline/stats.h"
#include "pipeline/tensor.h"

namespace stoker::detail {

// Free list and leases of block buffers; shared with the deleters of leased buffers, which may run
// on any thread, after the iterator is gone.
class BufferHub : public std::enable_shared_from_this<BufferHub> {
 public:
  BufferHub(MemoryBudget* budget, StageCounters* counters, std::size_t max_free)
      : budget_(budget), counters_(counters), max_free_(max_free) {}

  // A buffer of `bytes`; leased: charged until its last reference is dropped.
  std::shared_ptr<std::byte> take(std::size_t bytes, bool leased) {
    std::shared_ptr<std::byte> raw;
    {
      std::lock_guard lock(mu_);
      auto& list = free_[bytes];
      if (!list.empty()) {
        raw = std::move(list.back());
        list.pop_back();
      }
      if (leased) {
        outstanding_ += bytes;
        budget_->charge(bytes);
        counters_->add_bytes(static_cast<std::int64_t>(bytes));
      }
    }
    if (!raw) raw = allocate_aligned(bytes);
    if (!leased) return raw;
    std::byte* p = raw.get();
    return std::shared_ptr<std::byte>(p, [hub = shared_from_this(), raw = std::move(raw), bytes](std::byte*) mutable {
      hub->give_back(std::move(raw), bytes, true);
    });
  }

  void give_back(std::shared_ptr<std::byte> raw, std::size_t bytes, bool leased) {
    std::lock_guard lock(mu_);
    if (leased && !detached_) {
      outstanding_ -= bytes;
      budget_->release(bytes);
      counters_->add_bytes(-static_cast<std::int64_t>(bytes));
    }
    auto& list = free_[bytes];
    if (!detached_ && list.size() < max_free_) list.push_back(std::move(raw));
  }

  void clear_free() {
    std::lock_guard lock(mu_);
    free_.clear();
  }

  // The iterator is going away: stop charging the Runtime's budget (leases still out are freed
  // when their rows die, without accounting).
  void detach() {
    std::lock_guard lock(mu_);
    if (detached_) return;
    budget_->release(outstanding_);
    counters_->add_bytes(-static_cast<std::int64_t>(outstanding_));
    outstanding_ = 0;
    detached_ = true;
    free_.clear();
  }

 private:
  std::mutex mu_;
  MemoryBudget* budget_;
  StageCounters* counters_;
  std::size_t max_free_;
  std::size_t outstanding_ = 0;
  bool detached_ = false;
  std::map<std::size_t, std::vector<std::shared_ptr<std::byte>>> free_;
};

}  // namespace stoker::detail
