// Bilinear row kernels: a generic path (plain C++, auto-vectorised for baseline x86-64 SSE2 or any
// other target) and, on x86-64, an AVX2 path picked once at run time. The AVX2 horizontal pass
// loads each output pixel's two source pixels (2C contiguous int16 of the blended row) in one
// 128-bit load, pairs each channel's two taps with a byte shuffle and weighs them with one
// multiply-add: no per-value gather.
#include "formats/resize_kernels.h"

#include <atomic>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define STOKER_RESIZE_AVX2 1
#include <immintrin.h>
#endif

namespace stoker::detail {
namespace {

// Adds back the bias: (v0 - 2^15) * w0 + (v1 - 2^15) * w1 = v0 * w0 + v1 * w1 - 2^15 * 256.
constexpr std::int32_t kRound = (1 << 15) * 256 + (1 << 15);

std::uint8_t tap(const std::int16_t* v, int off, int c, std::uint32_t wpair) {
  const std::int32_t sum = v[off] * static_cast<std::int32_t>(wpair & 0xFFFFu) +
                           v[off + c] * static_cast<std::int32_t>(wpair >> 16) + kRound;
  return static_cast<std::uint8_t>(sum >> 16);
}

void blend_rows_generic(const std::uint8_t* a, const std::uint8_t* b, int wy, int n, std::int16_t* v) {
  const auto w0 = static_cast<std::uint16_t>(256 - wy), w1 = static_cast<std::uint16_t>(wy);
  for (int i = 0; i < n; ++i)
    v[i] = static_cast<std::int16_t>(static_cast<std::uint16_t>(a[i] * w0 + b[i] * w1) ^ 0x8000u);
}

template <int C>
void tap_pixels_generic(const std::int16_t* v, const RowTaps& t, int from, int n, std::uint8_t* out) {
  for (int k = from; k < n; ++k)
    for (int ch = 0; ch < C; ++ch) out[k * C + ch] = tap(v, t.off[static_cast<std::size_t>(k)] + ch, C, t.wpair[static_cast<std::size_t>(k)]);
}

#ifdef STOKER_RESIZE_AVX2
#define STOKER_AVX2 __attribute__((target("avx2")))

STOKER_AVX2 void blend_rows_avx2(const std::uint8_t* a, const std::uint8_t* b, int wy, int n, std::int16_t* v) {
  const __m256i w0 = _mm256_set1_epi16(static_cast<short>(256 - wy)), w1 = _mm256_set1_epi16(static_cast<short>(wy));
  const __m256i bias = _mm256_set1_epi16(static_cast<short>(0x8000));
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i x = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a + i)));
    const __m256i y = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + i)));
    const __m256i s = _mm256_add_epi16(_mm256_mullo_epi16(x, w0), _mm256_mullo_epi16(y, w1));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(v + i), _mm256_xor_si256(s, bias));
  }
  blend_rows_generic(a + i, b + i, wy, n - i, v + i);  // the last < 16 values: no read past n
}

// C = 3 or 4, 8 pixels per step: vector j holds pixel k + j in its low lane and k + 4 + j in its
// high lane, so the two packs leave pixels k..k+3 in the low lane and k+4..k+7 in the high one.
template <int C>
STOKER_AVX2 void tap_row_avx2(const std::int16_t* v, const RowTaps& t, int n, std::uint8_t* out) {
  // Words (t0 ch0, t1 ch0, t0 ch1, t1 ch1, ...) from (t0 ch0..C-1, t1 ch0..C-1); C = 3 leaves
  // words 6, 7 (the next pixel) in the fourth pair, whose result the compaction drops.
  const __m256i pair = C == 3 ? _mm256_setr_epi8(0, 1, 6, 7, 2, 3, 8, 9, 4, 5, 10, 11, 12, 13, 14, 15, 0, 1, 6, 7, 2,
                                                 3, 8, 9, 4, 5, 10, 11, 12, 13, 14, 15)
                              : _mm256_setr_epi8(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15, 0, 1, 8, 9, 2,
                                                 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);
  const __m256i compact = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1, 0, 1, 2, 4, 5, 6, 8,
                                           9, 10, 12, 13, 14, -1, -1, -1, -1);
  const __m256i gather = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
  const __m256i round = _mm256_set1_epi32(kRound);
  int k = 0;
  for (; k + 8 <= n; k += 8) {
    const std::int32_t* off = t.off.data() + k;
    const std::uint32_t* w = t.lanes.data() + static_cast<std::size_t>(k) * 4;
    auto px = [&](int j) STOKER_AVX2 {
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + off[j]));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(v + off[j + 4]));
      __m256i x = _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), pair);
      x = _mm256_madd_epi16(x, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + 8 * j)));
      return _mm256_srli_epi32(_mm256_add_epi32(x, round), 16);  // 0..255 per channel
    };
    const __m256i p01 = _mm256_packs_epi32(px(0), px(1));
    const __m256i p23 = _mm256_packs_epi32(px(2), px(3));
    __m256i bytes = _mm256_packus_epi16(p01, p23);
    if constexpr (C == 4) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + k * 4), bytes);
    } else {
      bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(bytes, compact), gather);  // 24 bytes, in order
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k * 3), _mm256_castsi256_si128(bytes));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + k * 3 + 16), _mm256_extracti128_si256(bytes, 1));
    }
  }
  tap_pixels_generic<C>(v, t, k, n, out);
}

