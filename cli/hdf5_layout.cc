// HDF5 image/label layouts, and an HDF5 file (or several) opened as labeled data (see hdf5_layout.h).
#include "cli/hdf5_layout.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "cli/args.h"
#include "cli/data_files.h"
#include "formats/hdf5_source.h"
#include "formats/jpeg_decode.h"
#include "pipeline/checked_size.h"
#include "pipeline/error.h"

namespace stoker::cli {

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

bool is_image_layout(const Hdf5DatasetInfo& d) {
  if (d.vlen_bytes) return d.shape.size() == 1;
  if (!d.stoker_dtype || (*d.stoker_dtype != DType::kU8 && *d.stoker_dtype != DType::kF32)) return false;
  return d.shape.size() >= 2 && d.shape.size() <= 4;
}

bool is_one_hot(const Hdf5DatasetInfo& d) { return d.stoker_dtype && d.shape.size() == 2 && d.shape[1] > 1; }

bool is_label_layout(const Hdf5DatasetInfo& d) {
  if (!d.stoker_dtype || d.shape.empty() || d.shape.size() > 2) return false;
  const DType t = *d.stoker_dtype;
  const bool integer = t == DType::kU8 || t == DType::kI8 || t == DType::kI16 || t == DType::kI32 || t == DType::kI64;
  if (is_one_hot(d)) return integer || t == DType::kF32 || t == DType::kF64;
  return integer;  // [N] or [N,1] class indices
}

std::vector<Hdf5Pair> trainable_pairs(const Hdf5FileInfo& info) {
  std::vector<Hdf5Pair> out;
  for (const Hdf5DatasetInfo& img : info.datasets) {
    if (!is_image_layout(img)) continue;
    for (const Hdf5DatasetInfo& lab : info.datasets) {
      if (&lab == &img || !is_label_layout(lab) || lab.shape[0] != img.shape[0]) continue;
      // A [N,C] float dataset is both a flat image and one-hot labels: never pair it with itself
      // kind, and prefer the wider one as images.
      if (is_image_layout(lab) && is_one_hot(lab) && img.shape.size() == 2 && lab.shape[1] > img.shape[1]) continue;
      out.push_back({&img, &lab});
    }
  }
  return out;
}

namespace {

namespace fs = std::filesystem;

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

// One-hot (or soft) target rows [C] of any numeric dtype as float32 [C].
Tensor as_float_targets(const Tensor& t) {
  Tensor out(DType::kF32, t.shape());
  float* dst = out.mutable_data_as<float>();
  const std::int64_t n = t.shape().num_elements();
  for (std::int64_t i = 0; i < n; ++i) {
    dst[i] = t.dtype() == DType::kF64 ? static_cast<float>(t.data_as<double>()[i]) : static_cast<float>(label_at(t, i));
  }
  return out;
}

// Resolves which datasets hold the images and labels: the named ones, else /train/images +
// /train/labels, else the file's only trainable pair (said on stderr).
Hdf5Pair choose_pair(const Hdf5FileInfo& info, const DataSpec& spec) {
  auto has = [&](const std::string& n) {
    for (const Hdf5DatasetInfo& d : info.datasets) if (d.name == normalise_name(n)) return true;
    return false;
  };
  if (!spec.names_given && !(has(spec.images) && has(spec.labels))) {
    const std::vector<Hdf5Pair> pairs = trainable_pairs(info);
    if (pairs.size() == 1) {
      std::fprintf(stderr, "data: using --images %s --labels %s, the only image/label pair in %s\n",
                   pairs[0].images->name.c_str(), pairs[0].labels->name.c_str(), info.path.c_str());
      return pairs[0];
    }
    if (pairs.size() > 1) {
      std::string list;
      for (const Hdf5Pair& p : pairs) list += "\n  --images " + p.images->name + " --labels " + p.labels->name;
      throw UsageError(info.path + " has " + std::to_string(pairs.size()) + " image/label pairs; name one:" + list);
    }
  }
  return {&find_dataset(info, spec.images, "images"), &find_dataset(info, spec.labels, "labels")};
}

// The element shape [H,W,C] of flat rows [N,D]: --shape when given (H*W*C must be D), else 1x1xD.
std::array<std::int64_t, 3> flat_row_shape(const Hdf5DatasetInfo& img, const DataSpec& spec, const ErrorContext& ctx) {
  const std::int64_t d = img.shape[1];
  if (spec.shape[0] == 0) return {1, 1, d};
  const std::int64_t want = spec.shape[0] * spec.shape[1] * spec.shape[2];
  if (want != d) {
    throw Error(ErrorCode::kInvalidArgument,
                "--shape " + std::to_string(spec.shape[0]) + "x" + std::to_string(spec.shape[1]) + "x" +
                    std::to_string(spec.shape[2]) + " has " + std::to_string(want) + " values but rows of " + img.name +
                    " have " + std::to_string(d),
                ctx);
  }
  return spec.shape;
}

// The first file of `paths` that can be described (its layout stands for all: hdf5(paths) checks
// every file against it); the last error when none can.
Hdf5FileInfo describe_first(const std::vector<std::string>& paths) {
  for (std::size_t i = 0;; ++i) {
    try {
      return hdf5_describe(paths[i]);
    } catch (const Error&) {
      if (i + 1 == paths.size() || i == 7) throw;
    }
  }
}

}  // namespace

LabeledData open_hdf5_labeled(const DataSpec& spec) {
  const std::vector<std::string> paths = spec.paths.empty() ? std::vector<std::string>{spec.path} : spec.paths;
  const bool many = paths.size() > 1;
  const Hdf5FileInfo info = describe_first(paths);
  if (info.datasets.empty()) {
    throw Error(ErrorCode::kDataLoss, "no datasets found (an empty or corrupt HDF5 file?)", {"cli", info.path, std::nullopt});
  }
  const Hdf5Pair pair = choose_pair(info, spec);
  const Hdf5DatasetInfo& img = *pair.images;
  const Hdf5DatasetInfo& lab = *pair.labels;
  const ErrorContext ctx{"cli", spec.path, std::nullopt};
  if (!is_image_layout(img)) {
    throw Error(ErrorCode::kUnsupported,
                "images dataset " + img.name + " is " + img.dtype + " " + dims_text(img.shape) +
                    "; train/bench read [N,H,W], [N,H,W,C] or flat [N,D] rows (uint8 or float32), or encoded JPEGs "
                    "(vlen uint8 [N])",
                ctx);
  }
  if (!is_label_layout(lab)) {
    throw Error(ErrorCode::kInvalidArgument,
                "labels dataset " + lab.name + " is " + lab.dtype + " " + dims_text(lab.shape) +
                    "; expected integer class indices [N] or [N,1], or one-hot rows [N,classes]",
                ctx);
  }
  if (lab.shape[0] != img.shape[0]) {
    throw Error(ErrorCode::kInvalidArgument,
                img.name + " has " + std::to_string(img.shape[0]) + " rows but " + lab.name + " has " +
                    std::to_string(lab.shape[0]),
                ctx);
  }
  if (!checked_num_elements(img.shape)) {
    throw Error(ErrorCode::kDataLoss, "images dataset " + img.name + " has dims " + dims_text(img.shape) +
                                          ", whose product overflows; corrupt header?", ctx);
  }
  LabeledData d;
  d.kind = "hdf5";
  d.rows = img.shape[0];
  const std::string path = spec.path, images = img.name, labels = lab.name;
  // One file, or many read as one dataset (each file's metadata read once here; a bad file is
  // named when the data is read, or skipped under --on-error skip).
  auto open = [paths, many](const std::vector<std::string>& names, Hdf5Options o = {}) {
    return many ? hdf5(paths, names, std::move(o)) : hdf5(paths[0], names, std::move(o));
  };
  if (many) d.rows = open({images, labels}).cardinality();
  const bool jpeg = img.vlen_bytes;
  const bool one_hot = is_one_hot(lab);
  std::optional<DecodeJpegOptions> decode;
  std::optional<Shape> view;  // flat rows viewed as [H,W,C]
  if (jpeg) {
    d.image_dtype = DType::kU8;
    d.channels = spec.gray ? 1 : 3;
    d.height = spec.height;
    d.width = spec.width;
    if ((d.height == 0 || d.width == 0) && d.rows > 0) {
      // The first row's header sets the output size of all (as for an image folder).
      Iterator it = open({images}).take(1).iterator({.num_threads = 1, .error_policy = ErrorPolicy::kSkip});
      const Element first = *it.next();
      const JpegHeader h = read_jpeg_header(first[0].data_as<std::uint8_t>(), first[0].nbytes(), images + " row 0");
      d.height = h.height;
      d.width = h.width;
    }
    DecodeJpegOptions o;
    o.color = spec.gray ? JpegColor::kGray : JpegColor::kRGB;
    o.height = static_cast<int>(d.height);
    o.width = static_cast<int>(d.width);
    decode = o;
  } else {
    d.image_dtype = *img.stoker_dtype;
    if (img.shape.size() == 2) {
      const auto hwc = flat_row_shape(img, spec, ctx);
      d.height = hwc[0], d.width = hwc[1], d.channels = hwc[2];
      view = Shape{d.height, d.width, d.channels};
    } else {
      d.height = img.shape[1];
      d.width = img.shape[2];
      d.channels = img.shape.size() == 4 ? img.shape[3] : 1;
    }
  }
  const DType label_dtype = *lab.stoker_dtype;
  const std::int64_t classes = one_hot ? lab.shape[1] : 0;
  const std::size_t label_bytes = one_hot ? static_cast<std::size_t>(classes) * sizeof(float) : dtype_size(label_dtype);
  d.row_bytes = checked_mul(static_cast<std::size_t>(d.height * d.width * d.channels), dtype_size(d.image_dtype),
                            "a row of " + images) +
                label_bytes;
  d.disk_bytes = img.storage_bytes + lab.storage_bytes;
  if (many) {
    std::error_code ec;
    d.disk_bytes = 0;
    for (const std::string& p : paths) {
      const std::uintmax_t size = fs::file_size(p, ec);
      if (!ec) d.disk_bytes += size;
    }
  }
  d.description = (many ? std::to_string(paths.size()) + " files " + spec.path + " (layout of " + info.path + ")" : spec.path) +
                  ": " + std::to_string(d.rows) + " rows, " + img.name + " " + img.dtype + " " + dims_text(img.shape) + (view ? " viewed as " + view->to_string() : "") +
                  (jpeg ? " decoded to " + std::to_string(d.height) + "x" + std::to_string(d.width) : "") + ", " + lab.name +
                  " " + lab.dtype + (one_hot ? " one-hot " + dims_text(lab.shape) : "");
  const std::size_t row_bytes = d.row_bytes;
  const bool cast_labels = !one_hot && label_dtype != DType::kI32 && label_dtype != DType::kI64;
  const bool float_targets = one_hot && label_dtype != DType::kF32;
  d.make_shard = [=, rows = d.rows](std::size_t shuffle_buffer, const ShardSpec& shard) {
    Hdf5Options o;
    if (shuffle_buffer > 0) {
      // Blocks small enough that the buffer mixes many of them (hdf5_source.h: buffer >= 8-32 x
      // block_rows), at most 4 MiB; the source rounds a block up to whole chunks.
      const std::size_t want = std::max<std::size_t>(shuffle_buffer / 16, 1) * row_bytes;
      o.block_bytes = std::min<std::size_t>(want, std::size_t{4} << 20);
      o.shuffle_blocks = true;
    }
    if (shard.count > 1 && shard.block_rows > 0) o.block_rows = shard.block_rows;
    Dataset ds = open({images, labels}, o);
    // Before any shuffle: disjoint shards; HDF5 reads only this shard's blocks.
    if (shard.count > 1) ds = ds.shard(shard.count, shard.index, /*equal=*/true);
    if (cast_labels || float_targets || view) {
      ds = ds.map(
          [=](Element e) {
            if (view) e[0] = e[0].reshaped(*view);  // shares the row's bytes
            if (cast_labels) e[1] = Tensor::scalar<std::int32_t>(static_cast<std::int32_t>(label_at(e[1], 0)));
            if (float_targets) e[1] = as_float_targets(e[1]);
            return e;
          },
          MapOptions{.name = "labels"});
    }
    if (shuffle_buffer > 0) ds = ds.shuffle(std::min<std::size_t>(shuffle_buffer, static_cast<std::size_t>(rows)));
    if (decode) ds = ds.map(decode_jpeg(*decode), MapOptions{.name = "decode_jpeg"});
    return ds;
  };
  d.make = [make = d.make_shard](std::size_t shuffle_buffer) { return make(shuffle_buffer, ShardSpec{}); };
  if (one_hot) {
    d.count_classes = [classes] { return static_cast<int>(classes); };
    return d;
  }
  d.count_classes = [path, labels, open, threads = spec.num_threads, rows = d.rows]() {
    // Labels are class indices: one above the number of rows (or kMaxClasses) names a class no
    // row can belong to, and sizing class folders or a softmax by it would exhaust the machine.
    const std::int64_t cap = std::min<std::int64_t>(rows, kMaxClasses);
    std::int64_t hi = -1, row = 0;
    // Bad files are the training pass's to report (or skip): this pass counts the readable ones.
    Iterator it = open({labels}).batch(1 << 16).iterator(
        {.num_threads = threads, .memory_budget = 64 << 20, .error_policy = ErrorPolicy::kSkip});
    while (auto b = it.next()) {
      const Tensor& t = (*b)[0];
      for (std::int64_t i = 0; i < t.shape()[0]; ++i, ++row) {
        const std::int64_t v = label_at(t, i);
        if (v < 0 || v >= cap) {
          throw Error(ErrorCode::kInvalidArgument,
                      "labels dataset " + labels + " holds label " + std::to_string(v) +
                          (v < 0 ? ", which is negative"
                                 : ", which implies more classes than " +
                                       (cap == rows ? "the dataset's " + std::to_string(rows) + " rows"
                                                    : "the limit of " + std::to_string(kMaxClasses))) +
                          "; labels must be class indices 0..classes-1",
                      {"cli", path, row});
        }
        hi = std::max(hi, v);
      }
    }
    return static_cast<int>(hi + 1);
  };
  return d;
}


}  // namespace stoker::cli
