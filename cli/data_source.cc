// Opening labeled data for the commands (see data_source.h).
#include "cli/data_source.h"

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "cli/args.h"
#include "cli/data_files.h"
#include "cli/hdf5_layout.h"
#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_decode.h"
#include "pipeline/checked_size.h"
#include "pipeline/error.h"
#include "pipeline/memory_budget.h"

namespace stoker::cli {

DataSpec data_spec_from(const Args& args) {
  DataSpec spec;
  spec.path = args.require("data");
  spec.names_given = args.has("images") || args.has("labels");
  spec.images = args.get("images", spec.images);
  spec.labels = args.get("labels", spec.labels);
  std::tie(spec.height, spec.width) = args.get_size("size");
  if (auto shape = args.get("shape")) spec.shape = parse_hwc(*shape, "shape");
  spec.gray = args.get_bool("gray");
  return spec;
}
namespace fs = std::filesystem;

namespace {


// Several image folders as one: classes are the union of their class folder names (sorted), so
// part1/cat and part2/cat are one class.
ImageFolderListing list_image_folders(const std::vector<std::string>& roots) {
  if (roots.size() == 1) return list_image_folder(roots[0]);
  std::vector<ImageFolderListing> parts;
  std::map<std::string, std::int32_t> classes;
  for (const std::string& r : roots) {
    parts.push_back(list_image_folder(r));
    for (const std::string& c : parts.back().classes) classes.emplace(c, 0);
  }
  ImageFolderListing all;
  for (auto& [name, index] : classes) {
    index = static_cast<std::int32_t>(all.classes.size());
    all.classes.push_back(name);
  }
  for (const ImageFolderListing& p : parts) {
    for (std::size_t i = 0; i < p.paths.size(); ++i) {
      all.paths.push_back(p.paths[i]);
      all.labels.push_back(classes.at(p.classes[static_cast<std::size_t>(p.labels[i])]));
    }
  }
  return all;
}

LabeledData open_folder(const DataSpec& spec) {
  ImageFolderListing list = list_image_folders(spec.paths.empty() ? std::vector<std::string>{spec.path} : spec.paths);
  LabeledData d;
  d.kind = "image folder";
  d.rows = static_cast<std::int64_t>(list.paths.size());
  d.class_names = list.classes;
  d.height = spec.height;
  d.width = spec.width;
  d.channels = spec.gray ? 1 : 3;
  if (d.height == 0 || d.width == 0) {
    // The first image's header sets the output size of all: bounded like any decode (signature
    // first, max_pixels), and the commands check the resulting rows against the memory budget.
    const std::string& first = list.paths.front();
    const DecodeJpegOptions defaults;
    detail::ByteBuffer buf;
    detail::read_whole_file(first, buf, "\xFF\xD8", std::size_t{4} * static_cast<std::size_t>(defaults.max_pixels));
    const JpegHeader h = read_jpeg_header(buf.data.get(), buf.size, first);
    if (std::int64_t{h.height} * h.width > defaults.max_pixels) {
      throw Error(ErrorCode::kUnsupported,
                  "the first image, which sets the output size when --size is not given, claims " + std::to_string(h.height) +
                      "x" + std::to_string(h.width) + " pixels, above max_pixels=" + std::to_string(defaults.max_pixels) +
                      "; give --size HxW",
                  {"cli", first, 0});
    }
    d.height = h.height;
    d.width = h.width;
  }
  d.image_dtype = DType::kU8;
  d.row_bytes = static_cast<std::size_t>(d.height * d.width * d.channels) + sizeof(std::int32_t);
  std::error_code ec;
  for (const std::string& p : list.paths) d.disk_bytes += fs::file_size(p, ec);
  d.description = spec.path + ": " + std::to_string(d.rows) + " JPEGs in " + std::to_string(list.classes.size()) +
                  " classes, decoded to " + std::to_string(d.height) + "x" + std::to_string(d.width) + "x" +
                  std::to_string(d.channels) + " uint8";
  DecodeJpegOptions o;
  o.color = spec.gray ? JpegColor::kGray : JpegColor::kRGB;
  o.height = static_cast<int>(d.height);
  o.width = static_cast<int>(d.width);
  o.counts = d.jpeg_counts = std::make_shared<JpegDecodeCounts>();
  d.count_classes = [n = static_cast<int>(list.classes.size())] { return n; };
  // The listing made above is the source: the folder is walked once per open.
  d.make_shard = [listed = image_folder(std::move(list)), o, rows = d.rows](std::size_t shuffle_buffer,
                                                                            const ShardSpec& shard) {
    Dataset ds = listed;
    if (shard.count > 1) ds = ds.shard(shard.count, shard.index, /*equal=*/true);
    // Shuffle the (path, label) list: tens of bytes per file, so the whole list fits.
    if (shuffle_buffer > 0) ds = ds.shuffle(static_cast<std::size_t>(std::min<std::int64_t>(rows, 1 << 22)));
    return ds.map(decode_jpeg(o), MapOptions{.name = "decode_jpeg"});
  };
  d.make = [make = d.make_shard](std::size_t shuffle_buffer) { return make(shuffle_buffer, ShardSpec{}); };
  return d;
}

}  // namespace

bool is_hdf5_path(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char sig[8] = {};
  if (f && f.read(sig, 8)) return std::string(sig, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
  const std::string ext = fs::path(path).extension().string();
  return !fs::exists(path) && (ext == ".h5" || ext == ".hdf5" || ext == ".he5");
}

LabeledData open_labeled(const DataSpec& given) {
  DataSpec spec = given;
  spec.paths = expand_data_paths(spec.path);
  if (spec.paths.size() == 1) spec.path = spec.paths[0];
  std::error_code ec;
  if (spec.paths.size() > 1) {
    // Many: folders if the first existing path is one (then all must be), else HDF5 files.
    std::optional<bool> folders;
    for (const std::string& p : spec.paths) {
      if (!fs::exists(p, ec)) continue;
      const bool dir = fs::is_directory(p, ec);
      if (!folders) folders = dir;
      if (*folders != dir) {
        throw UsageError("--data: " + spec.path + " mixes image folders and files (" + p + "); give one kind");
      }
    }
    if (!folders) throw UsageError("--data: none of the " + std::to_string(spec.paths.size()) + " paths of " + spec.path + " exists");
    LabeledData d = *folders ? open_folder(spec) : open_hdf5_labeled(spec);
    if (d.rows == 0) {
      throw Error(ErrorCode::kInvalidArgument, "the dataset has 0 rows in " + std::to_string(spec.paths.size()) + " paths",
                  {"cli", spec.path, std::nullopt});
    }
    return d;
  }
  if (!fs::exists(spec.path, ec)) throw UsageError("--data: no such file or folder: " + spec.path);
  if (fs::is_directory(spec.path, ec)) {
    for (const char* idx : {"train-images-idx3-ubyte", "train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"}) {
      if (fs::exists(fs::path(spec.path) / idx, ec)) {
        throw UsageError("--data: " + spec.path + " holds MNIST-style idx files; convert them to HDF5 first: stoker convert " +
                         spec.path + " data.h5");
      }
    }
    return open_folder(spec);
  }
  if (!is_hdf5_path(spec.path)) {
    throw UsageError("--data: " + spec.path + " is neither an HDF5 file nor an image folder (root/<class>/*.jpg)");
  }
  LabeledData d = open_hdf5_labeled(spec);
  if (d.rows == 0) {
    throw Error(ErrorCode::kInvalidArgument, "the dataset has 0 rows (" + spec.images + " and " + spec.labels + " are empty)",
                {"cli", spec.path, std::nullopt});
  }
  return d;
}

void check_batch_fits(const LabeledData& data, const std::string& source, std::int64_t batch, std::size_t budget) {
  const std::string where = data.kind + " " + std::to_string(data.height) + "x" + std::to_string(data.width) + "x" +
                            std::to_string(data.channels) + " rows";
  const std::size_t bytes = checked_mul(data.row_bytes, static_cast<std::size_t>(std::max<std::int64_t>(batch, 1)),
                                        "a batch of " + std::to_string(batch) + " " + where);
  // One element, and one batch of them, must each fit in the budget (memory_budget.h).
  const MemoryBudget b(budget);
  if (!b.fits(bytes)) {
    b.refuse(bytes, "a batch of " + std::to_string(std::max<std::int64_t>(batch, 1)) + " " + where + " (" +
                        format_bytes(double(data.row_bytes)) + " each)",
             {"cli", source, std::nullopt});
  }
}

std::size_t auto_shuffle_buffer(const LabeledData& data, std::size_t budget) {
  const std::size_t fit = budget / 4 / std::max<std::size_t>(data.row_bytes, 1);
  return std::max<std::size_t>(1, std::min<std::size_t>(fit, static_cast<std::size_t>(data.rows)));
}

std::shared_ptr<TraceRecorder> start_trace(const std::string& path, const std::string& thread_name) {
  if (!std::ofstream(path, std::ios::trunc)) throw UsageError("--trace: cannot write " + path);
  auto t = std::make_shared<TraceRecorder>();
  t->name_thread(thread_name);
  return t;
}

void finish_trace(const TraceRecorder& trace, const std::string& path, bool quiet) {
  trace.write(path);
  if (quiet) return;
  std::printf("trace: %zu spans%s written to %s (open it in ui.perfetto.dev or chrome://tracing)\n", trace.num_spans(),
              trace.dropped_spans() ? (" (" + std::to_string(trace.dropped_spans()) + " more dropped)").c_str() : "",
              path.c_str());
}

std::string format_bytes(double bytes) { return MemoryBudget::format_bytes(bytes); }

}  // namespace stoker::cli
