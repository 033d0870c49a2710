// Internal helpers shared by the stage implementations (not part of the public API).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <string>

#include "pipeline/error.h"
#include "pipeline/node.h"
#include "pipeline/runtime.h"

namespace stoker::detail {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

// Base of the stage iterators: the context, this stage's counters and its runtime.
class StageIterator : public IteratorNode {
 protected:
  StageIterator(const IterationContext& ctx, const DatasetNode* node)
      : ctx_(ctx), rt_(*ctx.runtime), counters_(rt_.counters(node, node->name())) {}

  IterationContext ctx_;
  Runtime& rt_;
  StageCounters& counters_;
};

// The exception in flight as a stoker::Error with `context` filled where unset; a foreign
// exception from user code becomes kInvalidArgument carrying its what().
Error current_error_as(const ErrorContext& context);

// input.next(out), setting `saw_error` if it throws (the exception propagates).
inline bool next_noting_error(IteratorNode& input, Element& out, bool& saw_error) {
  try {
    return input.next(out);
  } catch (...) {
    saw_error = true;
    throw;
  }
}

// Default seed of a random stage: Options::seed mixed with the stage position, so two random
// stages never draw the same stream.
std::uint64_t stage_seed(const Runtime& rt, const StageCounters& counters);

}  // namespace stoker::detail
