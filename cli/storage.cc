// Output helpers (see storage.h).
#include "cli/storage.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "pipeline/atomic_file.h"
#include "pipeline/error.h"

namespace stoker::cli {
namespace fs = std::filesystem;

Hdf5DatasetOptions hdf5_storage(const Args& args, std::size_t row_bytes) {
  Hdf5DatasetOptions o;
  o.chunk_rows = args.get_count("chunk-rows", static_cast<std::int64_t>(std::max<std::size_t>(1, (std::size_t{1} << 20) / std::max<std::size_t>(row_bytes, 1))));
  const std::int64_t level = args.get_int("deflate", 0);
  if (level < 0 || level > 9) throw UsageError("--deflate expects a gzip level 0-9, got " + std::to_string(level));
  o.deflate_level = static_cast<int>(level);
  o.shuffle = args.get_bool("shuffle-filter");
  return o;
}

std::int64_t write_block_rows(const Hdf5DatasetOptions& storage, std::size_t row_bytes) {
  const std::int64_t chunk = std::max<std::int64_t>(storage.chunk_rows, 1);
  const auto want = static_cast<std::int64_t>((std::size_t{4} << 20) / std::max<std::size_t>(row_bytes, 1));
  return std::max<std::int64_t>(1, want / chunk) * chunk;
}

std::int64_t write_labeled_images(Hdf5Writer& w, const std::string& images, const std::string& labels, const Dataset& ds,
                                  const Shape& row, const Hdf5DatasetOptions& storage, int threads, ErrorPolicy policy,
                                  PipelineStats* stats) {
  constexpr std::size_t kBudget = std::size_t{256} << 20;
  const auto row_bytes = static_cast<std::size_t>(row.num_elements());
  w.create(images, DType::kU8, row, storage);
  w.create(labels, DType::kI32, Shape{}, storage);
  Iterator it = ds.batch(write_block_rows(storage, row_bytes))
                    .prefetch(1)
                    .iterator({.num_threads = threads, .memory_budget = kBudget, .error_policy = policy,
                               .max_logged_errors = 100});
  Element b;
  while (it.next(b)) {
    w.append(images, b[0]);
    w.append(labels, b[1]);
  }
  if (stats) *stats = it.stats();
  return w.rows(labels);
}

std::string class_dir_name(int label, int classes) {
  const int width = static_cast<int>(std::to_string(std::max(classes - 1, 0)).size());
  std::string s = std::to_string(label);
  return std::string(static_cast<std::size_t>(std::max(0, width - static_cast<int>(s.size()))), '0') + s;
}

StagedFolder::StagedFolder(const std::string& path, const std::string& what) : path_(path), what_(what) {
  std::error_code ec;
  if (fs::exists(path, ec)) {
    if (!fs::is_directory(path, ec)) throw UsageError(what + ": " + path + " exists and is not a folder");
    if (!fs::is_empty(path, ec)) throw UsageError(what + ": folder " + path + " is not empty (remove it or pick another)");
  }
  fs::path p = fs::path(path).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();  // "out/"
  const fs::path parent = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  fs::create_directories(parent, ec);
  staging_ = (parent / ("." + p.filename().string() + ".tmp-" + std::to_string(::getpid()))).string();
  fs::remove_all(staging_, ec);  // left by an earlier run that had this pid
  fs::create_directories(staging_, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot create folder: " + ec.message(), {"cli", staging_, std::nullopt});
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);
}

void StagedFolder::commit() {
  if (::rename(staging_.c_str(), path_.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    committed_ = true;  // keep what was written
    throw Error(ErrorCode::kIo, "cannot rename the finished folder " + staging_ + " to " + path_ + ": " + err +
                                    " (the files are in " + staging_ + ")", {"cli", path_, std::nullopt});
  }
  committed_ = true;
}

void write_file(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Error(ErrorCode::kIo, std::string("cannot create file: ") + std::strerror(errno), {"cli", path, std::nullopt});
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) throw Error(ErrorCode::kIo, "cannot write file", {"cli", path, std::nullopt});
}

void refuse_output_over_input(const FlagPath& out, const std::vector<FlagPath>& inputs) {
  for (const FlagPath& in : inputs) {
    if (!out.path.empty() && !in.path.empty() && same_file(out.path, in.path)) {
      throw UsageError(out.flag + " " + out.path + " is the same file as " + in.flag + " " + in.path +
                       "; writing it would destroy that input. Choose another path");
    }
  }
}

}  // namespace stoker::cli
