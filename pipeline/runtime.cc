// Runtime: arena, budget, counters and the error log of one running pipeline.
#include "pipeline/runtime.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include <oneapi/tbb/global_control.h>

namespace stoker {
namespace {

int resolve_threads(int requested) {
  if (requested > 0) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

// TBB caps its worker pool at hardware_concurrency - 1 by default, which would leave an arena of
// num_threads workers short (on 2 cores: one worker). Raise the process-wide cap to the largest
// arena requested so far (+1 for the thread that submits work); it is never lowered.
void allow_workers(int workers) {
  static std::mutex mu;
  static std::unique_ptr<tbb::global_control> control;
  static int allowed = 0;
  std::lock_guard lock(mu);
  if (workers + 1 <= allowed) return;
  allowed = std::max(workers + 1, static_cast<int>(std::thread::hardware_concurrency()));
  auto next = std::make_unique<tbb::global_control>(tbb::global_control::max_allowed_parallelism,
                                                    static_cast<std::size_t>(allowed));
  control = std::move(next);
}

}  // namespace

Runtime::Runtime(Options options)
    : options_(std::move(options)),
      num_threads_(resolve_threads(options_.num_threads)),
      budget_(options_.memory_budget),
      allocator_(options_.batch_allocator ? options_.batch_allocator : std::make_shared<HeapAllocator>()),
      // No slot reserved for external threads: the stage that submits work waits on its result,
      // so all num_threads slots are for workers.
      arena_((allow_workers(num_threads_), num_threads_), 0) {
  if (std::size_t reserved = allocator_->reserved_bytes()) {
    allocator_charge_ = MemoryCharge(&budget_, nullptr, reserved);
  }
}

Runtime::~Runtime() = default;

StageCounters& Runtime::counters(const void* key, const std::string& name) {
  std::lock_guard lock(mu_);
  auto& slot = counters_[key];
  if (!slot) {
    slot = std::make_unique<StageCounters>();
    slot->name = name;
    slot->ordinal = static_cast<int>(counters_in_order_.size());
    counters_in_order_.push_back(slot.get());
  }
  return *slot;
}

void Runtime::note_cannot_restore(const std::string& stage_and_reason) {
  std::lock_guard lock(mu_);
  if (std::find(cannot_restore_.begin(), cannot_restore_.end(), stage_and_reason) == cannot_restore_.end()) {
    cannot_restore_.push_back(stage_and_reason);
  }
}

std::vector<std::string> Runtime::cannot_restore() const {
  std::lock_guard lock(mu_);
  return cannot_restore_;
}

bool Runtime::skip_error(StageCounters& stage, const Error& error, std::uint64_t rows) {
  const bool skip = options_.error_policy == ErrorPolicy::kSkip;
  const std::uint64_t logged = skip ? rows : 1;
  {
    std::lock_guard lock(mu_);
    errors_seen_ += logged;
    for (std::uint64_t i = 0; i < logged && first_errors_.size() < options_.max_logged_errors; ++i) {
      first_errors_.emplace_back(error.what());
    }
  }
  if (skip) stage.skipped.fetch_add(rows, std::memory_order_relaxed);
  return skip;
}

PipelineStats Runtime::stats() const {
  PipelineStats s;
  std::lock_guard lock(mu_);
  for (const StageCounters* c : counters_in_order_) {
    StageStats st;
    st.name = c->name;
    st.elements_in = c->elements_in.load(std::memory_order_relaxed);
    st.elements_out = c->elements_out.load(std::memory_order_relaxed);
    st.skipped = c->skipped.load(std::memory_order_relaxed);
    st.bulk_rows = c->bulk_rows.load(std::memory_order_relaxed);
    s.skipped += st.skipped;
    st.bytes_held = c->bytes_held.load(std::memory_order_relaxed);
    st.peak_bytes = c->peak_bytes.load(std::memory_order_relaxed);
    st.wait_input_s = static_cast<double>(c->wait_input_ns.load(std::memory_order_relaxed)) * 1e-9;
    st.blocked_output_s = static_cast<double>(c->blocked_output_ns.load(std::memory_order_relaxed)) * 1e-9;
    s.stages.push_back(std::move(st));
  }
  s.memory_budget = budget_.limit();
  s.bytes_held = budget_.used();
  s.peak_bytes = budget_.peak();
  s.errors_seen = errors_seen_;
  s.first_errors = first_errors_;
  return s;
}

std::string PipelineStats::to_string() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %12s %12s %8s %12s %12s %10s %10s\n", "stage", "in", "out",
                "skipped", "bytes", "peak bytes", "wait in s", "blocked s");
  out += line;
  for (const StageStats& s : stages) {
    std::snprintf(line, sizeof line, "%-14s %12llu %12llu %8llu %12lld %12lld %10.3f %10.3f\n", s.name.c_str(),
                  static_cast<unsigned long long>(s.elements_in), static_cast<unsigned long long>(s.elements_out),
                  static_cast<unsigned long long>(s.skipped), static_cast<long long>(s.bytes_held),
                  static_cast<long long>(s.peak_bytes), s.wait_input_s, s.blocked_output_s);
    out += line;
  }
  std::snprintf(line, sizeof line, "memory: %zu held, %zu peak of %zu budget; %llu skipped\n", bytes_held, peak_bytes,
                memory_budget, static_cast<unsigned long long>(skipped));
  out += line;
  return out;
}

}  // namespace stoker
