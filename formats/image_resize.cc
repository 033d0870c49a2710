// Resampling kernels behind every resize: bilinear (fixed point) and area (box, float), both
// separable, reading a window of the source and writing the output once, optionally mirrored.
// Scratch: a few rows of the output width per call (thread-local, reused; no per-call heap
// traffic once warm).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/image_ops.h"
#include "formats/resize_kernels.h"

namespace stoker::detail {
namespace {

constexpr int kBits = 8;  // bilinear weight precision: weights in [0, 256]
constexpr int kOne = 1 << kBits;

// Per output coordinate (in output order, mirrored when flipped): the first of two source taps
// and the weight of the second, for a window of `len` source pixels starting at `start`
// resampled to `n` outputs, clamped to [0, size). i0 is relative to `lo`, the first source pixel
// any output touches (so a row pass reads the span [lo, hi] only).
struct Taps {
  std::vector<int> i0, w1;
  int lo = 0, hi = 0;
  void build(double start, double len, int n, int size, bool flip) {
    i0.resize(static_cast<std::size_t>(n));
    w1.resize(static_cast<std::size_t>(n));
    double step = len / n;
    lo = size;
    hi = 0;
    for (int o = 0; o < n; ++o) {
      double s = std::clamp(start + (o + 0.5) * step - 0.5, 0.0, static_cast<double>(size - 1));
      int a = std::min(static_cast<int>(s), size - 1);
      int w = static_cast<int>(std::lround((s - a) * kOne));
      if (a == size - 1) w = 0;  // no second tap past the edge
      auto k = static_cast<std::size_t>(flip ? n - 1 - o : o);
      i0[k] = a;
      w1[k] = w;
      lo = std::min(lo, a);
      hi = std::max(hi, std::min(a + 1, size - 1));
    }
    for (int& a : i0) a -= lo;
  }
};

// Per output coordinate (output order, mirrored when flipped): the source pixels a box of `step`
// source pixels covers, relative to `lo`, with weights (the fraction of each pixel covered)
// summing to 1.
struct Boxes {
  std::vector<int> first, count, offset;
  std::vector<float> weights;  // count[o] weights for output o, back to back from offset[o]
  int lo = 0, hi = 0;
  void build(double start, double len, int n, int size, bool flip) {
    first.assign(static_cast<std::size_t>(n), 0);
    count.assign(static_cast<std::size_t>(n), 0);
    offset.assign(static_cast<std::size_t>(n), 0);
    weights.clear();
    lo = size;
    hi = 0;
    double step = len / n;
    for (int o = 0; o < n; ++o) {
      double a = std::clamp(start + o * step, 0.0, static_cast<double>(size));
      double b = std::clamp(start + (o + 1) * step, 0.0, static_cast<double>(size));
      int j = std::min(size, std::max(static_cast<int>(std::floor(a)) + 1, static_cast<int>(std::ceil(b))));
      int i = std::min(static_cast<int>(std::floor(a)), j - 1);
      auto k = static_cast<std::size_t>(flip ? n - 1 - o : o);
      first[k] = i;
      count[k] = j - i;
      offset[k] = static_cast<int>(weights.size());
      lo = std::min(lo, i);
      hi = std::max(hi, j - 1);
      double total = 0;
      std::size_t w0 = weights.size();
      for (int p = i; p < j; ++p) {
        double cover = std::max(0.0, std::min<double>(p + 1, b) - std::max<double>(p, a));
        weights.push_back(static_cast<float>(cover));
        total += cover;
      }
      if (total <= 0) {  // degenerate window: take the nearest pixel
        weights[w0] = 1.0f;
        total = 1;
      }
      for (std::size_t q = w0; q < weights.size(); ++q) weights[q] = static_cast<float>(weights[q] / total);
    }
    // weights were pushed in source order per output; offsets follow output order via k.
    for (int& f : first) f -= lo;
  }
};

struct Scratch {
  Taps tx, ty;
  Boxes bx, by;
  RowTaps taps;                  // bilinear: the horizontal taps of every output row
  std::vector<std::int16_t> row;  // bilinear: one vertically blended row (+ kRowPad)
  std::vector<float> frow;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Vertical pass first (two source rows blended over the column span the output reads), then the
// horizontal taps from that one row (formats/resize_kernels.h; taps built once per call).
template <int C>
void bilinear(const std::uint8_t* src, int src_h, int src_w, std::size_t pitch, Region r, std::uint8_t* dst,
              int out_h, int out_w, bool flip) {
  Scratch& s = scratch();
  s.tx.build(r.x, r.w, out_w, src_w, flip);
  s.ty.build(r.y, r.h, out_h, src_h, false);
  const int span = (s.tx.hi - s.tx.lo + 1) * C;
  s.row.resize(static_cast<std::size_t>(span + kRowPad));  // growth zero-fills: the pad is initialised
  s.taps.build(s.tx.i0.data(), s.tx.w1.data(), out_w, C);
  const std::size_t col0 = static_cast<std::size_t>(s.tx.lo) * C;
  const std::size_t row_len = static_cast<std::size_t>(out_w) * C;
  for (int oy = 0; oy < out_h; ++oy) {
    auto k = static_cast<std::size_t>(oy);
    const int y0 = s.ty.i0[k] + s.ty.lo;
    const int y1 = std::min(y0 + 1, src_h - 1);
    const std::uint8_t* a = src + static_cast<std::size_t>(y0) * pitch + col0;
    const std::uint8_t* b = src + static_cast<std::size_t>(y1) * pitch + col0;
    blend_rows(a, b, s.ty.w1[k], span, s.row.data());
    tap_row(s.row.data(), s.taps, out_w, C, dst + k * row_len);
  }
}

template <int C>
void area(const std::uint8_t* src, int src_h, int src_w, std::size_t pitch, Region r, std::uint8_t* dst, int out_h,
          int out_w, bool flip) {
  Scratch& s = scratch();
  s.bx.build(r.x, r.w, out_w, src_w, flip);
  s.by.build(r.y, r.h, out_h, src_h, false);
  const int span = (s.bx.hi - s.bx.lo + 1) * C;
  s.frow.resize(static_cast<std::size_t>(span));
  float* acc = s.frow.data();
  const std::size_t col0 = static_cast<std::size_t>(s.bx.lo) * C;
  for (int oy = 0; oy < out_h; ++oy) {
    auto ky = static_cast<std::size_t>(oy);
    std::fill(acc, acc + span, 0.0f);
    for (int q = 0; q < s.by.count[ky]; ++q) {
      const float wy = s.by.weights[static_cast<std::size_t>(s.by.offset[ky] + q)];
      const std::uint8_t* row = src + static_cast<std::size_t>(s.by.first[ky] + s.by.lo + q) * pitch + col0;
      for (int i = 0; i < span; ++i) acc[i] += wy * row[i];
    }
    std::uint8_t* out = dst + ky * static_cast<std::size_t>(out_w) * C;
    for (int ox = 0; ox < out_w; ++ox) {
      auto kx = static_cast<std::size_t>(ox);
      const float* wx = &s.bx.weights[static_cast<std::size_t>(s.bx.offset[kx])];
      const float* p = acc + s.bx.first[kx] * C;
      float sum[C] = {};
      for (int t = 0; t < s.bx.count[kx]; ++t)
        for (int ch = 0; ch < C; ++ch) sum[ch] += wx[t] * p[t * C + ch];
      for (int ch = 0; ch < C; ++ch) out[ox * C + ch] = static_cast<std::uint8_t>(std::clamp(sum[ch] + 0.5f, 0.0f, 255.0f));
    }
  }
}

template <int C>
void resample(const std::uint8_t* src, int src_h, int src_w, std::size_t pitch, Region r, std::uint8_t* dst, int out_h,
              int out_w, ResizeFilter filter, bool flip) {
  if (filter == ResizeFilter::kArea && r.w >= out_w && r.h >= out_h) {
    area<C>(src, src_h, src_w, pitch, r, dst, out_h, out_w, flip);
  } else {
    bilinear<C>(src, src_h, src_w, pitch, r, dst, out_h, out_w, flip);
  }
}

}  // namespace

void resize_region(const std::uint8_t* src, int src_h, int src_w, int c, std::size_t pitch, Region r,
                   std::uint8_t* dst, int out_h, int out_w, ResizeFilter filter, bool flip) {
  if (out_h <= 0 || out_w <= 0) return;
  const auto row_len = static_cast<std::size_t>(out_w) * static_cast<std::size_t>(c);
  // An integral window of the output's size: a copy (bit-exact crop).
  if (r.w == out_w && r.h == out_h && r.x == std::floor(r.x) && r.y == std::floor(r.y) && r.x >= 0 && r.y >= 0 &&
      r.x + r.w <= src_w && r.y + r.h <= src_h) {
    for (int y = 0; y < out_h; ++y) {
      const std::uint8_t* in = src + static_cast<std::size_t>(r.y + y) * pitch + static_cast<std::size_t>(r.x) * c;
      std::uint8_t* out = dst + static_cast<std::size_t>(y) * row_len;
      if (!flip) {
        std::memcpy(out, in, row_len);
      } else {
        for (int x = 0; x < out_w; ++x) std::memcpy(out + (out_w - 1 - x) * c, in + x * c, static_cast<std::size_t>(c));
      }
    }
    return;
  }
  switch (c) {
    case 1: return resample<1>(src, src_h, src_w, pitch, r, dst, out_h, out_w, filter, flip);
    case 3: return resample<3>(src, src_h, src_w, pitch, r, dst, out_h, out_w, filter, flip);
    case 4: return resample<4>(src, src_h, src_w, pitch, r, dst, out_h, out_w, filter, flip);
    default: throw Error(ErrorCode::kInvalidArgument, "resize: " + std::to_string(c) + " channels (1, 3 or 4 supported)");
  }
}

}  // namespace stoker::detail
