// Labeled image data for the `stoker` commands: an HDF5 file (images and labels datasets) or an
// image folder (root/<class>/*.jpg), opened into a pipeline source of (image HWC, label) elements
// plus what the commands need to know up front (rows, sample shape, dtype, classes, bytes).
//
// HDF5: hdf5(path, {images, labels}) with block shuffle when shuffling, then a bounded
// shuffle buffer; labels that are not int32/int64 are cast to int32. Image folders: the (path,
// label) list is shuffled (paths are small), then decode_jpeg resizes every image to one size.
// Nothing here reads the data itself except to find the class count of an HDF5 file (one pass
// over the labels dataset, which is small).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cli/args.h"
#include "formats/jpeg_decode.h"
#include "pipeline/dataset.h"

namespace stoker::cli {

struct DataSpec {
  std::string path;  // HDF5 file or image folder, or several (a glob, @list, a,b: data_files.h)
  std::vector<std::string> paths;  // path expanded (by open_labeled; empty: just `path`)
  std::string images = "/train/images";
  std::string labels = "/train/labels";
  int height = 0, width = 0;  // image folders: output size; 0: the first image's size
  bool gray = false;          // image folders and JPEG datasets: decode to one channel
  bool names_given = false;   // --images or --labels given (else the file's only pair may be used)
  std::array<std::int64_t, 3> shape{0, 0, 0};  // flat HDF5 rows [N,D] viewed as HxWxC (0: 1x1xD)
  int num_threads = 0;        // only for the HDF5 class-count pass
};

// This rank's part of the data in data-parallel training: equal shard `index` of `count`
// (Dataset::shard(count, index, true)). HDF5 reads only its own blocks, of block_rows rows
// (rounded up to whole chunks; 0: the usual size), so every rank drops at most one block a pass.
struct ShardSpec {
  int count = 1, index = 0;
  std::int64_t block_rows = 0;
};

// The data flags `train` and `bench` share: --data, --images, --labels, --size, --gray.
DataSpec data_spec_from(const Args& args);

struct LabeledData {
  std::string kind;         // "hdf5" or "image folder"
  std::string description;  // one line for the user
  std::int64_t rows = 0;
  std::int64_t height = 0, width = 0, channels = 0;
  DType image_dtype = DType::kU8;
  std::size_t row_bytes = 0;        // image + label bytes of one element as it leaves the source
  std::uint64_t disk_bytes = 0;     // bytes on disk (HDF5 storage of both datasets, or file sizes)
  std::vector<std::string> class_names;  // image folders

  // Elements (image [H,W,C] or [H,W], label) in file order when shuffle_buffer == 0, otherwise
  // shuffled (seed from Options, so Trainer::fit reshuffles every epoch).
  std::function<Dataset(std::size_t shuffle_buffer)> make;
  // make() of one shard (rows: make's rows / count, less what equal shards drop).
  std::function<Dataset(std::size_t shuffle_buffer, const ShardSpec& shard)> make_shard;
  // Number of classes: class folders, or max label + 1 (one pass over the HDF5 labels).
  std::function<int()> count_classes;
  // Image folders: JPEGs decoded with a warning (e.g. no EOI marker), counted by decode_jpeg.
  std::shared_ptr<JpegDecodeCounts> jpeg_counts;
};

// True when `path` starts with the HDF5 signature (or has no such file yet and ends in .h5/.hdf5).
bool is_hdf5_path(const std::string& path);

// Opens `spec`; throws UsageError for a missing path or a wrong kind, stoker::Error for a bad file.
LabeledData open_labeled(const DataSpec& spec);

// Refuses (stoker::Error kOutOfMemory) a batch of `batch` rows of `data` larger than the whole
// memory budget, naming the row size, the batch and the budget, before any row is read.
void check_batch_fits(const LabeledData& data, const std::string& source, std::int64_t batch, std::size_t budget);
// Auto shuffle buffer: all rows when they fit in a quarter of `budget`, else as many as do
// (at least 1).
std::size_t auto_shuffle_buffer(const LabeledData& data, std::size_t budget);

std::string format_bytes(double bytes);  // "12.3 MiB"

// A trace recorder for --trace PATH, with the calling thread's track named `thread_name`; a
// UsageError when PATH cannot be written (checked now, not after the run).
std::shared_ptr<TraceRecorder> start_trace(const std::string& path, const std::string& thread_name);
// Writes the trace to `path` and prints where it went (to stdout unless `quiet`).
void finish_trace(const TraceRecorder& trace, const std::string& path, bool quiet);

}  // namespace stoker::cli