// C = 1: each pixel's two taps are one 32-bit word of the row: a gather of 8 per vector.
STOKER_AVX2 void tap_row_avx2_1(const std::int16_t* v, const RowTaps& t, int n, std::uint8_t* out) {
  const __m256i round = _mm256_set1_epi32(kRound);
  const auto* base = reinterpret_cast<const int*>(v);  // byte offsets: scale 2 per int16
  auto px = [&](int k) STOKER_AVX2 {
    const __m256i off = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.off.data() + k));
    const __m256i x = _mm256_i32gather_epi32(base, off, 2);
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.wpair.data() + k));
    return _mm256_srli_epi32(_mm256_add_epi32(_mm256_madd_epi16(x, w), round), 16);
  };
  int k = 0;
  for (; k + 16 <= n; k += 16) {
    const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(px(k), px(k + 8)), 0xD8);  // pixels in order
    const __m128i bytes = _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + k), bytes);
  }
  tap_pixels_generic<1>(v, t, k, n, out);
}

// libgcc's check includes the OS saving the YMM registers. cpu_init: this may run before
// constructors (a static initialiser elsewhere resizing).
int best_isa() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") ? static_cast<int>(ResizeIsa::kAvx2) : 0;
}
#else
int best_isa() { return 0; }
#endif

std::atomic<int>& isa_in_use() {
  static std::atomic<int> isa{best_isa()};
  return isa;
}

}  // namespace

void RowTaps::build(const int* i0, const int* w1, int n, int c) {
  const auto count = static_cast<std::size_t>(n);
  off.resize(count);
  wpair.resize(count);
  lanes.resize(count * 4);
  for (std::size_t k = 0; k < count; ++k) {
    off[k] = i0[k] * c;
    wpair[k] = static_cast<std::uint32_t>(256 - w1[k]) | static_cast<std::uint32_t>(w1[k]) << 16;
  }
  // Group g of 8 pixels, vector j: 4 copies of pixel 8g + j's pair, then 4 of pixel 8g + 4 + j's.
  for (std::size_t g = 0; g + 8 <= count; g += 8)
    for (std::size_t j = 0; j < 4; ++j)
      for (std::size_t r = 0; r < 4; ++r) {
        lanes[g * 4 + j * 8 + r] = wpair[g + j];
        lanes[g * 4 + j * 8 + 4 + r] = wpair[g + 4 + j];
      }
}

void blend_rows(const std::uint8_t* a, const std::uint8_t* b, int wy, int n, std::int16_t* v) {
#ifdef STOKER_RESIZE_AVX2
  if (isa_in_use().load(std::memory_order_relaxed) == static_cast<int>(ResizeIsa::kAvx2))
    return blend_rows_avx2(a, b, wy, n, v);
#endif
  blend_rows_generic(a, b, wy, n, v);
}

void tap_row(const std::int16_t* v, const RowTaps& t, int n, int c, std::uint8_t* out) {
#ifdef STOKER_RESIZE_AVX2
  if (isa_in_use().load(std::memory_order_relaxed) == static_cast<int>(ResizeIsa::kAvx2)) {
    switch (c) {
      case 1: return tap_row_avx2_1(v, t, n, out);
      case 3: return tap_row_avx2<3>(v, t, n, out);
      case 4: return tap_row_avx2<4>(v, t, n, out);
      default: break;
    }
  }
#endif
  switch (c) {
    case 1: return tap_pixels_generic<1>(v, t, 0, n, out);
    case 3: return tap_pixels_generic<3>(v, t, 0, n, out);
    case 4: return tap_pixels_generic<4>(v, t, 0, n, out);
    default: break;
  }
}

ResizeIsa resize_isa() { return static_cast<ResizeIsa>(isa_in_use().load()); }

bool set_resize_isa(ResizeIsa isa) {
  if (static_cast<int>(isa) > best_isa()) return false;
  isa_in_use().store(static_cast<int>(isa));
  return true;
}

}  // namespace stoker::detail
