// --on-error fail|skip for `train`, `bench` and `convert`: what a bad element (a truncated JPEG,
// a corrupt HDF5 chunk, a cut idx record) does to the run, and how skipped ones are reported.
// fail (default): the first bad element ends the command with exit code 1 and its message (file,
// record). skip: the pipeline drops it (ErrorPolicy::kSkip), the run completes, and the count and
// the first messages are printed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/args.h"
#include "formats/jpeg_decode.h"
#include "pipeline/options.h"

namespace stoker::cli {

// Reads --on-error (a UsageError for anything but fail|skip).
ErrorPolicy error_policy_from(const Args& args);

// Adds the messages of `from` not yet in `into`, keeping at most `cap` (the same bad file is
// reported again every epoch).
void merge_messages(std::vector<std::string>& into, const std::vector<std::string>& from, std::size_t cap);

// "skipped N bad element(s) (--on-error skip)" and then the first `show` messages, one per line
// ("  skipped: <message>"), and "  ... and M more" when the count is larger. Nothing when 0.
void print_skipped(std::FILE* out, std::uint64_t skipped, const std::vector<std::string>& messages, std::size_t show);

// "N JPEG file(s) had no EOI marker ..." when `counts` counted any; nothing otherwise.
void print_jpeg_warnings(std::FILE* out, const JpegDecodeCounts* counts);

}  // namespace stoker::cli
