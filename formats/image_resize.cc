// Resampling kernels behind every resize: bilinear (fixed point) and area (box, float), both
// separable, reading a window of the source and writing the output once, optionally mirrored.
// Scratch: a few rows of the output width per call (thread-local, reused; no per-call heap
// traffic once warm).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "formats/image_ops.h"

namespace stoker::detail {
namespace {

constexpr int kBits = 11;  // bilinear weight precision: weights in [0, 2048]
constexpr int kOne = 1 << kBits;

// Per output coordinate: the two source taps and the weight of the second, for a window of
// `len` source pixels starting at `start` resampled to `n` outputs, clamped to [0, size).
struct Taps {
  std::vector<int> i0, i1, w1;
  void build(double start, double len, int n, int size) {
    i0.resize(static_cast<std::size_t>(n));
    i1.resize(static_cast<std::size_t>(n));
    w1.resize(static_cast<std::size_t>(n));
    double step = len / n;
    for (int o = 0; o < n; ++o) {
      double s = start + (o + 0.5) * step - 0.5;
      s = std::clamp(s, 0.0, static_cast<double>(size - 1));
      int a = static_cast<int>(s);
      int b = std::min(a + 1, size - 1);
      auto k = static_cast<std::size_t>(o);
      i0[k] = a;
      i1[k] = b;
      w1[k] = static_cast<int>(std::lround((s - a) * kOne));
    }
  }
};

// Per output coordinate: the source pixels a box of `step` source pixels covers, with weights
// (fraction of each pixel covered) summing to 1.
struct Boxes {
  std::vector<int> first, count;
  std::vector<float> weights;  // count[o] weights for output o, back to back
  std::vector<int> offset;
  void build(double start, double len, int n, int size) {
    first.assign(static_cast<std::size_t>(n), 0);
    count.assign(static_cast<std::size_t>(n), 0);
    offset.assign(static_cast<std::size_t>(n), 0);
    weights.clear();
    double step = len / n;
    for (int o = 0; o < n; ++o) {
      double a = std::clamp(start + o * step, 0.0, static_cast<double>(size));
      double b = std::clamp(start + (o + 1) * step, 0.0, static_cast<double>(size));
      int i = static_cast<int>(std::floor(a));
      int j = std::max(i + 1, static_cast<int>(std::ceil(b)));
      j = std::min(j, size);
      i = std::min(i, j - 1);
      auto k = static_cast<std::size_t>(o);
      first[k] = i;
      count[k] = j - i;
      offset[k] = static_cast<int>(weights.size());
      double total = 0;
      std::size_t w0 = weights.size();
      for (int p = i; p < j; ++p) {
        double cover = std::min<double>(p + 1, b) - std::max<double>(p, a);
        if (cover <= 0) cover = 0;
        weights.push_back(static_cast<float>(cover));
        total += cover;
      }
      if (total <= 0) {  // degenerate window: take the nearest pixel
        weights[w0] = 1.0f;
        total = 1;
      }
      for (std::size_t q = w0; q < weights.size(); ++q) weights[q] = static_cast<float>(weights[q] / total);
    }
  }
};

struct Scratch {
  Taps tx, ty;
  Boxes bx, by;
  std::vector<std::int32_t> row0, row1;
  std::vector<float> facc, frow;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Horizontal bilinear pass of one source row into `out` (values scaled by kOne).
void hpass(const std::uint8_t* row, int c, const Taps& tx, int out_w, bool flip, std::int32_t* out) {
  for (int o = 0; o < out_w; ++o) {
    auto k = static_cast<std::size_t>(flip ? out_w - 1 - o : o);
    const std::uint8_t* a = row + tx.i0[k] * c;
    const std::uint8_t* b = row + tx.i1[k] * c;
    int w = tx.w1[k];
    for (int ch = 0; ch < c; ++ch) out[o * c + ch] = a[ch] * (kOne - w) + b[ch] * w;
  }
}

void bilinear(const std::uint8_t* src, int src_h, int src_w, int c, std::size_t pitch, Region r, std::uint8_t* dst,
              int out_h, int out_w, bool flip) {
  Scratch& s = scratch();
  s.tx.build(r.x, r.w, out_w, src_w);
  s.ty.build(r.y, r.h, out_h, src_h);
  const auto row_len = static_cast<std::size_t>(out_w) * static_cast<std::size_t>(c);
  s.row0.resize(row_len);
  s.row1.resize(row_len);
  int have0 = -1, have1 = -1;  // source rows currently in row0 / row1
  for (int oy = 0; oy < out_h; ++oy) {
    auto k = static_cast<std::size_t>(oy);
    int y0 = s.ty.i0[k], y1 = s.ty.i1[k];
    if (have0 != y0) {
      if (have1 == y0) {
        std::swap(s.row0, s.row1);
        std::swap(have0, have1);
      } else {
        hpass(src + static_cast<std::size_t>(y0) * pitch, c, s.tx, out_w, flip, s.row0.data());
        have0 = y0;
      }
    }
    if (have1 != y1) {
      hpass(src + static_cast<std::size_t>(y1) * pitch, c, s.tx, out_w, flip, s.row1.data());
      have1 = y1;
    }
    const int w = s.ty.w1[k];
    const std::int32_t* a = s.row0.data();
    const std::int32_t* b = s.row1.data();
    std::uint8_t* out = dst + k * row_len;
    constexpr std::int32_t round = 1 << (2 * kBits - 1);
    for (std::size_t i = 0; i < row_len; ++i) {
      std::int32_t v = (a[i] * (kOne - w) + b[i] * w + round) >> (2 * kBits);
      out[i] = static_cast<std::uint8_t>(std::min(v, 255));
    }
  }
}

void area(const std::uint8_t* src, int src_h, int src_w, int c, std::size_t pitch, Region r, std::uint8_t* dst,
          int out_h, int out_w, bool flip) {
  Scratch& s = scratch();
  s.bx.build(r.x, r.w, out_w, src_w);
  s.by.build(r.y, r.h, out_h, src_h);
  const auto row_len = static_cast<std::size_t>(out_w) * static_cast<std::size_t>(c);
  s.facc.resize(row_len);
  s.frow.resize(row_len);
  for (int oy = 0; oy < out_h; ++oy) {
    auto ky = static_cast<std::size_t>(oy);
    std::fill(s.facc.begin(), s.facc.end(), 0.0f);
    for (int q = 0; q < s.by.count[ky]; ++q) {
      float wy = s.by.weights[static_cast<std::size_t>(s.by.offset[ky] + q)];
      const std::uint8_t* row = src + static_cast<std::size_t>(s.by.first[ky] + q) * pitch;
      for (int o = 0; o < out_w; ++o) {
        auto kx = static_cast<std::size_t>(flip ? out_w - 1 - o : o);
        const float* wx = &s.bx.weights[static_cast<std::size_t>(s.bx.offset[kx])];
        const std::uint8_t* p = row + s.bx.first[kx] * c;
        for (int ch = 0; ch < c; ++ch) {
          float v = 0;
          for (int t = 0; t < s.bx.count[kx]; ++t) v += wx[t] * p[t * c + ch];
          s.facc[static_cast<std::size_t>(o * c + ch)] += wy * v;
        }
      }
    }
    std::uint8_t* out = dst + ky * row_len;
    for (std::size_t i = 0; i < row_len; ++i) {
      out[i] = static_cast<std::uint8_t>(std::clamp(std::lround(s.facc[i]), 0L, 255L));
    }
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
  if (filter == ResizeFilter::kArea && r.w >= out_w && r.h >= out_h) {
    area(src, src_h, src_w, c, pitch, r, dst, out_h, out_w, flip);
  } else {
    bilinear(src, src_h, src_w, c, pitch, r, dst, out_h, out_w, flip);
  }
}

}  // namespace stoker::detail
