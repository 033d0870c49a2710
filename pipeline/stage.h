// Internal helpers shared by the stage implementations (not part of the public API).
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>

#include "pipeline/clock.h"
#include "pipeline/error.h"
#include "pipeline/node.h"
#include "pipeline/runtime.h"

namespace stoker::detail {

using ::stoker::now_ns;  // pipeline/clock.h

// Base of the stage iterators: the context, this stage's counters and its runtime.
class StageIterator : public IteratorNode {
 protected:
  StageIterator(const IterationContext& ctx, const DatasetNode* node)
      : ctx_(ctx), rt_(*ctx.runtime), counters_(rt_.counters(node, node->name())) {
    if (std::string why = node->cannot_restore(); !why.empty()) rt_.note_cannot_restore("'" + node->name() + "': " + why);
  }

  IterationContext ctx_;
  Runtime& rt_;
  StageCounters& counters_;
};

// ThreadSanitizer cannot see libtbb's own synchronisation (libtbb is not instrumented), so it would
// report everything handed to a task as racing. These mark the hand-off explicitly; no-ops in
// other builds. (The copy of the task functor inside TBB's headers is suppressed in tsan.supp.)
#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
inline void tsan_acquire(void* addr) { __tsan_acquire(addr); }
inline void tsan_release(void* addr) { __tsan_release(addr); }
// Reads `p`, a pointer captured in a functor that TBB copied into its task on the submitting
// thread: TBB orders that copy before the task runs, which TSan cannot see, and once the copy's
// stack has left TSan's history the enqueue_task suppression no longer matches.
template <class T>
T* tsan_read_captured(T* const& p) {
  AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
  T* v = p;
  AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  return v;
}
#else
inline void tsan_acquire(void*) {}
inline void tsan_release(void*) {}
template <class T>
T* tsan_read_captured(T* const& p) { return p; }
#endif

// Runs `f` on the runtime's arena: everything the caller wrote before submit() happens-before f.
// `f` is destroyed on the worker right after it runs; the arena rule (runtime.h) still holds:
// f must own nothing that touches the Runtime.
template <class F>
void submit(Runtime& rt, F f) {
  auto* box = new F(std::move(f));
  tsan_release(box);
  rt.arena().enqueue([box] {
    F* mine = tsan_read_captured(box);
    tsan_acquire(mine);
    std::unique_ptr<F> owned(mine);
    (*owned)();
  });
}

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
