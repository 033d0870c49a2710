// Internal stage helpers.
#include "pipeline/stage.h"

#include "pipeline/rng.h"

namespace stoker::detail {

Error current_error_as(const ErrorContext& context) {
  try {
    throw;
  } catch (const Error& e) {
    return e.with_context(context);
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInvalidArgument, std::string("user function threw: ") + e.what(), context);
  } catch (...) {
    return Error(ErrorCode::kInvalidArgument, "user function threw a non-standard exception", context);
  }
}

std::uint64_t stage_seed(const Runtime& rt, const StageCounters& counters) {
  return mix64(rt.options().seed ^ mix64(static_cast<std::uint64_t>(counters.ordinal) + 1));
}

}  // namespace stoker::detail
