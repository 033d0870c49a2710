// `stoker convert`: Fashion-MNIST/MNIST idx files or an image folder -> HDF5, and HDF5 -> an
// image folder of JPEGs. Every conversion streams through a stoker pipeline in blocks (idx /
// decode / encode on the pipeline's threads), so memory stays at a few blocks whatever the size.
//
// HDF5 layout written: <prefix>/images uint8 [N,H,W,C] and <prefix>/labels int32 [N], chunked
// by whole rows (--chunk-rows), optionally deflated; idx folders give /train/... (train-*) and
// /test/... (t10k-*); image folders also write <prefix>/class_names (vlen bytes, row = label).
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>

#include "cli/commands.h"
#include "cli/data_source.h"
#include "cli/on_error.h"
#include "cli/storage.h"
#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "formats/idx_source.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "pipeline/atomic_file.h"
#include "pipeline/error.h"

namespace stoker::cli {
namespace fs = std::filesystem;
namespace {

constexpr std::size_t kBudget = std::size_t{256} << 20;

// "<dir>/<stem>" or "<dir>/<stem>.gz", whichever exists; empty if neither.
std::string find_idx(const std::string& dir, const std::string& stem) {
  for (const char* suffix : {"", ".gz"}) {
    const std::string p = dir + "/" + stem + suffix;
    if (fs::exists(p)) return p;
  }
  return "";
}

// With --on-error skip, every skipped element's message (they name the file and record), up to 100.
void list_skipped(const PipelineStats& st) { print_skipped(stdout, st.skipped, st.first_errors, 100); }

int idx_to_hdf5(const std::string& in, const std::string& out, const Args& args, int threads, ErrorPolicy on_error) {
  struct Split {
    const char* prefix;
    const char* images;
    const char* labels;
  };
  const Split splits[] = {{"/train", "train-images-idx3-ubyte", "train-labels-idx1-ubyte"},
                          {"/test", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}};
  Hdf5Writer w(out);
  int written = 0;
  for (const Split& s : splits) {
    const std::string images = find_idx(in, s.images), labels = find_idx(in, s.labels);
    if (images.empty() || labels.empty()) continue;
    Dataset ds = idx(images, labels);
    Iterator probe = ds.take(1).iterator({.num_threads = 1, .memory_budget = 16 << 20});
    auto first = probe.next();
    if (!first) throw Error(ErrorCode::kDataLoss, "no records", {"convert", images, std::nullopt});
    const Shape row = (*first)[0].shape();
    PipelineStats st;
    const std::int64_t rows = write_labeled_images(w, std::string(s.prefix) + "/images", std::string(s.prefix) + "/labels", ds, row,
                                                   hdf5_storage(args, static_cast<std::size_t>(row.num_elements())), threads,
                                                   on_error, &st);
    std::printf("%s: %lld rows of %s uint8 from %s\n", s.prefix, static_cast<long long>(rows),
                (*first)[0].shape().to_string().c_str(), images.c_str());
    list_skipped(st);
    ++written;
  }
  if (written == 0) {
    w.discard();
    throw UsageError("INPUT " + in + " has no idx pair (train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz])");
  }
  w.close();  // publishes OUTPUT (until here an existing OUTPUT is untouched)
  return kExitOk;
}

// An image folder stored as its encoded JPEGs (vlen uint8 rows, the layout many image datasets
// ship in, far smaller than pixels) and int32 labels, in listing order. Each file's header is
// checked on the way (a file that is not a readable JPEG fails or, with skip, is left out), so the
// file holds only what train/bench can decode. Rows are written one at a time: vlen rows cannot be
// batched, and the pipeline reads ahead on its threads.
int folder_to_jpeg_hdf5(const std::string& in, const std::string& out, const Args& args, int threads, ErrorPolicy on_error) {
  const std::string images = args.get("images", "/train/images"), labels = args.get("labels", "/train/labels");
  const ImageFolderListing list = list_image_folder(in);
  const std::vector<std::string> class_names = list.classes;
  Hdf5Writer w(out);
  w.create_bytes(images);
  w.create(labels, DType::kI32, Shape{}, hdf5_storage(args, sizeof(std::int32_t)));
  Iterator it = image_folder(list)
                    .map(
                        [read = read_file()](Element e, Rng& rng) {
                          const std::string path(tensor_path(e[0]));
                          e = read(std::move(e), rng);
                          read_jpeg_header(e[0].data_as<std::uint8_t>(), e[0].nbytes(), path);  // throws naming the file
                          return e;
                        },
                        MapOptions{.name = "read_jpeg"})
                    .prefetch(8)
                    .iterator({.num_threads = threads, .memory_budget = std::size_t{256} << 20, .error_policy = on_error,
                               .max_logged_errors = 100});
  Element e;
  std::uint64_t bytes = 0;
  while (it.next(e)) {
    w.append_bytes(images, std::span<const std::uint8_t>(e[0].data_as<std::uint8_t>(), e[0].nbytes()));
    const std::int32_t label = e[1].item<std::int32_t>();
    w.append(labels, std::span<const std::int32_t>(&label, 1));
    bytes += e[0].nbytes();
  }
  const std::string class_names_ds = images.substr(0, images.rfind('/') == std::string::npos ? 0 : images.rfind('/')) + "/class_names";
  w.create_bytes(class_names_ds);
  for (const std::string& c : class_names) {
    w.append_bytes(class_names_ds, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(c.data()), c.size()));
  }
  const std::int64_t rows = w.rows(labels);
  w.close();  // publishes OUTPUT
  std::printf("%s: %lld encoded JPEGs (%.1f MiB) from %zu classes, stored as vlen uint8\n", images.c_str(),
              static_cast<long long>(rows), static_cast<double>(bytes) / (1 << 20), class_names.size());
  list_skipped(it.stats());
  return kExitOk;
}

int folder_to_hdf5(const std::string& in, const std::string& out, const Args& args, int threads, ErrorPolicy on_error) {
  DataSpec spec;
  spec.path = in;
  std::tie(spec.height, spec.width) = args.get_size("size");
  spec.gray = args.get_bool("gray");
  const std::string images = args.get("images", "/train/images"), labels = args.get("labels", "/train/labels");
  LabeledData data = open_labeled(spec);
  Hdf5Writer w(out);
  const Shape row{data.height, data.width, data.channels};
  PipelineStats st;
  const std::int64_t rows = write_labeled_images(w, images, labels, data.make(0), row,
                                                 hdf5_storage(args, static_cast<std::size_t>(row.num_elements())), threads,
                                                 on_error, &st);
  // The class folder names, one row per label (vlen bytes, as h5py writes strings' bytes).
  const std::string class_names = images.substr(0, images.rfind('/') == std::string::npos ? 0 : images.rfind('/')) + "/class_names";
  w.create_bytes(class_names);
  for (const std::string& c : data.class_names) {
    w.append_bytes(class_names, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(c.data()), c.size()));
  }
  w.close();
  std::printf("%s: %lld rows of %s uint8 from %zu classes (", images.c_str(), static_cast<long long>(rows),
              row.to_string().c_str(), data.class_names.size());
  for (std::size_t k = 0; k < data.class_names.size() && k < 10; ++k) {
    std::printf("%s%zu=%s", k ? ", " : "", k, data.class_names[k].c_str());
  }
  std::printf("%s)\n", data.class_names.size() > 10 ? ", ..." : "");
  list_skipped(st);
  print_jpeg_warnings(stdout, data.jpeg_counts.get());
  return kExitOk;
}

