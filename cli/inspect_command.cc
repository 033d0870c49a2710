// `stoker inspect`: what a dataset holds. HDF5: every dataset's dtype, shape, layout, chunking,
// filters and bytes on disk (hdf5_describe), and the image/label pairs `stoker train` can read.
// Image folder: classes with their file counts, and the sizes of a few images (headers only).
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include "cli/commands.h"
#include "cli/data_files.h"
#include "cli/data_source.h"
#include "cli/hdf5_layout.h"
#include "cli/json_report.h"
#include "formats/file_source.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_decode.h"

namespace stoker::cli {
namespace fs = std::filesystem;
namespace {

void inspect_hdf5(const std::string& path, bool json) {
  const Hdf5FileInfo info = hdf5_describe(path);
  if (json) {
    std::printf("%s\n", to_json(info).dump(2).c_str());
    return;
  }
  std::printf("HDF5 %s", info.to_string().c_str());
  if (info.datasets.empty()) std::printf("  (no datasets)\n");
  for (const Hdf5Pair& p : trainable_pairs(info)) {
    std::printf("trainable pair: --images %s --labels %s (%lld rows)%s\n", p.images->name.c_str(), p.labels->name.c_str(),
                static_cast<long long>(p.images->shape[0]),
                p.images->vlen_bytes ? ", encoded JPEGs" : p.images->shape.size() == 2 ? ", flat rows (--shape HxWxC)" : "");
  }
}

void inspect_folder(const std::string& path, std::int64_t samples, bool json) {
  ImageFolderOptions o;
  const ImageFolderListing list = list_image_folder(path, o);
  std::vector<std::int64_t> counts(list.classes.size(), 0);
  for (std::int32_t l : list.labels) ++counts[static_cast<std::size_t>(l)];
  std::uint64_t bytes = 0;
  std::error_code ec;
  for (const std::string& p : list.paths) bytes += fs::file_size(p, ec);
  nlohmann::ordered_json j;
  if (json) {
    j = {{"kind", "image folder"}, {"path", path}, {"files", list.paths.size()}, {"bytes", bytes}};
    j["classes"] = nlohmann::ordered_json::array();
    for (std::size_t k = 0; k < list.classes.size(); ++k) {
      j["classes"].push_back({{"label", k}, {"name", list.classes[k]}, {"files", counts[k]}});
    }
    j["sample_images"] = nlohmann::ordered_json::array();
  } else {
    std::printf("image folder %s: %zu JPEGs, %zu classes, %s\n", path.c_str(), list.paths.size(), list.classes.size(),
                format_bytes(static_cast<double>(bytes)).c_str());
  }
  for (std::size_t k = 0; k < list.classes.size() && !json; ++k) {
    if (k == 20 && list.classes.size() > 24) {
      std::printf("  ... %zu more classes\n", list.classes.size() - 20);
      break;
    }
    std::printf("  label %-4zu %-24s %lld files\n", k, list.classes[k].c_str(), static_cast<long long>(counts[k]));
  }
  // A few images spread over the listing (so over the classes).
  const std::int64_t n = static_cast<std::int64_t>(list.paths.size());
  const std::int64_t shown = std::min(samples, n);
  if (shown > 0 && !json) std::printf("sample images:\n");
  detail::ByteBuffer buf;
  for (std::int64_t i = 0; i < shown; ++i) {
    const std::string& p = list.paths[static_cast<std::size_t>(i * n / shown)];
    try {
      detail::read_whole_file(p, buf);
      const JpegHeader h = read_jpeg_header(buf.data.get(), buf.size, p);
      if (json) j["sample_images"].push_back({{"path", p}, {"width", h.width}, {"height", h.height}});
      else std::printf("  %s: %dx%d (WxH)\n", p.c_str(), h.width, h.height);
    } catch (const std::exception& e) {
      if (json) j["sample_images"].push_back({{"path", p}, {"error", e.what()}});
      else std::printf("  %s: unreadable: %s\n", p.c_str(), e.what());
    }
  }
  if (json) std::printf("%s\n", j.dump(2).c_str());
}

}  // namespace

int inspect_command(const Args& args) {
  const std::string path = args.positional(0, "PATH (an HDF5 file or an image folder, a glob or @list of them)");
  const std::int64_t samples = args.get_count("samples", 5, true);
  const bool json = args.get_bool("json");
  args.reject_unknown(1);
  std::error_code ec;
  if (names_many_paths(path)) {
    const std::vector<std::string> paths = expand_data_paths(path, "PATH");
    if (paths.size() > 1 && !fs::is_directory(paths[0], ec)) {
      if (json) {  // each file's description, in the list's order
        nlohmann::ordered_json files = nlohmann::ordered_json::array();
        for (const std::string& p : paths) files.push_back(to_json(hdf5_describe(p)));
        std::printf("%s\n", nlohmann::ordered_json{{"kind", "hdf5 files"}, {"files", std::move(files)}}.dump(2).c_str());
      } else {
        print_hdf5_files_summary(paths);
      }
      return kExitOk;
    }
    if (json && paths.size() > 1) throw UsageError("--json describes one image folder; give one folder, not " + path);
    for (const std::string& p : paths) {
      if (!fs::is_directory(p, ec)) throw UsageError(path + ": " + p + " is not an image folder (list folders or HDF5 files, not both)");
      inspect_folder(p, samples, json);
    }
    return kExitOk;
  }
  if (!fs::exists(path, ec)) throw UsageError("no such file or folder: " + path);
  if (fs::is_directory(path, ec)) {
    inspect_folder(path, samples, json);
  } else if (is_hdf5_path(path)) {
    inspect_hdf5(path, json);
  } else {
    throw UsageError(path + " is neither an HDF5 file nor an image folder");
  }
  return kExitOk;
}

}  // namespace stoker::cli
