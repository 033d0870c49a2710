// zlib-stream inflate with libdeflate, and zlib's streaming inflate as the reference (inflate.h).
#include "formats/inflate.h"

#include <libdeflate.h>
#include <zlib.h>

#include <limits>
#include <memory>
#include <string>

#include "pipeline/error.h"

namespace stoker::detail {
namespace {

struct FreeDecompressor {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// One decompressor per thread (about 32 KiB of tables), made on first use.
libdeflate_decompressor* thread_decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, FreeDecompressor> d(libdeflate_alloc_decompressor());
  if (!d) throw Error(ErrorCode::kOutOfMemory, "libdeflate: cannot allocate a decompressor");
  return d.get();
}

}  // namespace

void inflate_zlib(std::span<const std::byte> in, std::byte* out, std::size_t out_bytes) {
  std::size_t got = 0;
  const libdeflate_result r = libdeflate_zlib_decompress(thread_decompressor(), in.data(), in.size(), out, out_bytes, &got);
  if (r == LIBDEFLATE_SUCCESS && got == out_bytes) return;
  if (r == LIBDEFLATE_SUCCESS || r == LIBDEFLATE_SHORT_OUTPUT) {
    throw Error(ErrorCode::kDataLoss,
                "deflate chunk decodes to " + std::to_string(got) + " bytes, expected " + std::to_string(out_bytes));
  }
  throw Error(ErrorCode::kDataLoss, r == LIBDEFLATE_INSUFFICIENT_SPACE
                                        ? "deflate chunk decodes to more than the expected " + std::to_string(out_bytes) + " bytes"
                                        : "corrupt deflate chunk (not a valid zlib stream)");
}

void inflate_zlib_streaming(std::span<const std::byte> in, std::byte* out, std::size_t out_bytes) {
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

}  // namespace stoker::detail
