// The shared __host__ __device__ arithmetic: softmax cross-entropy, reduced-precision rounding,
// Adam/SGD steps and loss scaling, against hand-computed values.
#include "trainer/kernels_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "trainer/backend.h"

namespace stoker {
namespace {

using namespace kmath;

TEST(SoftmaxXent, MatchesTheDefinition) {
  const float logits[3] = {1.f, 2.f, 0.5f};
  float d[3];
  bool ok = false;
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
  const float loss = softmax_xent_row(logits, 3, 0, nullptr, 1.f, d, &ok);
  EXPECT_NEAR(loss, -std::log(std::exp(1.0) / z), 1e-6);
  EXPECT_FALSE(ok);
  EXPECT_NEAR(d[0], std::exp(1.0) / z - 1, 1e-6);
  EXPECT_NEAR(d[1], std::exp(2.0) / z, 1e-6);
  EXPECT_NEAR(d[0] + d[1] + d[2], 0, 1e-6);
  // One-hot target gives the same as the sparse label; grad_scale scales the gradient only.
  const float onehot[3] = {0, 1, 0};
  float d2[3];
  const float loss2 = softmax_xent_row(logits, 3, -1, onehot, 0.5f, d2, &ok);
  EXPECT_TRUE(ok);
  EXPECT_NEAR(loss2, softmax_xent_row(logits, 3, 1, nullptr, 1.f, d, nullptr), 1e-6);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(d2[c], 0.5f * d[c], 1e-7);
}

TEST(SoftmaxXent, StableForHugeLogits) {
  const float logits[4] = {1e30f, -1e30f, 3e38f, 0.f};
  float d[4];
  bool ok = false;
  float loss = softmax_xent_row(logits, 4, 2, nullptr, 1.f, d, &ok);
  EXPECT_EQ(loss, 0.f);
  EXPECT_TRUE(ok);
  for (float x : d) EXPECT_TRUE(std::isfinite(x));
  loss = softmax_xent_row(logits, 4, 1, nullptr, 1.f, d, &ok);
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, 3e38f + 1e30f, 1e33f);  // -log softmax = max - logit, no overflow
  EXPECT_NEAR(d[2], 1.f, 1e-6);
  EXPECT_NEAR(d[1], -1.f, 1e-6);
  const float same[2] = {-1e4f, -1e4f};
  EXPECT_NEAR(softmax_xent_row(same, 2, 0, nullptr, 1.f, d, nullptr), std::log(2.f), 1e-6);
}

TEST(ReducedPrecision, HalfRoundingMatchesIeee) {
  EXPECT_EQ(float_to_half_bits(1.f), 0x3c00);
  EXPECT_EQ(float_to_half_bits(-2.f), 0xc000);
  EXPECT_EQ(float_to_half_bits(65504.f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(65520.f), 0x7c00);  // ties to even rounds up to inf
  EXPECT_EQ(float_to_half_bits(65519.f), 0x7bff);
  EXPECT_EQ(float_to_half_bits(1e10f), 0x7c00);
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half_bits(std::ldexp(1.f, -26)), 0x0000);
  EXPECT_EQ(float_to_half_bits(std::ldexp(3.f, -26)), 0x0001);  // 0.75 ulp rounds up
  EXPECT_EQ(float_to_half_bits(1.f + std::ldexp(1.f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(float_to_half_bits(1.f + std::ldexp(3.f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(half_bits_to_float(float_to_half_bits(std::numeric_limits<float>::quiet_NaN()))));
  for (float x : {0.1f, -3.14159f, 1000.5f, 6e-5f, 2e-7f}) {
    const float r = round_to(1, x);
    EXPECT_NEAR(r, x, std::abs(x) * 1e-3 + 6e-8) << x;
    EXPECT_EQ(round_to(1, r), r);  // idempotent
  }
  EXPECT_EQ(half_bits_to_float(0x3555), 0.333251953125f);
}

TEST(ReducedPrecision, Bfloat16Rounding) {
  EXPECT_EQ(float_to_bf16_bits(1.f), 0x3f80);
  EXPECT_EQ(bf16_bits_to_float(float_to_bf16_bits(1.f + std::ldexp(1.f, -8))), 1.f);  // tie to even
  EXPECT_EQ(bf16_bits_to_float(float_to_bf16_bits(1.f + std::ldexp(3.f, -8))), 1.f + std::ldexp(1.f, -6));
  EXPECT_EQ(round_to(2, 1e30f), bf16_bits_to_float(float_to_bf16_bits(1e30f)));
  EXPECT_TRUE(std::isfinite(round_to(2, 1e38f)));  // bf16 keeps fp32's range
  EXPECT_TRUE(std::isnan(round_to(2, std::numeric_limits<float>::quiet_NaN())));
}

TEST(Optimizers, AdamTwoStepsMatchHandComputation) {
  // Keras Adam, lr 1e-3, b1 .9, b2 .999, eps 1e-7; gradients 0.5 then -0.2 on w = 1.
  float w = 1.f, m = 0.f, v = 0.f;
  AdamParams p{1e-3f, 0.9f, 0.999f, 1e-7f, 0.f};
  p.alpha = static_cast<float>(1e-3 * std::sqrt(1 - 0.999) / (1 - 0.9));
  adam_update(&w, &m, &v, 0.5f, p);
  EXPECT_NEAR(m, 0.05, 1e-7);
  EXPECT_NEAR(v, 0.00025, 1e-8);  // (1 - 0.999f) is 1.3e-5 off in float
  // alpha * m / sqrt(v) = 1e-3 * sqrt(.001)/.1 * .05/sqrt(.00025) = 1e-3 (first Adam step = lr).
  EXPECT_NEAR(w, 1.0 - 1e-3, 1e-6);
  p.alpha = static_cast<float>(1e-3 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9));
  adam_update(&w, &m, &v, -0.2f, p);
  const double m2 = 0.9 * 0.05 + 0.1 * -0.2, v2 = 0.999 * 0.00025 + 0.001 * 0.04;
  const double w2 = (1.0 - 1e-3) - 1e-3 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.81) * m2 / (std::sqrt(v2) + 1e-7);
  EXPECT_NEAR(m, m2, 1e-7);
  EXPECT_NEAR(v, v2, 1e-8);
  EXPECT_NEAR(w, w2, 1e-6);
}

TEST(Optimizers, SgdMomentumMatchesKeras) {
  float w = 1.f, vel = 0.f;
  sgd_update(&w, &vel, 2.f, 0.1f, 0.9f);
  EXPECT_FLOAT_EQ(vel, -0.2f);
  EXPECT_FLOAT_EQ(w, 0.8f);
  sgd_update(&w, &vel, 1.f, 0.1f, 0.9f);
  EXPECT_FLOAT_EQ(vel, 0.9f * -0.2f - 0.1f);
  EXPECT_FLOAT_EQ(w, 0.8f + 0.9f * -0.2f - 0.1f);
}

TEST(LossScalerPolicy, HalvesOnOverflowAndDoublesAfter2000GoodSteps) {
  LossScaler s = LossScaler::for_precision(Precision::kMixedFloat16);
  EXPECT_EQ(s.scale, 32768.f);
  EXPECT_FALSE(s.update(false));
  EXPECT_EQ(s.scale, 16384.f);
  for (int i = 0; i < 1999; ++i) ASSERT_TRUE(s.update(true));
  EXPECT_EQ(s.scale, 16384.f);
  EXPECT_TRUE(s.update(true));
  EXPECT_EQ(s.scale, 32768.f);
  LossScaler fp32 = LossScaler::for_precision(Precision::kFloat32);
  EXPECT_EQ(fp32.scale, 1.f);
  EXPECT_FALSE(fp32.update(false));  // a non-finite fp32 step is not applied either
  EXPECT_EQ(fp32.scale, 1.f);
  EXPECT_FALSE(is_finite(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(is_finite(std::nanf("")));
  EXPECT_TRUE(is_finite(3e38f));
}

}  // namespace
}  // namespace stoker
