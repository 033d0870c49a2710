// The reading half of the HDF5 source: validated metadata of a set of row-aligned datasets, the
// per-iterator open handles, and read_hdf5_block(), which fills one block of rows. Defined in
// hdf5_open.cc (metadata, open handles) and hdf5_reader.cc (block reads).
//
// Memory: a Block owns one buffer of block_rows x row_bytes per fixed-size dataset (reused by the
// iterator between blocks) and the row tensors of its vlen datasets; read_block additionally holds
// the raw (compressed) chunks of one dataset of the block while decoding them.
// Threads: read_block runs on a TBB worker; every HDF5 call in it takes the process-wide lock,
// decoding runs outside it (tbb::parallel_for over the block's chunks).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "formats/hdf5_common.h"
#include "formats/hdf5_source.h"
#include "pipeline/element.h"
#include "pipeline/memory_budget.h"

namespace stoker::detail {

struct Hdf5DatasetMeta {
  std::string name;
  bool vlen = false;            // vlen uint8: one 1-D uint8 tensor per row
  DType dtype = DType::kU8;     // fixed-size datasets
  Shape row_shape;              // dims after the first
  std::size_t row_bytes = 0;    // fixed-size: bytes of one row in memory
  std::int64_t chunk_rows = 0;  // 0: contiguous layout
  bool raw_decode = false;      // read with H5Dread_chunk and decode outside the lock
  std::vector<Hdf5FilterSpec> filters;
};

struct Hdf5FileMeta {
  std::string path;
  std::vector<Hdf5DatasetMeta> datasets;
  std::int64_t rows = 0;
  std::int64_t block_rows = 1;
  std::int64_t num_blocks = 0;
};

// Opens and validates (see hdf5_source.h for the errors); closes the file again.
std::shared_ptr<const Hdf5FileMeta> open_hdf5_meta(const std::string& path, const std::vector<std::string>& names,
                                                   const Hdf5Options& options);

// Handles one iterator keeps open for its life.
struct Hdf5OpenFile {
  H5Id file;
  std::vector<H5Id> datasets;
  // End of the address space libhdf5 found at open: a file now shorter was cut while being read
  // (libhdf5's sec2 driver zero-fills reads past EOF, so this check is what notices).
  std::uint64_t eoa = 0;
  int fd = -1;  // libhdf5's descriptor (sec2 driver), for fstat; -1 when unavailable
};
std::unique_ptr<Hdf5OpenFile> open_hdf5_file(const Hdf5FileMeta& meta);

struct Hdf5Block {
  std::int64_t row_begin = 0, row_end = 0;
  std::vector<std::shared_ptr<std::byte>> fixed;  // per dataset (null for vlen): rows in order
  std::vector<std::vector<Tensor>> vlen;           // per dataset (empty for fixed)
  struct Bad {
    std::int64_t begin, end;  // rows [begin, end) could not be read
    Error error;
  };
  std::vector<Bad> bad;  // sorted, disjoint
  std::exception_ptr fatal;  // the block could not be read at all (e.g. cancelled)
  MemoryCharge charge;       // the fixed buffers, charged by the iterator when it starts the read
  MemoryCharge vlen_charge;  // the vlen rows, charged by read_hdf5_block
};

// Fills `block` (row range and buffers already set). Never throws: failures become Bad ranges
// (localised to a chunk or row where possible) or `fatal`.
void read_hdf5_block(const Hdf5FileMeta& meta, Hdf5OpenFile& file, Hdf5Block& block, const std::string& stage,
                     const std::atomic<bool>& stop, MemoryBudget* budget, StageCounters* counters);

// Reads rows [lo, hi) of every (fixed-size, not raw-decoded) dataset straight into dst[d], the
// rows of dataset d contiguous there: one H5Dread per dataset, no intermediate buffer. Throws
// kDataLoss naming the file and the first row (also when the file was cut while being read).
void read_rows_into(const Hdf5FileMeta& meta, Hdf5OpenFile& file, std::int64_t lo, std::int64_t hi,
                    std::byte* const* dst, const std::string& stage);

}  // namespace stoker::detail
