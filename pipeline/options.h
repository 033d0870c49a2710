// Options: how an Iterator runs a Dataset (threads, memory, seed, error policy, batch memory).
// The Dataset describes *what*; Options say *how*, so one description runs anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "pipeline/allocator.h"
#include "pipeline/trace.h"

namespace stoker {

enum class ErrorPolicy {
  kFail,  // a bad element raises stoker::Error from next(), in order
  kSkip,  // a bad element is dropped, counted in stats().skipped and its message logged
};

struct Options {
  // Threads for all parallel work (TBB arena size). 0: all cores.
  int num_threads = 0;
  // Bytes for every buffer the pipeline holds: queues, shuffle buffer, cache, batch memory.
  std::size_t memory_budget = std::size_t{1} << 30;
  // Seed of every random stage that was not given its own seed.
  std::uint64_t seed = 0;
  ErrorPolicy error_policy = ErrorPolicy::kFail;
  std::size_t max_logged_errors = 16;
  // Memory batches are written into; null: 64-byte aligned heap memory.
  std::shared_ptr<BufferAllocator> batch_allocator;
  // Timeline of the run's work and waits (pipeline/trace.h); null: not traced, at no cost.
  std::shared_ptr<TraceRecorder> trace;
};

}  // namespace stoker
