// Runtime: what every stage of one running Iterator shares.
//
// Owns the TBB arena (the only place parallel work runs, sized by Options::num_threads), the
// memory budget, the cancellation flag, the per-stage counters and per-iterator stage state
// (e.g. a cache's contents, which must outlive the stage iterators that repeat() re-creates
// each epoch). Outlives every IteratorNode of its Iterator.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <oneapi/tbb/task_arena.h>

#include "pipeline/error.h"
#include "pipeline/memory_budget.h"
#include "pipeline/options.h"
#include "pipeline/stats.h"

namespace stoker {

class Runtime {
 public:
  explicit Runtime(Options options);
  ~Runtime();

  const Options& options() const { return options_; }
  int num_threads() const { return num_threads_; }
  // Where all parallel work runs. Rule for tasks enqueued here: their functor must own nothing
  // that touches this Runtime when destroyed (MemoryCharges, counters): TBB destroys a functor
  // after it returns, which may be after the stage that waited for it, and the Runtime, are gone.
  // Borrow such state by pointer from the stage, which waits for its tasks before it dies.
  tbb::task_arena& arena() { return arena_; }
  MemoryBudget& budget() { return budget_; }
  BufferAllocator& batch_allocator() { return *allocator_; }
  // Null unless Options::trace is set; stages record spans only when it is not null.
  TraceRecorder* trace() const { return options_.trace.get(); }
  bool allocator_reserved() const { return allocator_charge_.bytes() > 0; }

  const std::atomic<bool>& cancelled() const { return cancelled_; }
  // Sets the flag, then wakes an allocate() blocked on it (e.g. a pinned ring with every slot leased).
  void cancel() {
    cancelled_.store(true);
    allocator_->notify_cancelled();
  }
  bool is_cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

  // The counters of the stage described by `key` (its DatasetNode); created on first use, stable
  // for the Runtime's life, so a stage re-created each epoch keeps counting into the same place.
  StageCounters& counters(const void* key, const std::string& name);

  // Per-iterator state of the stage `key`, created by `make` on first use.
  template <class T, class Make>
  std::shared_ptr<T> state(const void* key, Make make) {
    std::lock_guard lock(mu_);
    auto& slot = state_[key];
    if (!slot) slot = make();
    return std::static_pointer_cast<T>(slot);
  }

  // Applies the error policy to `error` raised by `stage`, which loses `rows` elements (e.g. a bad
  // HDF5 chunk). Returns true when they must be skipped (ErrorPolicy::kSkip: each counted and
  // logged); false when the caller must throw it (logged once).
  bool skip_error(StageCounters& stage, const Error& error, std::uint64_t rows = 1);
  // Errors seen so far by skip_error() (skipped or not), by every stage of this runtime.
  std::uint64_t errors_seen() const {
    std::lock_guard lock(mu_);
    return errors_seen_;
  }

  PipelineStats stats() const;

  // Stages that Iterator::save() must refuse, with the reason (recorded once each).
  void note_cannot_restore(const std::string& stage_and_reason);
  std::vector<std::string> cannot_restore() const;

 private:
  Options options_;
  int num_threads_;
  MemoryBudget budget_;
  std::shared_ptr<BufferAllocator> allocator_;
  MemoryCharge allocator_charge_;
  std::atomic<bool> cancelled_{false};
  tbb::task_arena arena_;

  mutable std::mutex mu_;
  std::map<const void*, std::unique_ptr<StageCounters>> counters_;
  std::vector<StageCounters*> counters_in_order_;
  std::map<const void*, std::shared_ptr<void>> state_;
  std::uint64_t errors_seen_ = 0;
  std::vector<std::string> first_errors_;
  std::vector<std::string> cannot_restore_;
};

}  // namespace stoker
