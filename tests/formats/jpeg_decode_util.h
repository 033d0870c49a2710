// Decode helpers shared by the decode_jpeg tests (jpeg_decode_test, jpeg_fused_ops_test,
// jpeg_window_test): JPEG bytes as the uint8 tensor decode_jpeg takes, and one decode with a
// seeded Rng (the seed keys random crops and flips).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "tests/formats/jpeg_test_util.h"

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

// A CMYK JPEG (4:4:4, quality 95) whose expected RGB is known: K = 255 (no black ink) and C, M, Y
// = R, G, B of smooth_image(h, w, 3, seed) in the inverted convention, so R = C*K/255 = C.
inline std::vector<std::uint8_t> cmyk_jpeg_of_smooth_rgb(int h, int w, int seed) {
  auto rgb = smooth_image(h, w, 3, seed);
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(h) * w * 4);
  for (std::size_t i = 0; i < static_cast<std::size_t>(h) * w; ++i) {
    for (int ch = 0; ch < 3; ++ch) cmyk[4 * i + ch] = rgb[3 * i + ch];
    cmyk[4 * i + 3] = 255;
  }
  return encode_jpeg(cmyk.data(), h, w, 4, {.quality = 95, .subsampling = JpegSubsampling::k444});
}

}  // namespace stoker::testing
