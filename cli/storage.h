// Output helpers shared by `convert` and `make-dataset`: the HDF5 storage flags (--chunk-rows,
// --deflate, --shuffle-filter), class folder names, and writing files of an image folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cli/args.h"
#include "formats/hdf5_writer.h"
#include "pipeline/dataset.h"

namespace stoker::cli {

// Reads --chunk-rows (default: about 1 MiB of rows of `row_bytes`), --deflate 0-9, --shuffle-filter.
Hdf5DatasetOptions hdf5_storage(const Args& args, std::size_t row_bytes);

// Rows per write block: whole chunks, about 4 MiB.
std::int64_t write_block_rows(const Hdf5DatasetOptions& storage, std::size_t row_bytes);

// Creates `images` (uint8, rows shaped `row`) and `labels` (int32) and appends every (image, label)
// of `ds` in write blocks, streaming through a 256 MiB pipeline; returns the rows written.
// `policy` kSkip drops bad elements; `stats` (if set) receives the pipeline's stats at the end
// (skipped count and the first 100 messages).
std::int64_t write_labeled_images(Hdf5Writer& w, const std::string& images, const std::string& labels, const Dataset& ds,
                                  const Shape& row, const Hdf5DatasetOptions& storage, int threads,
                                  ErrorPolicy policy = ErrorPolicy::kFail, PipelineStats* stats = nullptr);

// "3" for 10 classes, "03" for 12: zero-padded so a folder listing sorts classes by label.
std::string class_dir_name(int label, int classes);

// Creates `path` (and parents); a UsageError if it exists and is not an empty folder.
void prepare_output_folder(const std::string& path, const std::string& what);

// Writes `bytes` to `path`; stoker::Error(kIo) naming the file on failure.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

}  // namespace stoker::cli
