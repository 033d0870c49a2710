// float16 / bfloat16 conversions against known bit patterns, every half value round-tripped,
// and ties rounding to even.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "formats/image_cast.h"

namespace stoker {
namespace {

TEST(HalfCast, KnownValues) {
  struct Case {
    float f;
    std::uint16_t h;
  };
  const Case cases[] = {
      {0.0f, 0x0000},          {-0.0f, 0x8000},        {1.0f, 0x3c00},          {-2.0f, 0xc000},
      {0.5f, 0x3800},          {65504.0f, 0x7bff},     {1.0f / 3.0f, 0x3555},   {0.1f, 0x2e66},
      {6.103515625e-05f, 0x0400} /* smallest normal */, {5.9604644775390625e-08f, 0x0001} /* smallest subnormal */,
      {65519.99f, 0x7bff},     {65520.0f, 0x7c00} /* halfway to 2^16: ties to even = inf */,
      {1e10f, 0x7c00},         {-1e10f, 0xfc00},       {2.98023223876953125e-08f, 0x0000} /* 2^-25: tie to 0 */,
      {8.940696716308594e-08f, 0x0002} /* 1.5 * 2^-24: tie to even 2 */, {1e-10f, 0x0000},
      {std::numeric_limits<float>::infinity(), 0x7c00},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(float_to_half_bits(c.f), c.h) << c.f;
  }
  EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(std::nanf("")))));
  EXPECT_EQ(float_to_half_bits(std::nanf("")) & 0x7c00, 0x7c00);
}

TEST(HalfCast, TiesRoundToEven) {
  // 1 + 2^-11 is halfway between 1 (0x3c00, even) and 1 + 2^-10 (0x3c01): rounds down.
  EXPECT_EQ(float_to_half_bits(1.0f + 0x1.0p-11f), 0x3c00);
  // 1 + 3 * 2^-11 is halfway between 0x3c01 (odd) and 0x3c02: rounds up.
  EXPECT_EQ(float_to_half_bits(1.0f + 3 * 0x1.0p-11f), 0x3c02);
  // Just above a tie rounds up.
  EXPECT_EQ(float_to_half_bits(std::nextafter(1.0f + 0x1.0p-11f, 2.0f)), 0x3c01);
}

TEST(HalfCast, EveryHalfRoundTrips) {
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    auto h = static_cast<std::uint16_t>(b);
    float f = half_bits_to_float(h);
    if (std::isnan(f)) {
      EXPECT_EQ(h & 0x7c00, 0x7c00);
      continue;
    }
    ASSERT_EQ(float_to_half_bits(f), h) << std::hex << b;
  }
  EXPECT_EQ(half_bits_to_float(0x3c00), 1.0f);
  EXPECT_EQ(half_bits_to_float(0x0001), 0x1.0p-24f);
  EXPECT_EQ(half_bits_to_float(0xfbff), -65504.0f);
}

TEST(BFloat16Cast, KnownValuesAndTies) {
  EXPECT_EQ(float_to_bfloat16_bits(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bfloat16_bits(-2.0f), 0xc000);
  EXPECT_EQ(float_to_bfloat16_bits(0.1f), 0x3dcd);  // 0x3dcccccd rounds up
  EXPECT_EQ(float_to_bfloat16_bits(1.0f / 3.0f), 0x3eab);
  // 1 + 2^-8 is halfway between 0x3f80 (even) and 0x3f81: rounds down; 1 + 3 * 2^-8 rounds up.
  EXPECT_EQ(float_to_bfloat16_bits(1.0f + 0x1.0p-8f), 0x3f80);
  EXPECT_EQ(float_to_bfloat16_bits(1.0f + 3 * 0x1.0p-8f), 0x3f82);
  EXPECT_EQ(float_to_bfloat16_bits(std::numeric_limits<float>::max()), 0x7f80);  // past the largest: inf
  EXPECT_EQ(float_to_bfloat16_bits(-std::numeric_limits<float>::infinity()), 0xff80);
  std::uint16_t nan = float_to_bfloat16_bits(std::nanf(""));
  EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(nan)));
  // A NaN whose payload sits only in the low bits must not become inf.
  EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(float_to_bfloat16_bits(std::bit_cast<float>(0x7f800001u)))));
  for (std::uint32_t b = 0; b < 0x10000; ++b) {
    float f = bfloat16_bits_to_float(static_cast<std::uint16_t>(b));
    if (!std::isnan(f)) ASSERT_EQ(float_to_bfloat16_bits(f), b);
  }
}

}  // namespace
}  // namespace stoker

#if defined(__FLT16_MAX__)
namespace stoker {
namespace {
// The compiler's _Float16 conversion (IEEE round-to-nearest-even) as an independent reference,
// over a million float bit patterns spread across every exponent.
TEST(HalfCast, MatchesTheCompilersFloat16) {
  std::uint64_t s = 12345;
  for (int i = 0; i < 1'000'000; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    float f = std::bit_cast<float>(static_cast<std::uint32_t>(s >> 32));
    if (std::isnan(f)) continue;
    auto ref = std::bit_cast<std::uint16_t>(static_cast<_Float16>(f));
    ASSERT_EQ(float_to_half_bits(f), ref) << std::hexfloat << f;
  }
}
}  // namespace
}  // namespace stoker
#endif
