// Hdf5Writer and hdf5_describe (see hdf5_writer.h).
#include "formats/hdf5_writer.h"

#include <cstring>
#include <filesystem>

#include "formats/hdf5_common.h"

namespace stoker {

using detail::H5Id;
using detail::Hdf5Lock;

struct Hdf5Writer::Dset {
  std::string name;
  H5Id id;
  bool vlen = false;
  DType dtype = DType::kU8;
  Shape row_shape;
  std::size_t row_bytes = 0;
  std::int64_t rows = 0;        // written to the file
  std::int64_t chunk_rows = 1;
  std::vector<std::vector<std::byte>> pending;  // vlen rows not yet written
};

namespace {

H5Id make_dcpl(int rank, std::int64_t chunk_rows, const Shape& row_shape, const Hdf5DatasetOptions& o) {
  H5Id dcpl(H5Pcreate(H5P_DATASET_CREATE));
  std::vector<hsize_t> chunk(static_cast<std::size_t>(rank));
  chunk[0] = static_cast<hsize_t>(chunk_rows);
  for (int i = 1; i < rank; ++i) chunk[static_cast<std::size_t>(i)] = static_cast<hsize_t>(row_shape[i - 1]);
  bool ok = dcpl && H5Pset_chunk(dcpl.get(), rank, chunk.data()) >= 0;
  if (ok && o.fletcher32) ok = H5Pset_fletcher32(dcpl.get()) >= 0;
  if (ok && o.shuffle) ok = H5Pset_shuffle(dcpl.get()) >= 0;
  if (ok && o.deflate_level > 0) ok = H5Pset_deflate(dcpl.get(), static_cast<unsigned>(o.deflate_level)) >= 0;
  if (!ok) return H5Id();
  return dcpl;
}

}  // namespace

Hdf5Writer::Hdf5Writer(std::string path, bool truncate)
    : path_(std::move(path)), uncaught_(std::uncaught_exceptions()) {
  std::error_code ec;
  if (!truncate && std::filesystem::exists(path_, ec)) {
    throw Error(ErrorCode::kIo, "the file exists (not replacing it)", {"hdf5_writer", path_, std::nullopt});
  }
  out_ = std::make_unique<AtomicFile>(path_, "hdf5_writer");
  Hdf5Lock lock;
  hid_t f = H5Fcreate(out_->temp_path().c_str(), H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    out_->fail();
    detail::throw_hdf5(ErrorCode::kIo, "cannot create the HDF5 file", {"hdf5_writer", path_, std::nullopt});
  }
  file_ = f;
}

Hdf5Writer::~Hdf5Writer() {
  if (std::uncaught_exceptions() > uncaught_) discard();
  try {
    close();
  } catch (...) {  // never throw from a destructor; call close() to see errors
  }
}

void Hdf5Writer::discard() noexcept {
  if (out_) out_->fail();  // close() then closes the handle and publishes nothing
}

Hdf5Writer::Hdf5Writer(Hdf5Writer&& o) noexcept
    : path_(std::move(o.path_)), out_(std::move(o.out_)), uncaught_(o.uncaught_), file_(std::exchange(o.file_, -1)),
      dsets_(std::move(o.dsets_)) {}

Hdf5Writer& Hdf5Writer::operator=(Hdf5Writer&& o) noexcept {
  if (this != &o) {
    try {
      close();
    } catch (...) {
    }
    path_ = std::move(o.path_);
    out_ = std::move(o.out_);
    uncaught_ = o.uncaught_;
    file_ = std::exchange(o.file_, -1);
    dsets_ = std::move(o.dsets_);
  }
  return *this;
}

void Hdf5Writer::create(const std::string& raw_name, DType dtype, Shape row_shape, Hdf5DatasetOptions options) {
  std::string name = detail::hdf5_abs_name(raw_name);
  ErrorContext ctx{"hdf5_writer", path_, std::nullopt};
  if (file_ < 0) throw Error(ErrorCode::kInvalidArgument, "create('" + name + "') after close()", ctx);
  if (dsets_.count(name)) throw Error(ErrorCode::kInvalidArgument, "dataset '" + name + "' already created", ctx);
  if (row_shape.rank() >= Shape::kMaxRank) throw Error(ErrorCode::kInvalidArgument, "row rank above 7", ctx);
  auto d = std::make_unique<Dset>();
  d->name = name;
  d->dtype = dtype;
  d->row_shape = row_shape;
  d->row_bytes = static_cast<std::size_t>(row_shape.num_elements()) * dtype_size(dtype);
  hid_t mem_type = detail::hdf5_native_type(dtype);  // throws kUnsupported for f16/bf16
  d->chunk_rows = options.chunk_rows > 0
                      ? options.chunk_rows
                      : std::max<std::int64_t>(1, static_cast<std::int64_t>((std::size_t{1} << 20) /
                                                                            std::max<std::size_t>(1, d->row_bytes)));
  int rank = row_shape.rank() + 1;
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank), 0), maxdims(static_cast<std::size_t>(rank));
  maxdims[0] = H5S_UNLIMITED;
  for (int i = 1; i < rank; ++i) {
    dims[static_cast<std::size_t>(i)] = maxdims[static_cast<std::size_t>(i)] = static_cast<hsize_t>(row_shape[i - 1]);
  }
  Hdf5Lock lock;
  H5Id space(H5Screate_simple(rank, dims.data(), maxdims.data()));
  H5Id dcpl = make_dcpl(rank, d->chunk_rows, row_shape, options);
  H5Id lcpl(H5Pcreate(H5P_LINK_CREATE));
  if (lcpl) H5Pset_create_intermediate_group(lcpl.get(), 1);
  if (!space || !dcpl || !lcpl) detail::throw_hdf5(ErrorCode::kInvalidArgument, "bad dataset options for '" + name + "'", ctx);
  d->id = H5Id(H5Dcreate2(file_, name.c_str(), mem_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
  if (!d->id) detail::throw_hdf5(ErrorCode::kIo, "cannot create dataset '" + name + "'", ctx);
  dsets_[name] = std::move(d);
}

void Hdf5Writer::create_bytes(const std::string& raw_name, Hdf5DatasetOptions options) {
  std::string name = detail::hdf5_abs_name(raw_name);
  ErrorContext ctx{"hdf5_writer", path_, std::nullopt};
  if (file_ < 0) throw Error(ErrorCode::kInvalidArgument, "create_bytes('" + name + "') after close()", ctx);
  if (dsets_.count(name)) throw Error(ErrorCode::kInvalidArgument, "dataset '" + name + "' already created", ctx);
  auto d = std::make_unique<Dset>();
  d->name = name;
  d->vlen = true;
  d->chunk_rows = options.chunk_rows > 0 ? options.chunk_rows : 256;
  hsize_t dims = 0, maxdims = H5S_UNLIMITED;
  Hdf5Lock lock;
  H5Id type(H5Tvlen_create(H5T_NATIVE_UINT8));
  H5Id space(H5Screate_simple(1, &dims, &maxdims));
  H5Id dcpl = make_dcpl(1, d->chunk_rows, Shape{}, options);
  H5Id lcpl(H5Pcreate(H5P_LINK_CREATE));
  if (lcpl) H5Pset_create_intermediate_group(lcpl.get(), 1);
  if (!type || !space || !dcpl || !lcpl) {
    detail::throw_hdf5(ErrorCode::kInvalidArgument, "bad dataset options for '" + name + "'", ctx);
  }
  d->id = H5Id(H5Dcreate2(file_, name.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT));
  if (!d->id) detail::throw_hdf5(ErrorCode::kIo, "cannot create dataset '" + name + "'", ctx);
  dsets_[name] = std::move(d);
}

Hdf5Writer::Dset& Hdf5Writer::find(const std::string& name) {
  auto it = dsets_.find(detail::hdf5_abs_name(name));
  if (it == dsets_.end() || file_ < 0) {
    throw Error(ErrorCode::kNotFound, "no dataset '" + detail::hdf5_abs_name(name) + "' created in this writer (or writer closed)",
                {"hdf5_writer", path_, std::nullopt});
  }
  return *it->second;
}

const Hdf5Writer::Dset& Hdf5Writer::find(const std::string& name) const {
  return const_cast<Hdf5Writer*>(this)->find(name);
}

std::int64_t Hdf5Writer::rows(const std::string& name) const {
  const Dset& d = find(name);
  return d.rows + static_cast<std::int64_t>(d.pending.size());
}

void Hdf5Writer::append(const std::string& name, const Tensor& rows) {
  Dset& d = find(name);
  ErrorContext ctx{"hdf5_writer", path_, std::nullopt};
  if (d.vlen) throw Error(ErrorCode::kInvalidArgument, "'" + d.name + "' holds bytes: use append_bytes()", ctx);
  if (rows.dtype() != d.dtype) {
    throw Error(ErrorCode::kInvalidArgument, "append to '" + d.name + "': dtype " + dtype_name(rows.dtype()) +
                                                 ", dataset is " + dtype_name(d.dtype), ctx);
  }
  if (rows.shape().rank() != d.row_shape.rank() + 1 || rows.shape().drop_front() != d.row_shape) {
    throw Error(ErrorCode::kInvalidArgument, "append to '" + d.name + "': shape " + rows.shape().to_string() +
                                                 " is not [n]+" + d.row_shape.to_string(), ctx);
  }
  append_raw(name, rows.dtype(), rows.data(), static_cast<std::size_t>(rows.shape().num_elements()));
}

void Hdf5Writer::append_raw(const std::string& name, DType dtype, const void* data, std::size_t count) {
  Dset& d = find(name);
  ErrorContext ctx{"hdf5_writer", path_, std::nullopt};
  if (d.vlen || dtype != d.dtype) {
    throw Error(ErrorCode::kInvalidArgument, "append to '" + d.name + "': wrong dtype " + dtype_name(dtype), ctx);
  }
  std::size_t per_row = static_cast<std::size_t>(d.row_shape.num_elements());
  if (per_row == 0 || count % per_row != 0) {
    throw Error(ErrorCode::kInvalidArgument, "append to '" + d.name + "': " + std::to_string(count) +
                                                 " values is not a whole number of rows of " +
                                                 d.row_shape.to_string(), ctx);
  }
  hsize_t n = count / per_row;
  if (n == 0) return;
  int rank = d.row_shape.rank() + 1;
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), start(static_cast<std::size_t>(rank), 0);
  dims[0] = static_cast<hsize_t>(d.rows) + n;
  for (int i = 1; i < rank; ++i) dims[static_cast<std::size_t>(i)] = static_cast<hsize_t>(d.row_shape[i - 1]);
  std::vector<hsize_t> count_dims = dims;
  count_dims[0] = n;
  start[0] = static_cast<hsize_t>(d.rows);
  Hdf5Lock lock;
  if (H5Dset_extent(d.id.get(), dims.data()) < 0) {
    discard();  // sticky: a file missing rows is never published
    detail::throw_hdf5(ErrorCode::kIo, "cannot extend '" + d.name + "'", ctx);
  }
  H5Id fspace(H5Dget_space(d.id.get()));
  H5Id mspace(H5Screate_simple(rank, count_dims.data(), nullptr));
  if (!fspace || !mspace ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count_dims.data(), nullptr) < 0 ||
      H5Dwrite(d.id.get(), detail::hdf5_native_type(d.dtype), mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0) {
    discard();
    detail::throw_hdf5(ErrorCode::kIo, "cannot write " + std::to_string(n) + " rows to '" + d.name + "'", ctx);
  }
  d.rows += static_cast<std::int64_t>(n);
}

