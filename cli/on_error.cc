// --on-error: the flag and the report of skipped elements (see on_error.h).
#include "cli/on_error.h"

#include <algorithm>

namespace stoker::cli {

ErrorPolicy error_policy_from(const Args& args) {
  return args.get_choice("on-error", {"fail", "skip"}, "fail") == "skip" ? ErrorPolicy::kSkip : ErrorPolicy::kFail;
}

void merge_messages(std::vector<std::string>& into, const std::vector<std::string>& from, std::size_t cap) {
  for (const std::string& m : from) {
    if (into.size() >= cap) return;
    if (std::find(into.begin(), into.end(), m) == into.end()) into.push_back(m);
  }
}

void print_skipped(std::FILE* out, std::uint64_t skipped, const std::vector<std::string>& messages, std::size_t show) {
  if (skipped == 0) return;
  std::fprintf(out, "skipped %llu bad element%s (--on-error skip)%s\n", static_cast<unsigned long long>(skipped),
               skipped == 1 ? "" : "s", messages.empty() ? "" : "; first:");
  const std::size_t n = std::min(show, messages.size());
  for (std::size_t i = 0; i < n; ++i) std::fprintf(out, "  skipped: %s\n", messages[i].c_str());
  if (skipped > n && n > 0) std::fprintf(out, "  ... (%llu more not shown)\n", static_cast<unsigned long long>(skipped - n));
}

void print_jpeg_warnings(std::FILE* out, const JpegDecodeCounts* counts) {
  const std::uint64_t n = counts ? counts->missing_eoi.load(std::memory_order_relaxed) : 0;
  if (n == 0) return;
  std::fprintf(out, "warning: %llu JPEG decode%s of files without an EOI marker (complete scan, decoded as PIL does)\n",
               static_cast<unsigned long long>(n), n == 1 ? "" : "s");
}

}  // namespace stoker::cli