int hdf5_to_folder(const std::string& in, const std::string& out, const Args& args, int threads, ErrorPolicy on_error) {
  DataSpec spec;
  spec.path = in;
  spec.names_given = args.has("images") || args.has("labels");
  spec.images = args.get("images", spec.images);
  spec.labels = args.get("labels", spec.labels);
  spec.num_threads = threads;
  const int quality = static_cast<int>(args.get_count("quality", 95, false, 100));
  if (quality > 100) throw UsageError("--quality expects 1-100");
  args.reject_unknown(2);
  LabeledData data = open_labeled(spec);
  if (data.image_dtype != DType::kU8 || (data.channels != 1 && data.channels != 3)) {
    throw Error(ErrorCode::kUnsupported, "JPEG export needs uint8 images with 1 or 3 channels, got " +
                                             std::string(dtype_name(data.image_dtype)) + " with " +
                                             std::to_string(data.channels) + " channels",
                {"convert", in, std::nullopt});
  }
  const int classes = data.count_classes();
  StagedFolder staged(out, "OUTPUT");  // appears at `out` only when every file is written
  const std::string root = staged.dir();
  for (int k = 0; k < classes; ++k) fs::create_directories(fs::path(root) / class_dir_name(k, classes));
  JpegEncodeOptions jo;
  jo.quality = quality;
  const int h = static_cast<int>(data.height), wd = static_cast<int>(data.width), c = static_cast<int>(data.channels);
  // Encode in parallel; write serially in row order (the row index names the file).
  Iterator it = data.make(0)
                    .map([h, wd, c, jo](Element e) {
                      std::vector<std::uint8_t> jpeg = encode_jpeg(e[0].data_as<std::uint8_t>(), h, wd, c, jo);
                      Tensor bytes(DType::kU8, Shape{static_cast<std::int64_t>(jpeg.size())});
                      std::memcpy(bytes.mutable_data(), jpeg.data(), jpeg.size());
                      return Element{std::move(bytes), e[1]};
                    }, MapOptions{.name = "encode_jpeg"})
                    .prefetch(8)
                    .iterator({.num_threads = threads, .memory_budget = kBudget, .error_policy = on_error,
                               .max_logged_errors = 100});
  Element e;
  std::int64_t row = 0;
  std::uint64_t bytes = 0;
  const int digits = static_cast<int>(std::to_string(std::max<std::int64_t>(data.rows - 1, 0)).size());
  while (it.next(e)) {
    const int label = e[1].item<int>();
    char name[48];
    std::snprintf(name, sizeof name, "%0*lld.jpg", digits, static_cast<long long>(row++));
    const auto* p = e[0].data_as<std::uint8_t>();
    write_file(root + "/" + class_dir_name(label, classes) + "/" + name, std::vector<std::uint8_t>(p, p + e[0].nbytes()));
    bytes += e[0].nbytes();
  }
  staged.commit();
  std::printf("%s: %lld JPEGs (%dx%dx%d, quality %d, %.1f MiB) in %d class folders %s/%s..%s\n", out.c_str(),
              static_cast<long long>(row), h, wd, c, quality, static_cast<double>(bytes) / (1 << 20), classes, out.c_str(),
              class_dir_name(0, classes).c_str(), class_dir_name(classes - 1, classes).c_str());
  list_skipped(it.stats());
  return kExitOk;
}

}  // namespace