void Hdf5Writer::append_bytes(const std::string& name, std::span<const std::byte> bytes) {
  Dset& d = find(name);
  if (!d.vlen) {
    throw Error(ErrorCode::kInvalidArgument, "'" + d.name + "' is not a bytes dataset (use create_bytes)",
                {"hdf5_writer", path_, std::nullopt});
  }
  d.pending.emplace_back(bytes.begin(), bytes.end());
  if (static_cast<std::int64_t>(d.pending.size()) >= d.chunk_rows) flush_bytes(d);
}

void Hdf5Writer::flush_bytes(Dset& d) {
  if (d.pending.empty()) return;
  ErrorContext ctx{"hdf5_writer", path_, std::nullopt};
  std::vector<hvl_t> vl(d.pending.size());
  for (std::size_t i = 0; i < vl.size(); ++i) vl[i] = hvl_t{d.pending[i].size(), d.pending[i].data()};
  hsize_t n = vl.size(), start = static_cast<hsize_t>(d.rows), dims = start + n;
  Hdf5Lock lock;
  H5Id type(H5Tvlen_create(H5T_NATIVE_UINT8));
  if (H5Dset_extent(d.id.get(), &dims) < 0) {
    discard();  // sticky: a file missing rows is never published
    detail::throw_hdf5(ErrorCode::kIo, "cannot extend '" + d.name + "'", ctx);
  }
  H5Id fspace(H5Dget_space(d.id.get()));
  H5Id mspace(H5Screate_simple(1, &n, nullptr));
  if (!type || !fspace || !mspace ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &n, nullptr) < 0 ||
      H5Dwrite(d.id.get(), type.get(), mspace.get(), fspace.get(), H5P_DEFAULT, vl.data()) < 0) {
    discard();
    detail::throw_hdf5(ErrorCode::kIo, "cannot write " + std::to_string(n) + " rows to '" + d.name + "'", ctx);
  }
  d.rows += static_cast<std::int64_t>(n);
  d.pending.clear();
}

