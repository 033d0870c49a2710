// Hdf5Writer: writes row-major arrays into HDF5 files in appended blocks of rows, so files of any
// size are written with little RAM; plus hdf5_describe(), the listing behind `stoker inspect`.
//
//   stoker::Hdf5Writer w("train.h5");
//   w.create("/train/images", stoker::DType::kU8, {128, 128, 3}, {.chunk_rows = 16, .deflate_level = 4,
//                                                                 .shuffle = true});
//   w.create("/train/labels", stoker::DType::kI64, {});
//   w.create_bytes("/train/jpeg");              // vlen uint8: one encoded image per row
//   for (...) { w.append("/train/images", rows); w.append("/train/labels", labels);
//               w.append_bytes("/train/jpeg", jpeg_bytes); }
//   w.close();                                  // or let the destructor close it (errors ignored)
//
// The file is written at a hidden temporary name beside `path` (AtomicFile) and renamed to `path`
// only when close() succeeds: an existing file at `path` stays as it was until then, and a failed,
// interrupted or killed write never leaves a complete-looking file. A writer destroyed while an
// exception unwinds discards its file; destroyed normally it closes and publishes it.
//
// Datasets are chunked and extendible along rows (max dims unlimited); intermediate groups are
// created as needed. Memory: append() writes straight through (no copy of the rows); vlen rows are
// buffered up to one chunk (chunk_rows rows) before each write. Every libhdf5 call holds the
// process-wide HDF5 lock (hdf5_common.h), so writers and readers may run on any threads.
// Errors: stoker::Error naming the file and dataset (kInvalidArgument for shape/dtype mismatches,
// kIo when libhdf5 refuses a write).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pipeline/atomic_file.h"
#include "pipeline/error.h"
#include "pipeline/tensor.h"

namespace stoker {

struct Hdf5DatasetOptions {
  // Rows per chunk; 0: about 1 MiB of rows (at least 1). Chunks always cover whole rows.
  std::int64_t chunk_rows = 0;
  // zlib level 1-9; -1 or 0: no compression.
  int deflate_level = -1;
  // Byte-shuffle filter before deflate (helps multi-byte dtypes compress).
  bool shuffle = false;
  // Fletcher32 checksum per chunk (readers then decode through libhdf5, not in parallel).
  bool fletcher32 = false;
};

class Hdf5Writer {
 public:
  // Starts writing `path`; close() replaces an existing file (truncate=true) or the constructor
  // fails if one exists.
  explicit Hdf5Writer(std::string path, bool truncate = true);
  ~Hdf5Writer();
  Hdf5Writer(Hdf5Writer&&) noexcept;
  Hdf5Writer& operator=(Hdf5Writer&&) noexcept;

  // A fixed-size dataset of rows of `row_shape` (may be {} for scalars), 0 rows to start with.
  void create(const std::string& name, DType dtype, Shape row_shape, Hdf5DatasetOptions options = {});
  // A variable-length uint8 dataset (h5py's vlen bytes), one byte string per row.
  void create_bytes(const std::string& name, Hdf5DatasetOptions options = {});

  // Appends rows: `rows` has shape [n, row_shape...] and the dataset's dtype.
  void append(const std::string& name, const Tensor& rows);
  template <class T>
  void append(const std::string& name, std::span<const T> values) {
    append_raw(name, dtype_of<T>(), values.data(), values.size());
  }
  // Appends one row of bytes to a vlen dataset.
  void append_bytes(const std::string& name, std::span<const std::byte> bytes);
  void append_bytes(const std::string& name, std::span<const std::uint8_t> bytes) {
    append_bytes(name, std::as_bytes(bytes));
  }

  // create() + append() in one call: `data` is the whole array, [n, row_shape...].
  void write(const std::string& name, const Tensor& data, Hdf5DatasetOptions options = {});

  // Rows written (appended) to `name` so far, pending vlen rows included.
  std::int64_t rows(const std::string& name) const;
  const std::string& path() const { return path_; }

  // Flushes pending rows and closes the file; throws on failure. Idempotent.
  void close();
  // Abandons the file: close() then publishes nothing (and throws). Any failed write does this too,
  // so a torn file is never published.
  void discard() noexcept;

 private:
  struct Dset;
  Dset& find(const std::string& name);
  const Dset& find(const std::string& name) const;
  void append_raw(const std::string& name, DType dtype, const void* data, std::size_t count);
  void flush_bytes(Dset& d);

  std::string path_;
  std::unique_ptr<AtomicFile> out_;  // the temporary file libhdf5 writes; published by close()
  int uncaught_ = 0;                 // std::uncaught_exceptions() at construction
  long long file_ = -1;  // hid_t
  std::map<std::string, std::unique_ptr<Dset>> dsets_;
};

// hdf5_describe: what a file holds, for `stoker inspect` and friends.
struct Hdf5FilterInfo {
  int id = 0;
  std::string name;
  bool available = false;  // this libhdf5 can decode it
  std::vector<unsigned> values;
};

struct Hdf5DatasetInfo {
  std::string name;                  // "/train/images"
  std::string dtype;                 // "uint8", "float32", "vlen uint8", or HDF5's class for others
  std::optional<DType> stoker_dtype; // set when the hdf5 source can read it as a fixed-size tensor
  bool vlen_bytes = false;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> chunk;   // empty: not chunked
  std::string layout;                // "chunked", "contiguous", "compact"
  std::vector<Hdf5FilterInfo> filters;
  std::uint64_t storage_bytes = 0;   // bytes on disk
};

struct Hdf5FileInfo {
  std::string path;
  std::vector<Hdf5DatasetInfo> datasets;
  // One line per dataset: name dtype shape chunk filters storage.
  std::string to_string() const;
};

Hdf5FileInfo hdf5_describe(const std::string& path);

}  // namespace stoker
