// Raw-chunk decoding: inflate (libdeflate) and byte unshuffle (see hdf5_chunk.h).
#include "formats/hdf5_chunk.h"

#include <cstring>
#include <limits>

#include "formats/inflate.h"

namespace stoker::detail {
bool raw_decode_supported(const std::vector<Hdf5FilterSpec>& filters) {
  for (const Hdf5FilterSpec& f : filters) {
    if (f.id != H5Z_FILTER_DEFLATE && f.id != H5Z_FILTER_SHUFFLE) return false;
  }
  return true;
}

void byte_unshuffle(const std::byte* in, std::byte* out, std::size_t bytes, std::size_t element_size) {
  std::size_t n = bytes / element_size;
  if (element_size == 1) {
    std::memcpy(out, in, bytes);
    return;
  }
  // Outer loop over byte planes keeps the reads sequential; the writes stride by element_size.
  for (std::size_t k = 0; k < element_size; ++k) {
    const std::byte* plane = in + k * n;
    for (std::size_t i = 0; i < n; ++i) out[i * element_size + k] = plane[i];
  }
  std::memcpy(out + n * element_size, in + n * element_size, bytes - n * element_size);
}

void decode_chunk(const std::vector<Hdf5FilterSpec>& filters, unsigned filter_mask, std::span<const std::byte> raw,
                  std::size_t element_size, std::byte* out, std::size_t out_bytes, std::vector<std::byte>& scratch) {
  // The filters to undo, last-applied first.
  std::vector<int> steps;
  for (std::size_t i = filters.size(); i-- > 0;) {
    if (filter_mask & (1u << i)) continue;
    steps.push_back(filters[i].id);
  }
  if (steps.empty()) {
    if (raw.size() != out_bytes) {
      throw Error(ErrorCode::kDataLoss, "unfiltered chunk holds " + std::to_string(raw.size()) + " bytes, expected " +
                                            std::to_string(out_bytes));
    }
    std::memcpy(out, raw.data(), out_bytes);
    return;
  }
  // Ping-pong: every step but the last writes to scratch; the last writes to `out`.
  std::vector<std::byte> other;
  std::span<const std::byte> cur = raw;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    bool last = s + 1 == steps.size();
    std::vector<std::byte>& buf = (s % 2 == 0) ? scratch : other;
    std::byte* dst = out;
    if (!last) {
      buf.resize(out_bytes);
      dst = buf.data();
    }
    if (steps[s] == H5Z_FILTER_DEFLATE) {
      inflate_zlib(cur, dst, out_bytes);
    } else if (steps[s] == H5Z_FILTER_SHUFFLE) {
      if (cur.size() != out_bytes) {
        throw Error(ErrorCode::kDataLoss, "shuffled chunk holds " + std::to_string(cur.size()) + " bytes, expected " +
                                              std::to_string(out_bytes));
      }
      byte_unshuffle(cur.data(), dst, out_bytes, element_size);
    } else {
      throw Error(ErrorCode::kUnsupported, "raw chunk decode: filter " + hdf5_filter_name(steps[s]));
    }
    if (!last) cur = std::span<const std::byte>(dst, out_bytes);
  }
}

}  // namespace stoker::detail