void Hdf5Writer::write(const std::string& name, const Tensor& data, Hdf5DatasetOptions options) {
  if (data.shape().rank() < 1) {
    throw Error(ErrorCode::kInvalidArgument, "write('" + name + "'): need at least one dimension (rows)",
                {"hdf5_writer", path_, std::nullopt});
  }
  create(name, data.dtype(), data.shape().drop_front(), options);
  append(name, data);
}

void Hdf5Writer::close() {
  if (file_ < 0) return;
  std::optional<Error> first;
  for (auto& [name, d] : dsets_) {
    try {
      if (d->vlen) flush_bytes(*d);
    } catch (const Error& e) {
      if (!first) first = e;
    }
  }
  dsets_.clear();
  Hdf5Lock lock;
  herr_t rc = H5Fclose(file_);
  file_ = -1;
  if (rc < 0 && !first) first = Error(ErrorCode::kIo, "closing the file failed: libhdf5: " + detail::hdf5_error_stack(),
                                      {"hdf5_writer", path_, std::nullopt});
  if (first) {
    out_->fail();
    throw *first;
  }
  if (out_->failed()) {
    out_.reset();
    throw Error(ErrorCode::kIo, "not published: an earlier write failed or the writer was discarded",
                {"hdf5_writer", path_, std::nullopt});
  }
  out_->commit();
  out_.reset();
}

