// Opening an HDF5 source (see hdf5_reader.h): open_hdf5_meta validates every named dataset
// (exists, is a dataset, dims whose product fits, dtype, filters this libhdf5 can decode, chunk
// dims) and sizes blocks aligned to the widest dataset's chunks; open_hdf5_file reopens the file
// and datasets an iterator keeps. Every HDF5 call holds the process-wide lock (Hdf5Lock).
#include "formats/hdf5_reader.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "formats/hdf5_chunk.h"
#include "pipeline/checked_size.h"

namespace stoker::detail {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "(none)" : s;
}

Hdf5DatasetMeta inspect_dataset(hid_t file, const std::string& path, const std::string& name,
                                const Hdf5Options& options, std::int64_t* rows) {
  ErrorContext ctx{options.name, path, std::nullopt};
  std::string what = "dataset '" + name + "'";
  if (!hdf5_path_exists(file, name)) {
    throw Error(ErrorCode::kNotFound, "no " + what + " in the file; it has: " + join(hdf5_list_datasets(file)), ctx);
  }
  H5Id obj(H5Oopen(file, name.c_str(), H5P_DEFAULT));
  if (!obj) throw_hdf5(ErrorCode::kDataLoss, "cannot open " + what, ctx);
  if (H5Iget_type(obj.get()) != H5I_DATASET) {
    throw Error(ErrorCode::kInvalidArgument, "'" + name + "' is a group, not a dataset", ctx);
  }
  Hdf5DatasetMeta m;
  m.name = name;
  H5Id type(H5Dget_type(obj.get()));
  H5Id space(H5Dget_space(obj.get()));
  H5Id dcpl(H5Dget_create_plist(obj.get()));
  if (!type || !space || !dcpl) throw_hdf5(ErrorCode::kDataLoss, "cannot read the header of " + what, ctx);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 1) throw Error(ErrorCode::kInvalidArgument, what + " is a scalar; need at least one dimension (rows)", ctx);
  if (rank > Shape::kMaxRank + 1) throw Error(ErrorCode::kUnsupported, what + " has rank above 9", ctx);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  // Dims come from the file: their product (and so every size derived from it) must fit, or a
  // crafted header would size buffers from a wrapped number.
  std::vector<std::int64_t> all_dims;
  for (hsize_t d : dims) all_dims.push_back(d > hsize_t{INT64_MAX} ? -1 : static_cast<std::int64_t>(d));
  if (!checked_num_elements(all_dims)) {
    std::string text;
    for (hsize_t d : dims) text += (text.empty() ? "" : ",") + std::to_string(d);
    throw Error(ErrorCode::kDataLoss, what + " has dims [" + text + "], whose product overflows 2^60 elements; corrupt header?", ctx);
  }
  *rows = static_cast<std::int64_t>(dims[0]);
  std::vector<std::int64_t> row_dims(dims.begin() + 1, dims.end());
  m.row_shape = Shape::from(row_dims);

  if (hdf5_is_vlen_bytes(type.get())) {
    if (rank != 1) throw Error(ErrorCode::kUnsupported, what + ": vlen bytes datasets must be 1-D", ctx);
    m.vlen = true;
  } else {
    std::string why;
    std::optional<DType> dt = hdf5_dtype(type.get(), &why);
    if (!dt) throw Error(ErrorCode::kUnsupported, what + " has dtype " + why, ctx);
    m.dtype = *dt;
    m.row_bytes = static_cast<std::size_t>(m.row_shape.num_elements()) * dtype_size(m.dtype);
  }
  m.filters = hdf5_filters(dcpl.get());
  for (const Hdf5FilterSpec& f : m.filters) {
    if (!f.available) {
      throw Error(ErrorCode::kUnsupported,
                  what + " is compressed with " + f.name + " (filter id " + std::to_string(f.id) +
                      "), which this libhdf5 cannot decode; install its plugin and set HDF5_PLUGIN_PATH, or "
                      "rewrite the file with gzip (h5repack -f GZIP=4)",
                  ctx);
    }
  }
  bool whole_rows = false;
  if (H5Pget_layout(dcpl.get()) == H5D_CHUNKED) {
    std::vector<hsize_t> cdims(static_cast<std::size_t>(rank));
    H5Pget_chunk(dcpl.get(), rank, cdims.data());
    hdf5_check_chunk_dims(space.get(), cdims, what, ctx);  // a corrupt header: see there
    m.chunk_rows = static_cast<std::int64_t>(cdims[0]);
    whole_rows = std::equal(cdims.begin() + 1, cdims.end(), dims.begin() + 1);
  }
  bool native_order = m.vlen || H5Tget_order(type.get()) == H5Tget_order(hdf5_native_type(m.dtype)) ||
                      dtype_size(m.dtype) == 1;
  m.raw_decode = options.raw_chunk_decode && !m.vlen && m.chunk_rows > 0 && whole_rows && native_order &&
                 !m.filters.empty() && raw_decode_supported(m.filters);
  return m;
}

}  // namespace

