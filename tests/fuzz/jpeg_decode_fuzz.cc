// libFuzzer target: decode_jpeg on encoded bytes (uint8 1-D input), whole image, no crop.
// Every input must decode or raise stoker::Error; ASan/UBSan catch memory and UB bugs.
#include <cstring>

#include "formats/jpeg_decode.h"
#include "pipeline/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  // Small images keep the run fast; the cap itself is checked from the header before allocating.
  static const MapFn plain = decode_jpeg({.max_pixels = 1 << 22});
  static const MapFn gray = decode_jpeg({.color = JpegColor::kGray, .max_pixels = 1 << 22, .strict = true});
  Tensor bytes(DType::kU8, Shape{static_cast<std::int64_t>(size)});
  if (size) std::memcpy(bytes.mutable_data(), data, size);
  for (const MapFn* fn : {&plain, &gray}) {
    Rng rng(size);
    try {
      (*fn)(Element{bytes}, rng);
    } catch (const Error&) {
    }
  }
  return 0;
}
