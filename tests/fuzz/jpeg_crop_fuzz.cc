// libFuzzer target: decode_jpeg with crop windows: a small centre crop (libjpeg partial decode
// of a window), a random-resized crop with flip (DCT scaling + resize), and a resize of the whole
// image to gray. Every input must decode or raise stoker::Error. Then the random-resized crop again
// through an MCU index (jpeg_scan.h: a window-only JPEG), twice (scanned, then looked up): it must
// give the same bytes or the same error as without the index.
#include <cstdlib>
#include <cstring>
#include <string>

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
  DecodeJpegOptions rrc{.height = 16, .width = 16, .crop = CropMode::kRandomResized, .flip_probability = 0.5,
                        .max_pixels = 1 << 22};
  for (std::uint64_t crop = 0; crop < 3; ++crop) {
    std::string plain_error, indexed_error;
    Tensor plain, indexed;
    Rng r1(size, 100 + crop);
    try {
      plain = fns[2](Element{bytes}, r1)[0];
    } catch (const Error& e) {
      plain_error = e.what();
    }
    rrc.mcu_index_bytes = 1 << 20;
    const MapFn with_index = decode_jpeg(rrc);
    for (int pass = 0; pass < 2; ++pass) {
      Rng r2(size, 100 + crop);
      try {
        indexed = with_index(Element{bytes}, r2)[0];
        indexed_error.clear();
      } catch (const Error& e) {
        indexed_error = e.what();
      }
      if (indexed_error != plain_error) std::abort();
      if (plain_error.empty() && std::memcmp(plain.data(), indexed.data(), plain.nbytes()) != 0) std::abort();
    }
  }
  return 0;
}
