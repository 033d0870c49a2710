// encode_jpeg: writes JPEGs through libjpeg(-turbo)'s own API, for what TurboJPEG 2.1 cannot
// make: arithmetic coding, restart markers, CMYK. Used by the tests (every JPEG variant is made at
// test time), the benchmark (its ImageNet-like folder) and dataset tools. Not on a hot path.
#pragma once

#include <cstdint>
#include <vector>

namespace stoker {

enum class JpegSubsampling { k444, k422, k420 };

struct JpegEncodeOptions {
  int quality = 90;
  JpegSubsampling subsampling = JpegSubsampling::k420;
  bool progressive = false;
  bool arithmetic = false;   // arithmetic entropy coding instead of Huffman
  int restart_interval = 0;  // MCUs between restart markers (0: none)
  bool optimize = false;     // optimised Huffman tables
};

// `pixels`: HWC uint8, channels 1 (gray), 3 (RGB) or 4 (CMYK, Adobe inverted convention: 255 =
// no ink; written as YCCK with an Adobe marker). Throws stoker::Error (kInvalidArgument for bad
// arguments, kInternal when libjpeg fails).
std::vector<std::uint8_t> encode_jpeg(const std::uint8_t* pixels, int height, int width, int channels,
                                      const JpegEncodeOptions& options = {});

}  // namespace stoker
