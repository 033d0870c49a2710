// HDF5 block reads (see hdf5_reader.h): read_hdf5_block and read_rows_into fill rows from the open
// datasets, through H5Dread or raw chunks decoded outside the lock; failures are retried piece by
// piece so only bad rows are reported, and a file cut while being read is noticed. Opening and
// validation are in hdf5_open.cc.
#include "formats/hdf5_reader.h"

#include <oneapi/tbb/parallel_for.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>

#include "formats/hdf5_chunk.h"

namespace stoker::detail {
namespace {

std::string rows_text(std::int64_t a, std::int64_t b) {
  return b - a == 1 ? "row " + std::to_string(a) : "rows " + std::to_string(a) + ".." + std::to_string(b - 1);
}

// H5Dread of rows [lo, hi) into `dst` (native type). Throws kDataLoss.
void read_rows(hid_t dset, const Hdf5DatasetMeta& m, std::int64_t lo, std::int64_t hi, void* dst, hid_t mem_type) {
  Hdf5Lock lock;
  int rank = m.row_shape.rank() + 1;
  std::vector<hsize_t> start(static_cast<std::size_t>(rank), 0), count(static_cast<std::size_t>(rank));
  start[0] = static_cast<hsize_t>(lo);
  count[0] = static_cast<hsize_t>(hi - lo);
  for (int i = 1; i < rank; ++i) count[static_cast<std::size_t>(i)] = static_cast<hsize_t>(m.row_shape[i - 1]);
  H5Id fspace(H5Dget_space(dset));
  H5Id mspace(H5Screate_simple(rank, count.data(), nullptr));
  if (!fspace || !mspace ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0 ||
      H5Dread(dset, mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, dst) < 0) {
    throw Error(ErrorCode::kDataLoss, "dataset '" + m.name + "' " + rows_text(lo, hi) +
                                          ": read failed: libhdf5: " + hdf5_error_stack());
  }
}

// Reads rows [lo, hi) of a vlen dataset as tensors. Throws kDataLoss.
void read_vlen_rows(hid_t dset, const Hdf5DatasetMeta& m, std::int64_t lo, std::int64_t hi, std::vector<Tensor>& out) {
  std::vector<hvl_t> buf(static_cast<std::size_t>(hi - lo));
  Hdf5Lock lock;
  H5Id mtype(H5Tvlen_create(H5T_NATIVE_UINT8));
  hsize_t start = static_cast<hsize_t>(lo), count = static_cast<hsize_t>(hi - lo);
  H5Id fspace(H5Dget_space(dset));
  H5Id mspace(H5Screate_simple(1, &count, nullptr));
  if (!mtype || !fspace || !mspace ||
      H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0 ||
      H5Dread(dset, mtype.get(), mspace.get(), fspace.get(), H5P_DEFAULT, buf.data()) < 0) {
    throw Error(ErrorCode::kDataLoss, "dataset '" + m.name + "' " + rows_text(lo, hi) +
                                          ": read failed: libhdf5: " + hdf5_error_stack());
  }
  lock.unlock();
  for (const hvl_t& v : buf) {
    Tensor t(DType::kU8, Shape{static_cast<std::int64_t>(v.len)});
    if (v.len) std::memcpy(t.mutable_data(), v.p, v.len);
    out.push_back(std::move(t));
  }
  lock.lock();
  H5Dvlen_reclaim(mtype.get(), mspace.get(), H5P_DEFAULT, buf.data());
}

struct RawChunk {
  std::int64_t first_row = 0;  // of the chunk in the dataset
  std::unique_ptr<std::byte[]> bytes;  // compressed; not zeroed (H5Dread_chunk fills it under the lock)
  std::size_t size = 0;
  unsigned mask = 0;
  bool missing = false;  // never written: read through H5Dread (fill value)
  std::optional<Error> error;
};

using BadList = std::vector<Hdf5Block::Bad>;

// Runs `read(lo, hi)` over [lo, hi); on failure retries piece by piece (`piece` rows) so only the
// pieces that fail are recorded as bad.
template <class Read>
void read_localised(std::int64_t lo, std::int64_t hi, std::int64_t piece, const ErrorContext& ctx, BadList& bad,
                    Read read) {
  try {
    read(lo, hi);
    return;
  } catch (const Error& e) {
    if (hi - lo <= piece) {
      bad.push_back({lo, hi, e.with_context({ctx.stage, ctx.source, lo})});
      return;
    }
  }
  for (std::int64_t a = lo; a < hi; a = std::min(hi, (a / piece + 1) * piece)) {
    std::int64_t b = std::min(hi, (a / piece + 1) * piece);
    try {
      read(a, b);
    } catch (const Error& e) {
      bad.push_back({a, b, e.with_context({ctx.stage, ctx.source, a})});
    }
  }
}

// `file_bytes`: the file's size; a chunk whose index claims more stored bytes than that is
// corrupt and is refused before its buffer is allocated.
void read_raw(const Hdf5DatasetMeta& m, hid_t dset, Hdf5Block& block, std::byte* dst, const ErrorContext& ctx,
              BadList& bad, MemoryBudget* budget, StageCounters* counters, std::uint64_t file_bytes) {
  const std::int64_t cr = m.chunk_rows, lo = block.row_begin, hi = block.row_end;
  std::vector<RawChunk> chunks;
  for (std::int64_t c = lo / cr; c * cr < hi; ++c) chunks.push_back(RawChunk{.first_row = c * cr});
  const int rank = m.row_shape.rank() + 1;
  std::size_t raw_total = 0;
  {
    Hdf5Lock lock;
    std::vector<hsize_t> offset(static_cast<std::size_t>(rank), 0);
    for (RawChunk& ch : chunks) {
      offset[0] = static_cast<hsize_t>(ch.first_row);
      hsize_t nbytes = 0;
      if (H5Dget_chunk_storage_size(dset, offset.data(), &nbytes) < 0) {
        ch.error = Error(ErrorCode::kDataLoss, "chunk index unreadable: libhdf5: " + hdf5_error_stack());
        continue;
      }
      if (nbytes == 0) {
        ch.missing = true;
        continue;
      }
      if (nbytes > file_bytes) {
        ch.error = Error(ErrorCode::kDataLoss, "the chunk index gives chunk " + std::to_string(ch.first_row / cr) + " " +
                                                   std::to_string(nbytes) + " stored bytes, more than the file's " +
                                                   std::to_string(file_bytes) + " (corrupt chunk index)");
        continue;
      }
      ch.bytes = std::make_unique_for_overwrite<std::byte[]>(nbytes);
      ch.size = nbytes;
      std::uint32_t mask = 0;
      if (H5Dread_chunk(dset, H5P_DEFAULT, offset.data(), &mask, ch.bytes.get()) < 0) {
        ch.error = Error(ErrorCode::kDataLoss, "raw chunk read failed: libhdf5: " + hdf5_error_stack());
        ch.bytes.reset();
        continue;
      }
      ch.mask = mask;
      raw_total += nbytes;
    }
  }
  // The compressed bytes are held while decoding: charge them too.
  MemoryCharge raw_charge(budget, counters, raw_total);
  const std::size_t chunk_bytes = static_cast<std::size_t>(cr) * m.row_bytes;
  const std::size_t esize = dtype_size(m.dtype);
  std::vector<std::optional<Error>> errors(chunks.size());
  auto decode_one = [&](std::size_t i, std::vector<std::byte>& scratch, std::vector<std::byte>& whole) {
    RawChunk& ch = chunks[i];
    std::int64_t a = std::max(lo, ch.first_row), b = std::min(hi, ch.first_row + cr);
    std::byte* out = dst + static_cast<std::size_t>(a - lo) * m.row_bytes;
    try {
      if (ch.error) throw *ch.error;
      if (ch.missing) {
        read_rows(dset, m, a, b, out, hdf5_native_type(m.dtype));
        return;
      }
      if (a == ch.first_row && b == ch.first_row + cr) {
        decode_chunk(m.filters, ch.mask, {ch.bytes.get(), ch.size}, esize, out, chunk_bytes, scratch);
      } else {  // the chunk straddles the block (or the dataset's end): decode whole, keep a part
        whole.resize(chunk_bytes);
        decode_chunk(m.filters, ch.mask, {ch.bytes.get(), ch.size}, esize, whole.data(), chunk_bytes, scratch);
        std::memcpy(out, whole.data() + static_cast<std::size_t>(a - ch.first_row) * m.row_bytes,
                    static_cast<std::size_t>(b - a) * m.row_bytes);
      }
    } catch (const Error& e) {
      errors[i] = Error(e.code(), "dataset '" + m.name + "' " + rows_text(a, b) + ": " + e.message(), {});
    }
    ch.bytes.reset();
  };
  tbb::parallel_for(std::size_t{0}, chunks.size(), [&](std::size_t i) {
    // Per-thread decode buffers, kept between blocks: at most two chunks per thread.
    thread_local std::vector<std::byte> scratch, whole;
    decode_one(i, scratch, whole);
  });
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (!errors[i]) continue;
    std::int64_t a = std::max(lo, chunks[i].first_row), b = std::min(hi, chunks[i].first_row + cr);
    bad.push_back({a, b, errors[i]->with_context({ctx.stage, ctx.source, a})});
  }
}

// An error when the open file is now shorter than when it was opened: rows [lo, hi) read from
// it meanwhile may be libhdf5's zero fill, not data. (The open file is checked, not the path: a
// file deleted or replaced by rename is still read whole.)
std::optional<Error> cut_while_read(const Hdf5OpenFile& file, std::int64_t lo, std::int64_t hi, const ErrorContext& ctx) {
  struct stat st{};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size) >= file.eoa) return std::nullopt;
  return Error(ErrorCode::kDataLoss,
               "the file is now " + std::to_string(st.st_size) + " bytes, shorter than the " + std::to_string(file.eoa) +
                   " bytes it had when opened: it was cut while being read (rows " + std::to_string(lo) + "-" +
                   std::to_string(hi - 1) + " not delivered)",
               ctx);
}

}  // namespace

