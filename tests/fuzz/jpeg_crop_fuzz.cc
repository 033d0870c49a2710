// libFuzzer target: decode_jpeg with crop windows: a small centre crop (libjpeg partial decode
// of a window), a random-resized crop with flip (DCT scaling + resize), and a resize of the whole
// image to gray. Every input must decode or raise stoker::Error.
#include <cstring>

#include "formats/jpeg_decode.h"
#include "pipeline/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static const MapFn fns[] = {
      decode_jpeg({.height = 8, .width = 8, .crop = CropMode::kCenter, .max_pixels = 1 << 22}),
      decode_jpeg({.height = 8, .width = 12, .crop = CropMode::kRandom, .resize_shorter = 16, .max_pixels = 1 << 22}),
      decode_jpeg({.height = 16, .width = 16, .crop = CropMode::kRandomResized, .flip_probability = 0.5,
                   .max_pixels = 1 << 22}),
      decode_jpeg({.color = JpegColor::kGray, .height = 5, .width = 7, .dct_scaling = true, .max_pixels = 1 << 22}),
  };
  Tensor bytes(DType::kU8, Shape{static_cast<std::int64_t>(size)});
  if (size) std::memcpy(bytes.mutable_data(), data, size);
  std::uint64_t seed = 0;
  for (const MapFn& fn : fns) {
    Rng rng(size, ++seed);
    try {
      fn(Element{bytes}, rng);
    } catch (const Error&) {
    }
  }
  return 0;
}
