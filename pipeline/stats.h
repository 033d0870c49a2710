// Per-stage counters of a running pipeline, and the snapshot Iterator::stats() returns.
//
// StageCounters are written by the stage's own threads with relaxed atomics and read by stats()
// from any thread; a snapshot is consistent per field, not across fields. Times are the time a
// stage spent blocked at an asynchronous boundary: waiting for an input to be ready
// (wait_input) or waiting for room downstream / a free output buffer (blocked_output).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace stoker {

struct StageCounters {
  std::string name;
  int ordinal = 0;  // position in creation order; also keys the stage's random streams
  std::atomic<std::uint64_t> elements_in{0};
  std::atomic<std::uint64_t> elements_out{0};
  std::atomic<std::uint64_t> skipped{0};
  std::atomic<std::uint64_t> bulk_rows{0};  // batch stages: rows the input wrote straight into batches
  std::atomic<std::int64_t> bytes_held{0};
  std::atomic<std::int64_t> peak_bytes{0};
  std::atomic<std::uint64_t> wait_input_ns{0};
  std::atomic<std::uint64_t> blocked_output_ns{0};

  void add_bytes(std::int64_t delta);
};

// Adds to a counter that only one thread writes (a stage's element counts: next() is never called
// concurrently). A plain load+store instead of a locked read-modify-write: several of these run
// per element, and readers still see whole values.
inline void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

struct StageStats {
  std::string name;
  std::uint64_t elements_in = 0;
  std::uint64_t elements_out = 0;
  std::uint64_t skipped = 0;
  std::uint64_t bulk_rows = 0;  // batch stages: rows the input wrote straight into batch memory
  std::int64_t bytes_held = 0;
  std::int64_t peak_bytes = 0;
  double wait_input_s = 0;
  double blocked_output_s = 0;
};

struct PipelineStats {
  std::vector<StageStats> stages;  // in creation order: outermost (last) stage first
  std::size_t memory_budget = 0;
  std::size_t bytes_held = 0;  // now, all stages
  std::size_t peak_bytes = 0;  // highest bytes_held since the iterator started
  std::uint64_t skipped = 0;   // elements dropped under ErrorPolicy::kSkip
  std::uint64_t errors_seen = 0;
  std::vector<std::string> first_errors;  // the first Options::max_logged_errors messages

  std::string to_string() const;  // a table, one line per stage
};

}  // namespace stoker
