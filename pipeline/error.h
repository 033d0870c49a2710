// stoker::Error: the one exception type of the library.
//
// An Error carries a code (what kind of failure), a message (what went wrong and, where we can,
// what to do) and a context (the stage, the file or source, and the record index) so that a
// failure deep in a worker thread still tells the user which file and which record was bad.
// Errors raised on workers travel with their element and are rethrown, in order, by
// Iterator::next().
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>

namespace stoker {

enum class ErrorCode {
  kInvalidArgument,  // the caller asked for something malformed (bad shape, bad option)
  kNotFound,         // a file, dataset or key that does not exist
  kIo,               // the OS refused a read or write
  kDataLoss,         // the bytes are there but corrupt or truncated
  kUnsupported,      // valid input we do not handle (a dtype, a filter, a JPEG variant)
  kOutOfMemory,      // a request that cannot fit in the memory we were given
  kCuda,             // a CUDA, cuBLAS or cuDNN call failed
  kCancelled,        // the iterator was destroyed while work was in flight
  kInternal,         // a broken invariant: a bug in stoker
};

const char* error_code_name(ErrorCode code);

// Where an error happened. Every field is optional; what() prints the ones that are set.
struct ErrorContext {
  std::string stage;                   // e.g. "map", "hdf5", "batch"
  std::string source;                  // a file path or source description
  std::optional<std::int64_t> record;  // index of the element/row within its source or stage
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, std::string message, ErrorContext context = {});

  ErrorCode code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  const ErrorContext& context() const noexcept { return context_; }

  // A copy of this error with the context fields that are unset here filled from `outer`.
  Error with_context(const ErrorContext& outer) const;

 private:
  ErrorCode code_;
  std::string message_;
  ErrorContext context_;
};

// An exception_ptr to a NEW copy of the exception being handled (call inside a catch block), for
// a thread that hands the error to another thread. The caught object may still be referenced by
// the throwing side (a stage's buffered item rethrown by std::rethrow_exception); the copy is
// referenced by nothing else, so after the hand-off (under the receiving queue's lock) only the
// receiving thread reads or destroys it. Sharing the original instead leaves its last release to
// whichever thread drops it second, synchronised only by libstdc++'s uninstrumented reference
// count. Error and std::bad_alloc are copied; any other type is passed on as it is.
std::exception_ptr current_error_for_handoff();

}  // namespace stoker
