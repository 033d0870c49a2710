// Machine-readable reports of the `stoker` commands, built with nlohmann-json (never by string
// concatenation): the --log lines of `train`, and the objects `bench --json` and `inspect --json`
// print. Each holds every figure of the matching text report; numbers that are not finite
// (a loss that diverged) become null, as JSON has no NaN. Keys keep the order of the text report
// (ordered_json), which is also the order of the --log lines before they were built this way.
#pragma once

#include <nlohmann/json.hpp>

#include "formats/hdf5_writer.h"
#include "pipeline/stats.h"
#include "trainer/trainer.h"

namespace stoker::cli {

// One epoch (keys: see epoch_json in progress.h).
nlohmann::ordered_json to_json(const EpochReport& r);
// stages (outermost first: name, elements_in, elements_out, skipped, bytes_held, peak_bytes,
// wait_input_s, blocked_output_s), memory_budget, bytes_held, peak_bytes, skipped, errors_seen,
// first_errors.
nlohmann::ordered_json to_json(const PipelineStats& s);
// path, datasets (name, dtype, vlen_bytes, shape, chunk, layout, filters, storage_bytes) and the
// trainable (images, labels) pairs.
nlohmann::ordered_json to_json(const Hdf5FileInfo& info);

}  // namespace stoker::cli
