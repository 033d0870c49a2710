// Formatting of stoker::Error: "[DataLoss] hdf5 'a.h5' record 12: message".
#include "pipeline/error.h"

#include <new>

namespace stoker {
namespace {

std::string format(ErrorCode code, const std::string& message, const ErrorContext& c) {
  std::string s = "[";
  s += error_code_name(code);
  s += "]";
  if (!c.stage.empty()) s += " stage '" + c.stage + "'";
  if (!c.source.empty()) s += " in '" + c.source + "'";
  if (c.record) s += " at record " + std::to_string(*c.record);
  s += ": ";
  s += message;
  return s;
}

}  // namespace

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kNotFound: return "NotFound";
    case ErrorCode::kIo: return "Io";
    case ErrorCode::kDataLoss: return "DataLoss";
    case ErrorCode::kUnsupported: return "Unsupported";
    case ErrorCode::kOutOfMemory: return "OutOfMemory";
    case ErrorCode::kCuda: return "Cuda";
    case ErrorCode::kCancelled: return "Cancelled";
    case ErrorCode::kInternal: return "Internal";
  }
  return "Unknown";
}

Error::Error(ErrorCode code, std::string message, ErrorContext context)
    : std::runtime_error(format(code, message, context)),
      code_(code),
      message_(std::move(message)),
      context_(std::move(context)) {}

Error Error::with_context(const ErrorContext& outer) const {
  ErrorContext c = context_;
  if (c.stage.empty()) c.stage = outer.stage;
  if (c.source.empty()) c.source = outer.source;
  if (!c.record) c.record = outer.record;
  return Error(code_, message_, std::move(c));
}

std::exception_ptr current_error_for_handoff() {
  try {
    throw;
  } catch (const Error& e) {
    return std::make_exception_ptr(Error(e));
  } catch (const std::bad_alloc&) {
    return std::make_exception_ptr(std::bad_alloc());
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace stoker
