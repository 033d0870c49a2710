// Row kernels of the fixed-point bilinear resize (formats/image_resize.cc): the vertical blend of
// two source rows, then the horizontal taps of one output row. 8-bit weights (w0 + w1 = 256):
//   v(x)  = a[x] * (256 - wy) + b[x] * wy                      (<= 255 * 256: 16 bits, exact)
//   out   = (v(i0) * (256 - wx) + v(i0 + 1) * wx + 2^15) >> 16  (per channel; fits 8 bits)
// Integer arithmetic throughout, so every instruction-set path writes the same bytes. x86-64 picks
// an AVX2 path at run time where the CPU has it; the generic path needs nothing past baseline.
#pragma once

#include <cstdint>
#include <vector>

namespace stoker::detail {

// Entries a blended row needs past its span: the widest load (8 int16 at the last pixel's
// offset) and the last pixel's right neighbour, which its zero weight multiplies.
inline constexpr int kRowPad = 8;

// The horizontal taps of one output row, built once per resize call. Pixel k (output order,
// already mirrored when flipped) reads the blended row at off[k] + ch and off[k] + C + ch.
struct RowTaps {
  std::vector<std::int32_t> off;      // C * first tap, relative to the row's span
  std::vector<std::uint32_t> wpair;   // (256 - wx) | wx << 16
  std::vector<std::uint32_t> lanes;   // AVX2 layout of wpair: per 8 pixels, 4 vectors of 2 pixels
  // i0: first taps (pixels from the span's start), w1: second tap weights in [0, 256], n pixels.
  void build(const int* i0, const int* w1, int n, int c);
};

// v[i] = (a[i] * (256 - wy) + b[i] * wy) ^ 0x8000 for i < n: the blended value biased into int16
// (the horizontal pass multiplies it with signed 16-bit multiply-adds).
void blend_rows(const std::uint8_t* a, const std::uint8_t* b, int wy, int n, std::int16_t* v);

// One output row of n pixels of c channels (1, 3 or 4) from a row blend_rows wrote; `v` holds
// kRowPad readable entries past its span.
void tap_row(const std::int16_t* v, const RowTaps& t, int n, int c, std::uint8_t* out);

// The instruction set the kernels use: the best this CPU has unless a test forced another.
enum class ResizeIsa { kGeneric, kAvx2 };
ResizeIsa resize_isa();
// Tests: run the kernels on `isa`; false (and no change) where this CPU lacks it. Not for use
// while other threads resize.
bool set_resize_isa(ResizeIsa isa);

}  // namespace stoker::detail
