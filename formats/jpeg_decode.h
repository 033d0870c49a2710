// decode_jpeg: a MapFn that turns component 0 (a file path or JPEG bytes) into an HWC uint8
// image, optionally fused with crop, resize and flip (TurboJPEG 2.1 underneath).
//
// Input: component 0 is either a path (int8 1-D, as image_folder()/files() yield; the file is read
// here, on the worker thread, into a per-thread buffer) or encoded bytes (uint8 1-D). Other
// components pass through. Output: uint8 [H, W, C], C = 3 (RGB) or 1 (gray).
//
// Work per element (fused; one output allocation):
//   1. header -> size check (max_pixels) before any allocation;
//   2. crop window chosen in full-resolution coordinates (centre / random / random-resized);
//   3. DCT-scaled decode (1/8, 1/4, 1/2) when the window still covers the output at that scale;
//   4. a crop well inside the image is decoded as a window (libjpeg partial decode: no IDCT or
//      colour conversion outside it; see jpeg_window.h), else TurboJPEG decodes the whole image
//      into a per-thread buffer;
//   5. resize straight from the decoded buffer into the output, mirrored when the flip is drawn.
// With no size given the image is decoded straight into the output tensor (no copy).
//
// Colour: YCbCr, RGB and grayscale JPEGs decode to RGB or gray as asked; CMYK/YCCK JPEGs are
// decoded to (Adobe, inverted) CMYK and converted with R = C*K/255 (G, B alike), gray from that.
//
// Errors (stoker::Error, source = the path when the input was a path, stage "decode_jpeg"):
//   empty input, not a JPEG, corrupt data, truncated data -> kDataLoss
//   a PNG/GIF/... named .jpg, an image above max_pixels, 12-bit or lossless JPEG -> kUnsupported
// Warnings policy: TurboJPEG warns (and still returns pixels) on damaged data. A warning that
// says the data ended early ("premature end") is always kDataLoss: a truncated file is an error,
// even when most of it decodes. Other warnings (e.g. extraneous bytes between markers) are
// accepted, unless `strict`, which turns every warning into kDataLoss.
// Missing EOI: a file whose entropy-coded data is complete but lacks the final FF D9 marker (some
// cameras and scrapers write these; PIL and tf.data decode them) decodes to the same pixels as
// the complete file, and is counted in `counts->missing_eoi`. It is told apart from a file cut
// inside a scan by decoding again with FF D9 appended: a cut scan then still runs out of data
// ("premature end of data segment") and stays kDataLoss; the second decode must raise no warning
// at all. Such a file costs two decodes; strict mode refuses it. A progressive file cut exactly between two scans cannot be told from a
// complete one missing EOI (no marker says how many scans follow) and decodes at the quality of
// the scans present, as in PIL and libjpeg.
// Thread safety: one TurboJPEG handle per thread (thread_local, destroyed at thread exit).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "formats/image_ops.h"
#include "pipeline/dataset.h"

namespace stoker {

enum class JpegColor { kRGB, kGray };

// Counters a caller shares with decode_jpeg to learn about files accepted with a warning.
struct JpegDecodeCounts {
  std::atomic<std::uint64_t> missing_eoi{0};  // files decoded although their EOI marker was missing
};

enum class CropMode {
  kNone,           // whole image (resized to height x width when given)
  kCenter,         // resize shorter side to `resize_shorter` (0: no resize), centre height x width
  kRandom,         // as kCenter, window at a uniformly random offset
  kRandomResized,  // Inception-style window (rrc), resized to height x width
};

struct DecodeJpegOptions {
  JpegColor color = JpegColor::kRGB;
  // Output size; 0 x 0 with kNone: the image's own size.
  int height = 0;
  int width = 0;
  CropMode crop = CropMode::kNone;
  int resize_shorter = 0;
  RandomResizedCropParams rrc;
  ResizeFilter filter = ResizeFilter::kBilinear;
  // Horizontal flip with this probability (0: never).
  double flip_probability = 0;
  // Decode at 1/2, 1/4 or 1/8 scale when the crop window still covers the output.
  bool dct_scaling = true;
  // Decode only the crop window (libjpeg partial decode) when a crop covers well under the whole
  // image. Off: always a full TurboJPEG decode (bit-exact with it at the window's edges too).
  bool partial_decode = true;
  // With a partial (windowed) decode: remember where each MCU of a file begins, up to this many
  // bytes (16 per MCU plus 128 per file: ~12 KB for a 500x375 photo), so that a crop of a file
  // seen before entropy-decodes only the MCUs under its window, not every MCU above and beside it
  // (the first pass over a file scans it once more to learn them). Identical pixels. 0: off.
  // Held by this map function and its copies for their lifetime, outside the iterator's memory
  // budget: give the budget this much less (the CLI does).
  std::size_t mcu_index_bytes = 0;
  // Images with more pixels are refused from the header, before any allocation.
  std::int64_t max_pixels = 100'000'000;
  // Every TurboJPEG warning is an error (default: only truncation is).
  bool strict = false;
  // TurboJPEG's fast integer IDCT (slightly less accurate).
  bool fast_dct = false;
  // Set: the image leaves as normalize(*normalize) would make it (float32/float16/bfloat16), in
  // the same map step (no extra stage hand-off or uint8 tensor per element).
  std::optional<NormalizeOptions> normalize;
  // Set: accepted-with-warning files are counted here (shared by every worker thread).
  std::shared_ptr<JpegDecodeCounts> counts;
};

MapFn decode_jpeg(DecodeJpegOptions options = {});

struct JpegHeader {
  int width = 0;
  int height = 0;
  int subsampling = 0;  // TJSAMP_*
  int colorspace = 0;   // TJCS_*
};
// Reads the header of `data`; throws like decode_jpeg (with `source` in the context).
JpegHeader read_jpeg_header(const std::uint8_t* data, std::size_t size, const std::string& source = "");

}  // namespace stoker
