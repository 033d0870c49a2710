// Decode helpers shared by the decode_jpeg tests (jpeg_decode_test, jpeg_fused_ops_test,
// jpeg_window_test): JPEG bytes as the uint8 tensor decode_jpeg takes, and one decode with a
// seeded Rng (the seed keys random crops and flips).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/jpeg_decode.h"

namespace stoker::testing {

inline Tensor bytes_tensor(const std::vector<std::uint8_t>& b) {
  Tensor t(DType::kU8, Shape{static_cast<std::int64_t>(b.size())});
  if (!b.empty()) std::memcpy(t.mutable_data(), b.data(), b.size());
  return t;
}

inline Tensor decode(const std::vector<std::uint8_t>& jpeg, DecodeJpegOptions o = {}, std::uint64_t seed = 1) {
  Rng rng(seed);
  return decode_jpeg(o)(Element{bytes_tensor(jpeg)}, rng)[0];
}

}  // namespace stoker::testing
