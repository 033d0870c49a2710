// Inflate of a whole zlib stream (HDF5's deflate filter) into a buffer of known size.
//
// inflate_zlib() is libdeflate's whole-buffer decoder: the chunk and its decoded size are known up
// front, so no streaming state is needed, and libdeflate decodes 2-3x faster per core than zlib's
// streaming inflate(). inflate_zlib_streaming() is zlib's inflate(), kept as the reference the
// benchmark (bench/inflate_bench.cc) and the tests compare against.
// Both throw Error(kDataLoss) naming what is wrong when `in` is not one zlib stream that decodes
// to exactly out_bytes bytes. Thread-safe (libdeflate's decompressor is per thread).
#pragma once

#include <cstddef>
#include <span>

namespace stoker::detail {

void inflate_zlib(std::span<const std::byte> in, std::byte* out, std::size_t out_bytes);
void inflate_zlib_streaming(std::span<const std::byte> in, std::byte* out, std::size_t out_bytes);

}  // namespace stoker::detail
