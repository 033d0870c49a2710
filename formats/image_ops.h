// Image ops on decoded images (HWC uint8, C = 1 or 3, component 0 of an element), each a MapFn
// factory for Dataset::map: resize, crops, random-resized-crop, flip, normalise, cast.
//
// Every op takes component 0, writes a new tensor in its place and passes the other components
// (labels) through. Randomness comes only from the Rng the map hands in (keyed by seed, epoch,
// element index), so the output is the same for any thread count.
// The geometry helpers in stoker::detail are shared with decode_jpeg, which fuses crop, resize
// and flip into decoding (crop chosen from the header, DCT-scaled decode, resize straight from the
// decoded buffer into the output).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "pipeline/dataset.h"
#include "pipeline/error.h"

namespace stoker {

enum class ResizeFilter {
  kBilinear,  // 2x2 taps, half-pixel centres (align_corners=false)
  kArea,      // box filter with fractional coverage (antialiased downscale); upscale: bilinear
};

// Inception-style random-resized-crop (as torchvision): area fraction in [scale_min, scale_max],
// aspect ratio log-uniform in [ratio_min, ratio_max], `attempts` tries, then a centre crop of the
// largest region within the ratio bounds.
struct RandomResizedCropParams {
  double scale_min = 0.08;
  double scale_max = 1.0;
  double ratio_min = 3.0 / 4.0;
  double ratio_max = 4.0 / 3.0;
  int attempts = 10;
};

// Resizes to height x width (aspect ratio not kept).
MapFn resize(int height, int width, ResizeFilter filter = ResizeFilter::kBilinear);
// Resizes so the shorter side is `size`, keeping the aspect ratio.
MapFn resize_shorter(int size, ResizeFilter filter = ResizeFilter::kBilinear);
// Centre / uniformly random height x width window (no resampling). An image smaller than the
// window is an error (kInvalidArgument) naming both sizes.
MapFn center_crop(int height, int width);
MapFn random_crop(int height, int width);
MapFn random_resized_crop(int height, int width, RandomResizedCropParams params = {},
                          ResizeFilter filter = ResizeFilter::kBilinear);
// Mirrors left-right with probability p.
MapFn random_flip(double p = 0.5);

// uint8 HWC -> (x * scale - mean[c]) / std[c] as float32, or float16 / bfloat16 (round to nearest
// even) when `out` says so. mean/std have one entry per channel (or one for all).
struct NormalizeOptions {
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  float scale = 1.0f / 255.0f;
  DType out = DType::kF32;
};
MapFn normalize(NormalizeOptions options = {});
// float32 -> float16 / bfloat16 (round to nearest even) or uint8 -> float32; component 0.
MapFn cast(DType to);

namespace detail {

// A window of the source image in its pixel coordinates (may be fractional after DCT scaling).
struct Region {
  double x = 0, y = 0, w = 0, h = 0;
};

Region random_resized_region(int src_h, int src_w, const RandomResizedCropParams& p, Rng& rng);
// The window that "resize shorter side to `shorter` (0: no resize), then crop out_h x out_w"
// takes from the source, centred or at a random offset; clamped to the image.
Region crop_region(int src_h, int src_w, int out_h, int out_w, int shorter, bool random, Rng* rng);

// Resamples region `r` of `src` (HWC uint8, rows `pitch` bytes apart) into `dst` (out_h x out_w x
// c, dense), mirrored left-right when `flip`. An integral window of the output's size is copied.
void resize_region(const std::uint8_t* src, int src_h, int src_w, int c, std::size_t pitch, Region r,
                   std::uint8_t* dst, int out_h, int out_w, ResizeFilter filter, bool flip);

// Component 0 checked to be an HWC uint8 image; returns its (h, w, c).
void image_dims(const Element& e, const char* op, int& h, int& w, int& c);

}  // namespace detail
}  // namespace stoker
