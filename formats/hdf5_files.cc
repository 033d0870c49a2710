// Metadata of many HDF5 files as one dataset, and the per-iterator handle cache (see hdf5_files.h).
#include "formats/hdf5_files.h"

#include <algorithm>

namespace stoker::detail {
namespace {

std::string spec_text(const Hdf5DatasetMeta& m) {
  return m.vlen ? std::string("vlen uint8") : std::string(dtype_name(m.dtype)) + " " + m.row_shape.to_string();
}

// Why `m` cannot be read as the same dataset as `ref` (rows of one element spec), or "".
std::string mismatch(const Hdf5FileMeta& m, const Hdf5FileMeta& ref) {
  for (std::size_t d = 0; d < m.datasets.size(); ++d) {
    const Hdf5DatasetMeta& a = m.datasets[d];
    const Hdf5DatasetMeta& b = ref.datasets[d];
    if (a.vlen != b.vlen || (!a.vlen && (a.dtype != b.dtype || a.row_shape != b.row_shape))) {
      return "dataset '" + a.name + "' has rows of " + spec_text(a) + " here but " + spec_text(b) + " in " + ref.path +
             "; every file must hold the same element shape";
    }
  }
  return "";
}

void finish(Hdf5FileSet& set) {
  set.first_block.assign(1, 0);
  for (const auto& f : set.files) set.first_block.push_back(set.first_block.back() + (f ? f->num_blocks : 0));
}

}  // namespace

std::pair<std::size_t, std::int64_t> Hdf5FileSet::locate(std::int64_t g) const {
  // The last file whose first block is <= g and that has blocks (bad and empty files have none).
  auto it = std::upper_bound(first_block.begin(), first_block.end(), g);
  std::size_t f = static_cast<std::size_t>(it - first_block.begin()) - 1;
  return {f, g - first_block[f]};
}

std::int64_t Hdf5FileSet::block_rows_of(std::int64_t g) const {
  auto [f, b] = locate(g);
  const Hdf5FileMeta& m = *files[f];
  return std::min(m.rows, (b + 1) * m.block_rows) - b * m.block_rows;
}

std::shared_ptr<const Hdf5FileSet> hdf5_file_set(std::shared_ptr<const Hdf5FileMeta> meta) {
  auto set = std::make_shared<Hdf5FileSet>();
  set->paths.push_back(meta->path);
  set->files.push_back(std::move(meta));
  set->errors.emplace_back();
  set->reference = 0;
  finish(*set);
  return set;
}

std::shared_ptr<const Hdf5FileSet> open_hdf5_files(const std::vector<std::string>& paths,
                                                   const std::vector<std::string>& names, const Hdf5Options& options) {
  if (paths.empty()) throw Error(ErrorCode::kInvalidArgument, "hdf5: no files given", {options.name, "", std::nullopt});
  if (options.max_open_files < 1) {
    throw Error(ErrorCode::kInvalidArgument, "hdf5: max_open_files must be >= 1", {options.name, "", std::nullopt});
  }
  auto set = std::make_shared<Hdf5FileSet>();
  for (const std::string& path : paths) {
    std::shared_ptr<const Hdf5FileMeta> meta;
    std::optional<Error> error;
    try {
      meta = open_hdf5_meta(path, names, options);
      if (set->reference) {
        std::string why = mismatch(*meta, *set->files[*set->reference]);
        if (!why.empty()) error = Error(ErrorCode::kInvalidArgument, why, {options.name, path, std::nullopt});
      }
    } catch (const Error& e) {
      error = e.with_context({options.name, path, std::nullopt});
    }
    if (error) meta.reset();
    if (meta && !set->reference) set->reference = set->files.size();
    set->paths.push_back(path);
    set->files.push_back(std::move(meta));
    set->errors.push_back(std::move(error));
  }
  finish(*set);
  return set;
}

std::shared_ptr<Hdf5OpenFile> Hdf5HandleCache::get(std::size_t f, const Hdf5FileMeta& meta) {
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    if (it->first == f) {
      open_.splice(open_.begin(), open_, it);
      return open_.front().second;
    }
  }
  std::shared_ptr<Hdf5OpenFile> h = open_hdf5_file(meta);
  if (open_.size() >= max_open_) open_.pop_back();
  open_.emplace_front(f, h);
  return h;
}

}  // namespace stoker::detail
