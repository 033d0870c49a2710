// Opening labeled data for the commands (see data_source.h).
#include "cli/data_source.h"

#include <algorithm>
#include <tuple>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli/args.h"
#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_decode.h"
#include "pipeline/error.h"

namespace stoker::cli {

DataSpec data_spec_from(const Args& args) {
  DataSpec spec;
  spec.path = args.require("data");
  spec.images = args.get("images", spec.images);
  spec.labels = args.get("labels", spec.labels);
  std::tie(spec.height, spec.width) = args.get_size("size");
  spec.gray = args.get_bool("gray");
  return spec;
}
namespace fs = std::filesystem;

namespace {

std::string dims_text(const std::vector<std::int64_t>& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(d[i]);
  }
  return s + "]";
}

std::string normalise_name(std::string name) { return name.empty() || name[0] == '/' ? name : "/" + name; }

const Hdf5DatasetInfo& find_dataset(const Hdf5FileInfo& info, const std::string& name, const std::string& flag) {
  for (const Hdf5DatasetInfo& d : info.datasets) {
    if (d.name == normalise_name(name)) return d;
  }
  if (info.datasets.empty()) {
    throw Error(ErrorCode::kDataLoss, "no datasets found (an empty or corrupt HDF5 file?)", {"cli", info.path, std::nullopt});
  }
  std::string have;
  for (const Hdf5DatasetInfo& d : info.datasets) have += "\n  " + d.name + "  " + d.dtype + " " + dims_text(d.shape);
  throw UsageError("--" + flag + ": no dataset '" + name + "' in " + info.path + "; it has:" + have);
}

// Any integer label tensor's value i as int64.
std::int64_t label_at(const Tensor& t, std::int64_t i) {
  const std::byte* p = t.data();
  switch (t.dtype()) {
    case DType::kU8: return reinterpret_cast<const std::uint8_t*>(p)[i];
    case DType::kI8: return reinterpret_cast<const std::int8_t*>(p)[i];
    case DType::kI16: return reinterpret_cast<const std::int16_t*>(p)[i];
    case DType::kI32: return reinterpret_cast<const std::int32_t*>(p)[i];
    case DType::kI64: return reinterpret_cast<const std::int64_t*>(p)[i];
    default: throw Error(ErrorCode::kUnsupported, std::string("labels must be integers, got ") + dtype_name(t.dtype()));
  }
}

LabeledData open_hdf5(const DataSpec& spec) {
  const Hdf5FileInfo info = hdf5_describe(spec.path);
  const Hdf5DatasetInfo& img = find_dataset(info, spec.images, "images");
  const Hdf5DatasetInfo& lab = find_dataset(info, spec.labels, "labels");
  const ErrorContext ctx{"cli", spec.path, std::nullopt};
  if (img.vlen_bytes || !img.stoker_dtype) {
    throw Error(ErrorCode::kUnsupported,
                "images dataset " + img.name + " is " + img.dtype +
                    "; train/bench read fixed-size images [N,H,W] or [N,H,W,C] (uint8 or float32)",
                ctx);
  }
  if (img.shape.size() != 3 && img.shape.size() != 4) {
    throw Error(ErrorCode::kInvalidArgument,
                "images dataset " + img.name + " has shape " + dims_text(img.shape) + "; expected [N,H,W] or [N,H,W,C]", ctx);
  }
  if (!lab.stoker_dtype || lab.shape.empty() || (lab.shape.size() == 2 && lab.shape[1] != 1) || lab.shape.size() > 2) {
    throw Error(ErrorCode::kInvalidArgument,
                "labels dataset " + lab.name + " is " + lab.dtype + " " + dims_text(lab.shape) +
                    "; expected integer labels [N] or [N,1]",
                ctx);
  }
  if (lab.shape[0] != img.shape[0]) {
    throw Error(ErrorCode::kInvalidArgument,
                img.name + " has " + std::to_string(img.shape[0]) + " rows but " + lab.name + " has " +
                    std::to_string(lab.shape[0]),
                ctx);
  }
  LabeledData d;
  d.kind = "hdf5";
  d.rows = img.shape[0];
  d.height = img.shape[1];
  d.width = img.shape[2];
  d.channels = img.shape.size() == 4 ? img.shape[3] : 1;
  d.image_dtype = *img.stoker_dtype;
  const DType label_dtype = *lab.stoker_dtype;
  d.row_bytes = static_cast<std::size_t>(d.height * d.width * d.channels) * dtype_size(d.image_dtype) + dtype_size(label_dtype);
  d.disk_bytes = img.storage_bytes + lab.storage_bytes;
  d.description = spec.path + ": " + std::to_string(d.rows) + " rows, " + img.name + " " + img.dtype + " " +
                  dims_text(img.shape) + ", " + lab.name + " " + lab.dtype;
  const std::string path = spec.path, images = img.name, labels = lab.name;
  const std::size_t row_bytes = d.row_bytes;
  const bool cast_labels = label_dtype != DType::kI32 && label_dtype != DType::kI64;
  d.make = [path, images, labels, row_bytes, cast_labels, rows = d.rows](std::size_t shuffle_buffer) {
    Hdf5Options o;
    if (shuffle_buffer > 0) {
      // Blocks small enough that the buffer mixes many of them (hdf5_source.h: buffer >= 8-32 x
      // block_rows), at most 4 MiB; the source rounds a block up to whole chunks.
      const std::size_t want = std::max<std::size_t>(shuffle_buffer / 16, 1) * row_bytes;
      o.block_bytes = std::min<std::size_t>(want, std::size_t{4} << 20);
      o.shuffle_blocks = true;
    }
    Dataset ds = hdf5(path, {images, labels}, o);
    if (cast_labels) {
      ds = ds.map(
          [](Element e) {
            e[1] = Tensor::scalar<std::int32_t>(static_cast<std::int32_t>(label_at(e[1], 0)));
            return e;
          },
          MapOptions{.name = "cast_labels"});
    }
    if (shuffle_buffer > 0) ds = ds.shuffle(std::min<std::size_t>(shuffle_buffer, static_cast<std::size_t>(rows)));
    return ds;
  };
  d.count_classes = [path, labels, threads = spec.num_threads]() {
    std::int64_t lo = 0, hi = -1;
    Iterator it = hdf5(path, {labels}).batch(1 << 16).iterator({.num_threads = threads, .memory_budget = 64 << 20});
    while (auto b = it.next()) {
      const Tensor& t = (*b)[0];
      for (std::int64_t i = 0; i < t.shape()[0]; ++i) {
        const std::int64_t v = label_at(t, i);
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    if (lo < 0) {
      throw Error(ErrorCode::kInvalidArgument, "labels dataset " + labels + " holds a negative label (" + std::to_string(lo) + ")",
                  {"cli", path, std::nullopt});
    }
    return static_cast<int>(hi + 1);
  };
  return d;
}

LabeledData open_folder(const DataSpec& spec) {
  ImageFolderListing list = list_image_folder(spec.path);
  LabeledData d;
  d.kind = "image folder";
  d.rows = static_cast<std::int64_t>(list.paths.size());
  d.class_names = list.classes;
  d.height = spec.height;
  d.width = spec.width;
  d.channels = spec.gray ? 1 : 3;
  if (d.height == 0 || d.width == 0) {
    detail::ByteBuffer buf;
    detail::read_whole_file(list.paths.front(), buf);
    const JpegHeader h = read_jpeg_header(buf.data.get(), buf.size, list.paths.front());
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
  d.make = [listed = image_folder(std::move(list)), o, rows = d.rows](std::size_t shuffle_buffer) {
    Dataset ds = listed;
    // Shuffle the (path, label) list: tens of bytes per file, so the whole list fits.
    if (shuffle_buffer > 0) ds = ds.shuffle(static_cast<std::size_t>(std::min<std::int64_t>(rows, 1 << 22)));
    return ds.map(decode_jpeg(o), MapOptions{.name = "decode_jpeg"});
  };
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

LabeledData open_labeled(const DataSpec& spec) {
  std::error_code ec;
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
  return open_hdf5(spec);
}

std::size_t auto_shuffle_buffer(const LabeledData& data, std::size_t budget) {
  const std::size_t fit = budget / 4 / std::max<std::size_t>(data.row_bytes, 1);
  return std::max<std::size_t>(1, std::min<std::size_t>(fit, static_cast<std::size_t>(data.rows)));
}

std::string format_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  else if (bytes >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024));
  else if (bytes >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  return buf;
}

}  // namespace stoker::cli
