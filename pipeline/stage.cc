// Internal stage helpers.
#include "pipeline/stage.h"

#include <sys/stat.h>

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

namespace stoker {

std::string file_stamp(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return path + " missing";
  const long long ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return path + " size=" + std::to_string(st.st_size) + " mtime=" + std::to_string(ns);
}

}  // namespace stoker