// ---------------------------------------------------------------------------------------------

Hdf5FileInfo hdf5_describe(const std::string& path) {
  ErrorContext ctx{"hdf5_describe", path, std::nullopt};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(ErrorCode::kNotFound, "no such file", ctx);
  Hdf5Lock lock;
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(ErrorCode::kDataLoss, "not an HDF5 file", ctx);
  }
  H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file) detail::throw_hdf5(ErrorCode::kDataLoss, "cannot open the HDF5 file (truncated or corrupt?)", ctx);
  Hdf5FileInfo info;
  info.path = path;
  for (const std::string& name : detail::hdf5_list_datasets(file.get())) {
    Hdf5DatasetInfo di;
    di.name = name;
    H5Id d(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT));
    if (!d) {
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    H5Id type(H5Dget_type(d.get()));
    H5Id space(H5Dget_space(d.get()));
    H5Id dcpl(H5Dget_create_plist(d.get()));
    if (!type || !space || !dcpl) {
      H5Eclear2(H5E_DEFAULT);
      continue;
    }
    int rank = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
    if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    for (hsize_t x : dims) di.shape.push_back(static_cast<std::int64_t>(x));
    if (detail::hdf5_is_vlen_bytes(type.get())) {
      di.vlen_bytes = true;
      di.dtype = "vlen uint8";
    } else {
      std::string why;
      di.stoker_dtype = detail::hdf5_dtype(type.get(), &why);
      di.dtype = di.stoker_dtype ? dtype_name(*di.stoker_dtype) : why;
    }
    switch (H5Pget_layout(dcpl.get())) {
      case H5D_CHUNKED: {
        di.layout = "chunked";
        std::vector<hsize_t> c(dims.size());
        H5Pget_chunk(dcpl.get(), rank, c.data());
        for (hsize_t x : c) di.chunk.push_back(static_cast<std::int64_t>(x));
        break;
      }
      case H5D_CONTIGUOUS: di.layout = "contiguous"; break;
      case H5D_COMPACT: di.layout = "compact"; break;
      default: di.layout = "other"; break;
    }
    for (const detail::Hdf5FilterSpec& f : detail::hdf5_filters(dcpl.get())) {
      di.filters.push_back({f.id, f.name, f.available, f.values});
    }
    di.storage_bytes = H5Dget_storage_size(d.get());
    H5Eclear2(H5E_DEFAULT);
    info.datasets.push_back(std::move(di));
  }
  return info;
}

std::string Hdf5FileInfo::to_string() const {
  auto dims = [](const std::vector<std::int64_t>& v) {
    std::string s = "[";
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
  };
  std::string out = path + "\n";
  for (const Hdf5DatasetInfo& d : datasets) {
    out += "  " + d.name + "  " + d.dtype + "  " + dims(d.shape) + "  " + d.layout;
    if (!d.chunk.empty()) out += " chunk " + dims(d.chunk);
    for (const Hdf5FilterInfo& f : d.filters) {
      out += " " + f.name;
      if (f.name == "deflate" && !f.values.empty()) out += "(" + std::to_string(f.values[0]) + ")";
      if (!f.available) out += "(UNAVAILABLE)";
    }
    out += "  " + std::to_string(d.storage_bytes) + " bytes\n";
  }
  return out;
}

}  // namespace stoker
