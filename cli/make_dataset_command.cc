// `stoker make-dataset`: writes a synthetic, learnable dataset (synthetic.h) as HDF5
// (/train/images uint8 [N,H,W,C], /train/labels int32 [N], /test/... likewise) or as a JPEG
// folder (OUTPUT/train/<class>/<index>.jpg, OUTPUT/test/...). Samples are generated on the
// pipeline's threads (range -> parallel map) and written in blocks of about 4 MiB, so any N is
// written with memory bounded by the pipeline budget (256 MiB), never N x sample bytes.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/data_source.h"
#include "cli/storage.h"
#include "cli/synthetic.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_encode.h"
#include "pipeline/atomic_file.h"
#include "pipeline/dataset.h"

namespace stoker::cli {
namespace {

constexpr std::size_t kBudget = std::size_t{256} << 20;

// Rows [begin, end) as elements (image uint8 [H,W,C], label int32).
Dataset synth_rows(const SynthSpec& s, std::int64_t begin, std::int64_t end) {
  return Dataset::range(begin, end).map(
      [s](Element e) {
        Tensor img(DType::kU8, Shape{s.height, s.width, s.channels});
        const int label = synth_sample(s, e[0].item<std::int64_t>(), img.mutable_data_as<std::uint8_t>());
        return Element{std::move(img), Tensor::scalar<std::int32_t>(label)};
      },
      MapOptions{.name = "synthesize"});
}

void write_hdf5_split(Hdf5Writer& w, const std::string& split, const SynthSpec& s, std::int64_t begin, std::int64_t end,
                      const Hdf5DatasetOptions& storage, int threads) {
  write_labeled_images(w, "/" + split + "/images", "/" + split + "/labels", synth_rows(s, begin, end),
                       Shape{s.height, s.width, s.channels}, storage, threads);
}

void write_jpeg_split(const std::string& root, const SynthSpec& s, std::int64_t begin, std::int64_t end, int quality,
                      int threads) {
  namespace fs = std::filesystem;
  for (int k = 0; k < s.classes; ++k) fs::create_directories(fs::path(root) / class_dir_name(k, s.classes));
  JpegEncodeOptions jo;
  jo.quality = quality;
  // Generate, encode and write in the parallel map: each element names its own file.
  Dataset ds = Dataset::range(begin, end).map(
      [s, jo, root](Element e) {
        const std::int64_t i = e[0].item<std::int64_t>();
        std::vector<std::uint8_t> px(static_cast<std::size_t>(s.height) * s.width * s.channels);
        const int label = synth_sample(s, i, px.data());
        char name[32];
        std::snprintf(name, sizeof name, "%08lld.jpg", static_cast<long long>(i));
        write_file(root + "/" + class_dir_name(label, s.classes) + "/" + name,
                   encode_jpeg(px.data(), s.height, s.width, s.channels, jo));
        return Element{Tensor::scalar<std::int32_t>(label)};
      },
      MapOptions{.name = "synthesize_jpeg"});
  Iterator it = ds.iterator({.num_threads = threads, .memory_budget = kBudget});
  Element e;
  while (it.next(e)) {
  }
}

std::uint64_t tree_bytes(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return fs::file_size(path, ec);
  std::uint64_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(path, ec)) {
    if (entry.is_regular_file(ec)) n += entry.file_size(ec);
  }
  return n;
}

}  // namespace

int make_dataset_command(const Args& args) {
  const std::string out = args.positional(0, "OUTPUT (a .h5 file or a folder)");
  const std::string ext = std::filesystem::path(out).extension().string();
  const std::string format =
      args.get_choice("format", {"hdf5", "jpeg"}, ext == ".h5" || ext == ".hdf5" ? "hdf5" : "jpeg");
  const std::int64_t n = args.get_count("n", 10000);
  const std::int64_t test_n = args.get_count("test-n", n / 10, true);
  SynthSpec s;
  std::tie(s.height, s.width) = args.get_size("size", {128, 128});
  s.channels = static_cast<int>(args.get_count("channels", 3, false, 4));
  if (s.channels != 1 && s.channels != 3) throw UsageError("--channels expects 1 or 3");
  s.classes = static_cast<int>(args.get_count("classes", 10, false, kMaxClasses));
  if (s.classes < 2) throw UsageError("--classes expects at least 2");
  s.seed = static_cast<std::uint64_t>(args.get_count("seed", 0, true));
  const int threads = static_cast<int>(args.get_count("threads", 0, true, kMaxThreads));
  const std::size_t row_bytes = static_cast<std::size_t>(s.height) * s.width * s.channels;
  Hdf5DatasetOptions storage;
  int quality = 90;
  if (format == "hdf5") {
    storage = hdf5_storage(args, row_bytes);
  } else {
    quality = static_cast<int>(args.get_count("quality", 90, false, 100));
    if (quality > 100) throw UsageError("--quality expects 1-100");
  }
  args.reject_unknown(1);
  const RemoveTemporariesOnSignals cleanup;  // Ctrl-C: no temporary left beside OUTPUT

  const auto t0 = std::chrono::steady_clock::now();
  if (format == "hdf5") {
    Hdf5Writer w(out);
    write_hdf5_split(w, "train", s, 0, n, storage, threads);
    if (test_n > 0) write_hdf5_split(w, "test", s, n, n + test_n, storage, threads);
    w.close();
  } else {
    StagedFolder staged(out, "OUTPUT");  // appears at `out` only when every file is written
    write_jpeg_split(staged.dir() + "/train", s, 0, n, quality, threads);
    if (test_n > 0) write_jpeg_split(staged.dir() + "/test", s, n, n + test_n, quality, threads);
    staged.commit();
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("wrote %lld train + %lld test samples of %dx%dx%d uint8, %d classes, to %s (%s, %s) in %.1f s\n",
              static_cast<long long>(n), static_cast<long long>(test_n), s.height, s.width, s.channels, s.classes,
              out.c_str(), format.c_str(), format_bytes(static_cast<double>(tree_bytes(out))).c_str(), secs);
  if (format == "hdf5") {
    std::printf("datasets: /train/images /train/labels%s (chunk %lld rows%s)\n", test_n > 0 ? " /test/images /test/labels" : "",
                static_cast<long long>(storage.chunk_rows),
                storage.deflate_level > 0 ? (", deflate " + std::to_string(storage.deflate_level)).c_str() : "");
  } else {
    std::printf("folders: %s/train/<class>/*.jpg%s\n", out.c_str(), test_n > 0 ? (" and " + out + "/test/<class>/*.jpg").c_str() : "");
  }
  return kExitOk;
}

}  // namespace stoker::cli
