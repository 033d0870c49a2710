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

// An output folder published whole: files are written under dir(), a hidden sibling
// "<parent>/.<name>.tmp-<pid>", which commit() renames to `path`; destroyed uncommitted (an
// error), the staging folder is removed, so a failed run leaves no partial folder at `path`.
// A UsageError at construction if `path` exists and is not an empty folder. Files are not fsynced
// one by one (thousands of JPEGs): the folder is complete when it appears, durable after a sync.
class StagedFolder {
 public:
  StagedFolder(const std::string& path, const std::string& what);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;
  const std::string& dir() const { return staging_; }
  // Renames dir() to the path (replacing an empty folder there). On failure throws kIo naming
  // both and keeps dir() (the written files are not thrown away).
  void commit();

 private:
  std::string path_, staging_, what_;
  bool committed_ = false;
};

// A UsageError naming both if output `out` (flag, path) is the same file as one of `inputs`
// (pipeline/atomic_file.h same_file: same inode, or the same normalized path); empty paths ignored.
struct FlagPath {
  std::string flag, path;
};
void refuse_output_over_input(const FlagPath& out, const std::vector<FlagPath>& inputs);

// Writes `bytes` to `path`; stoker::Error(kIo) naming the file on failure.
void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes);

}  // namespace stoker::cli