std::shared_ptr<const Hdf5FileMeta> open_hdf5_meta(const std::string& path, const std::vector<std::string>& names,
                                                   const Hdf5Options& options) {
  ErrorContext ctx{options.name, path, std::nullopt};
  if (names.empty()) throw Error(ErrorCode::kInvalidArgument, "hdf5: no datasets named", ctx);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, "no such file", ctx);
  if (options.read_ahead_blocks < -1) {
    throw Error(ErrorCode::kInvalidArgument, "read_ahead_blocks must be >= 0, or -1 for automatic", ctx);
  }
  auto meta = std::make_shared<Hdf5FileMeta>();
  meta->path = path;
  Hdf5Lock lock;
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(ErrorCode::kDataLoss, "not an HDF5 file (no HDF5 signature); corrupt or another format", ctx);
  }
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file) throw_hdf5(ErrorCode::kDataLoss, "cannot open the HDF5 file (truncated or corrupt?)", ctx);
  std::vector<std::int64_t> rows;
  for (const std::string& n : names) {
    std::int64_t r = 0;
    meta->datasets.push_back(inspect_dataset(file.get(), path, hdf5_abs_name(n), options, &r));
    rows.push_back(r);
  }
  for (std::size_t i = 1; i < rows.size(); ++i) {
    if (rows[i] != rows[0]) {
      std::string lens;
      for (std::size_t k = 0; k < rows.size(); ++k) {
        lens += (k ? ", " : "") + meta->datasets[k].name + ": " + std::to_string(rows[k]);
      }
      throw Error(ErrorCode::kInvalidArgument, "datasets have different numbers of rows (" + lens + ")", ctx);
    }
  }
  meta->rows = rows[0];

  // Block size: aligned to the chunks of the widest dataset (vlen rows estimated from storage).
  std::size_t total_row_bytes = 0, widest = 0;
  std::int64_t align = 1;
  for (std::size_t i = 0; i < meta->datasets.size(); ++i) {
    const Hdf5DatasetMeta& m = meta->datasets[i];
    std::size_t rb = m.row_bytes;
    if (m.vlen && meta->rows > 0) {
      // The bytes of vlen rows live in the global heap: estimate them from the first rows.
      H5Id d(H5Dopen2(file.get(), m.name.c_str(), H5P_DEFAULT));
      H5Id space(H5Dget_space(d.get()));
      H5Id type(H5Tvlen_create(H5T_NATIVE_UINT8));
      hsize_t start = 0, count = static_cast<hsize_t>(std::min<std::int64_t>(meta->rows, 64)), size = 0;
      if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0 ||
          H5Dvlen_get_buf_size(d.get(), type.get(), space.get(), &size) < 0) {
        throw_hdf5(ErrorCode::kDataLoss, "cannot read the row sizes of dataset '" + m.name + "'", ctx);
      }
      rb = static_cast<std::size_t>(size / count) + 64;
    }
    total_row_bytes += rb;
    if (rb >= widest && m.chunk_rows > 0) {
      widest = rb;
      align = m.chunk_rows;
    }
  }
  std::int64_t target = options.block_rows > 0
                            ? options.block_rows
                            : std::max<std::int64_t>(1, static_cast<std::int64_t>(options.block_bytes /
                                                                                  std::max<std::size_t>(1, total_row_bytes)));
  std::int64_t block = (target + align - 1) / align * align;
  if (meta->rows > 0) block = std::min(block, meta->rows);
  meta->block_rows = std::max<std::int64_t>(1, block);
  meta->num_blocks = (meta->rows + meta->block_rows - 1) / meta->block_rows;
  return meta;
}

std::unique_ptr<Hdf5OpenFile> open_hdf5_file(const Hdf5FileMeta& meta) {
  auto f = std::make_unique<Hdf5OpenFile>();
  Hdf5Lock lock;
  ErrorContext ctx{"hdf5", meta.path, std::nullopt};
  f->file = H5Id(H5Fopen(meta.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!f->file) throw_hdf5(ErrorCode::kDataLoss, "cannot reopen the HDF5 file", ctx);
  haddr_t eoa = 0;
  void* handle = nullptr;
  if (H5Fget_eoa(f->file.get(), &eoa) >= 0 && H5Fget_vfd_handle(f->file.get(), H5P_DEFAULT, &handle) >= 0 && handle) {
    f->eoa = static_cast<std::uint64_t>(eoa);
    f->fd = *static_cast<int*>(handle);
  }
  for (const Hdf5DatasetMeta& m : meta.datasets) {
    // Unfiltered chunks are read once per pass, in whole chunks: without a chunk cache libhdf5
    // reads them straight into the block instead of through the cache (one memcpy less per byte).
    H5Id dapl(H5Pcreate(H5P_DATASET_ACCESS));
    if (dapl && m.filters.empty() && m.chunk_rows > 0) {
      H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT);
    }
    f->datasets.emplace_back(H5Dopen2(f->file.get(), m.name.c_str(), dapl ? dapl.get() : H5P_DEFAULT));
    if (!f->datasets.back()) throw_hdf5(ErrorCode::kDataLoss, "cannot reopen dataset '" + m.name + "'", ctx);
  }
  return f;
}

}  // namespace stoker::detail