int convert_command(const Args& args) {
  const std::string in = args.positional(0, "INPUT (idx folder, image folder or HDF5 file)");
  const std::string out = args.positional(1, "OUTPUT");
  const int threads = static_cast<int>(args.get_count("threads", 0, true, kMaxThreads));
  const ErrorPolicy on_error = error_policy_from(args);
  std::error_code ec;
  if (!fs::exists(in, ec)) throw UsageError("INPUT: no such file or folder: " + in);
  refuse_output_over_input({"OUTPUT", out}, {{"INPUT", in}});
  const RemoveTemporariesOnSignals cleanup;  // Ctrl-C: no temporary left beside OUTPUT
  const auto t0 = std::chrono::steady_clock::now();
  int rc;
  if (fs::is_directory(in, ec)) {
    if (fs::is_directory(out, ec)) throw UsageError("OUTPUT " + out + " is a folder; converting a folder writes an HDF5 file");
    const bool has_idx = !find_idx(in, "train-images-idx3-ubyte").empty() || !find_idx(in, "t10k-images-idx3-ubyte").empty();
    if (has_idx) {
      hdf5_storage(args, 1);  // validate storage flags before any work
      args.reject_unknown(2);
      rc = idx_to_hdf5(in, out, args, threads, on_error);
    } else {
      const bool jpeg = args.get_choice("store", {"pixels", "jpeg"}, "pixels") == "jpeg";
      const auto size = args.get_size("size");
      const bool gray = args.get_bool("gray");
      if (jpeg && (size.first > 0 || gray)) throw UsageError("--store jpeg keeps the files as they are: no --size or --gray");
      args.get("images");
      args.get("labels");
      hdf5_storage(args, 1);
      args.reject_unknown(2);
      rc = jpeg ? folder_to_jpeg_hdf5(in, out, args, threads, on_error) : folder_to_hdf5(in, out, args, threads, on_error);
    }
  } else if (is_hdf5_path(in)) {
    rc = hdf5_to_folder(in, out, args, threads, on_error);
  } else {
    throw UsageError("INPUT " + in + " is not an HDF5 file, an idx folder or an image folder");
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %s in %.1f s\n", out.c_str(), secs);
  return rc;
}

}  // namespace stoker::cli