void read_rows_into(const Hdf5FileMeta& meta, Hdf5OpenFile& file, std::int64_t lo, std::int64_t hi,
                    std::byte* const* dst, const std::string& stage) {
  const ErrorContext ctx{stage, meta.path, lo};
  for (std::size_t d = 0; d < meta.datasets.size(); ++d) {
    const Hdf5DatasetMeta& m = meta.datasets[d];
    try {
      read_rows(file.datasets[d].get(), m, lo, hi, dst[d], hdf5_native_type(m.dtype));
    } catch (const Error& e) {
      throw e.with_context(ctx);
    }
  }
  if (auto cut = cut_while_read(file, lo, hi, ctx)) throw *cut;
}

void read_hdf5_block(const Hdf5FileMeta& meta, Hdf5OpenFile& file, Hdf5Block& block, const std::string& stage,
                     const std::atomic<bool>& stop, MemoryBudget* budget, StageCounters* counters) {
  ErrorContext ctx{stage, meta.path, std::nullopt};
  BadList bad;
  std::size_t bytes = 0;
  try {
    for (std::size_t d = 0; d < meta.datasets.size(); ++d) {
      if (stop.load(std::memory_order_relaxed)) {
        throw Error(ErrorCode::kCancelled, "iterator destroyed", ctx);
      }
      const Hdf5DatasetMeta& m = meta.datasets[d];
      hid_t dset = file.datasets[d].get();
      std::int64_t piece = m.chunk_rows > 0 ? m.chunk_rows : 1;
      if (m.vlen) {
        auto& rows = block.vlen[d];
        rows.clear();
        read_localised(block.row_begin, block.row_end, piece, ctx, bad, [&](std::int64_t a, std::int64_t b) {
          std::vector<Tensor> got;
          read_vlen_rows(dset, m, a, b, got);
          // Rows of a failed piece stay empty tensors; they are never delivered (marked bad).
          rows.resize(static_cast<std::size_t>(a - block.row_begin));
          for (Tensor& t : got) rows.push_back(std::move(t));
        });
        rows.resize(static_cast<std::size_t>(block.row_end - block.row_begin));
        for (const Tensor& t : rows) bytes += t.nbytes();
        block.vlen_charge = MemoryCharge(budget, counters, bytes);
      } else if (m.raw_decode) {
        std::error_code ec;
        const std::uintmax_t file_bytes = std::filesystem::file_size(meta.path, ec);
        read_raw(m, dset, block, block.fixed[d].get(), ctx, bad, budget, counters,
                 ec ? std::numeric_limits<std::uint64_t>::max() : file_bytes);
      } else {
        std::byte* dst = block.fixed[d].get();
        read_localised(block.row_begin, block.row_end, piece, ctx, bad, [&](std::int64_t a, std::int64_t b) {
          read_rows(dset, m, a, b, dst + static_cast<std::size_t>(a - block.row_begin) * m.row_bytes,
                    hdf5_native_type(m.dtype));
        });
      }
    }
  } catch (...) {
    block.fatal = std::current_exception();
  }
  // Checked after the reads: rows read from a file cut meanwhile may be zeros, not data.
  if (!block.fatal) {
    if (auto cut = cut_while_read(file, block.row_begin, block.row_end, ctx)) block.fatal = std::make_exception_ptr(*cut);
  }
  // Merge the bad ranges of all datasets: a row is bad if any of its components is.
  std::sort(bad.begin(), bad.end(), [](const auto& x, const auto& y) { return x.begin < y.begin; });
  for (Hdf5Block::Bad& b : bad) {
    if (!block.bad.empty() && b.begin <= block.bad.back().end) {
      block.bad.back().end = std::max(block.bad.back().end, b.end);
    } else {
      block.bad.push_back(std::move(b));
    }
  }
}

}  // namespace stoker::detail
