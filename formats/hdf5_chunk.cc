// Raw-chunk decoding: zlib inflate and byte unshuffle (see hdf5_chunk.h).
#include "formats/hdf5_chunk.h"

#include <zlib.h>

#include <cstring>
#include <limits>

namespace stoker::detail {
namespace {

void inflate_into(std::span<const std::byte> in, std::byte* out, std::size_t out_bytes) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) throw Error(ErrorCode::kInternal, "zlib inflateInit failed");
  std::size_t in_left = in.size(), out_left = out_bytes;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.next_out = reinterpret_cast<Bytef*>(out);
  int rc = Z_OK;
  constexpr std::size_t kMaxStep = std::numeric_limits<uInt>::max();
  while (rc == Z_OK) {
    std::size_t in_step = std::min(in_left, kMaxStep), out_step = std::min(out_left, kMaxStep);
    z.avail_in = static_cast<uInt>(in_step);
    z.avail_out = static_cast<uInt>(out_step);
    rc = inflate(&z, Z_NO_FLUSH);
    in_left -= in_step - z.avail_in;
    out_left -= out_step - z.avail_out;
    if (rc == Z_OK && in_step == z.avail_in && out_step == z.avail_out) rc = Z_BUF_ERROR;  // no progress
  }
  std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    throw Error(ErrorCode::kDataLoss, "corrupt deflate chunk (zlib: " + (msg.empty() ? std::to_string(rc) : msg) +
                                          ", " + std::to_string(out_bytes - out_left) + " of " +
                                          std::to_string(out_bytes) + " bytes decoded)");
  }
  if (out_left != 0) {
    throw Error(ErrorCode::kDataLoss, "deflate chunk decodes to " + std::to_string(out_bytes - out_left) +
                                          " bytes, expected " + std::to_string(out_bytes));
  }
}

}  // namespace

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
      inflate_into(cur, dst, out_bytes);
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
