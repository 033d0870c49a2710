// Float32 -> float16 / bfloat16 conversions (and back), round-to-nearest-even, written here so
// the CPU ops and any CUDA kernel run the same arithmetic (the functions are host+device when
// compiled by nvcc). Bit patterns are returned as uint16_t; Tensor dtypes kF16 / kBF16 hold them.
//
// Rules (IEEE 754 binary16, and bfloat16 = the top 16 bits of binary32):
//   * finite values round to nearest, ties to even; values past the largest finite round to inf;
//   * float16 underflow produces subnormals, then signed zero;
//   * NaN stays NaN (quiet, sign kept), inf stays inf.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__CUDACC__)
#define STOKER_HD __host__ __device__
#else
#define STOKER_HD
#endif

namespace stoker {

STOKER_HD inline std::uint16_t float_to_bfloat16_bits(float f) {
  std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x0040u);  // quiet NaN
  // Add 0x7fff plus the lowest kept bit: rounds to nearest, ties to the even neighbour; a carry
  // out of the mantissa bumps the exponent, which is exactly right (up to inf).
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

STOKER_HD inline float bfloat16_bits_to_float(std::uint16_t b) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

STOKER_HD inline std::uint16_t float_to_half_bits(float f) {
  const std::uint32_t x = std::bit_cast<std::uint32_t>(f);
  const std::uint16_t sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  const std::uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf or NaN
    return static_cast<std::uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x0200u | ((ax >> 13) & 0x3ffu) : 0u));
  }
  const int exp = static_cast<int>(ax >> 23) - 127;  // unbiased exponent of f
  if (exp > 15) return static_cast<std::uint16_t>(sign | 0x7c00u);  // >= 2^16: inf
  std::uint32_t mant = (ax & 0x7fffffu) | 0x800000u;                // 24 significant bits
  int shift;                                                        // bits of mant to drop
  std::uint32_t base;                                               // exponent field placed
  if (exp >= -14) {  // normal half: keep 11 bits
    shift = 13;
    base = static_cast<std::uint32_t>(exp + 15) << 10;
    mant &= 0x7fffffu;  // implicit bit lives in the exponent field
  } else {             // subnormal half: value = m * 2^-24
    shift = -1 - exp;  // 14 - exp - 1 + ... : keeps bits at weight >= 2^-24
    if (shift > 24) return sign;  // below half the smallest subnormal: zero
    base = 0;
  }
  std::uint32_t kept = mant >> shift;
  const std::uint32_t rest = mant & ((1u << shift) - 1u);
  const std::uint32_t half = 1u << (shift - 1);
  if (rest > half || (rest == half && (kept & 1u))) ++kept;
  // A carry out of the mantissa moves into the exponent (and from 0x7bff to inf): still correct.
  return static_cast<std::uint16_t>(sign | (base + kept));
}

STOKER_HD inline float half_bits_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t e = (h >> 10) & 0x1fu;
  std::uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (m << 13));
  if (e != 0) return std::bit_cast<float>(sign | ((e + 112u) << 23) | (m << 13));
  if (m == 0) return std::bit_cast<float>(sign);
  // Subnormal: m * 2^-24, exact in float.
  float v = static_cast<float>(m) * 0x1.0p-24f;
  return sign ? -v : v;
}

}  // namespace stoker
