// Image ops: resampling against hand-computed values, crop geometry, Inception-style
// random-resized-crop statistics and fallback, flip, normalise/cast, thread-count invariance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "formats/image_cast.h"
#include "formats/image_ops.h"
#include "formats/resize_kernels.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using testing::smooth_image;

Tensor image(int h, int w, int c, const std::vector<std::uint8_t>& px) {
  Tensor t(DType::kU8, Shape{h, w, c});
  std::memcpy(t.mutable_data(), px.data(), px.size());
  return t;
}

Tensor run_op(const MapFn& fn, Tensor img, std::uint64_t seed = 0) {
  Rng rng(seed);
  return fn(Element{std::move(img), Tensor::scalar<std::int32_t>(7)}, rng)[0];
}

std::uint8_t at(const Tensor& t, int y, int x, int c = 0) {
  return t.data_as<std::uint8_t>()[(y * t.shape()[1] + x) * t.shape()[2] + c];
}

TEST(Resize, SameSizeIsIdentityAndConstantsStayConstant) {
  Tensor img = image(13, 17, 3, smooth_image(13, 17, 3));
  for (ResizeFilter f : {ResizeFilter::kBilinear, ResizeFilter::kArea}) {
    EXPECT_EQ(run_op(resize(13, 17, f), img), img);
    Tensor flat = image(9, 11, 3, std::vector<std::uint8_t>(9 * 11 * 3, 77));
    for (auto [h, w] : {std::pair{3, 4}, std::pair{20, 31}, std::pair{1, 1}, std::pair{9, 5}}) {
      Tensor r = run_op(resize(h, w, f), flat);
      ASSERT_EQ(r.shape(), (Shape{h, w, 3}));
      for (std::int64_t i = 0; i < r.shape().num_elements(); ++i) ASSERT_EQ(r.data_as<std::uint8_t>()[i], 77);
    }
  }
}

TEST(Resize, BilinearUpscaleUsesHalfPixelCentres) {
  // 1x2 -> 1x4: sample points -0.25 (clamped), 0.25, 0.75, 1.25 (clamped).
  Tensor r = run_op(resize(1, 4), image(1, 2, 1, {0, 200}));
  EXPECT_EQ(at(r, 0, 0), 0);
  EXPECT_EQ(at(r, 0, 1), 50);
  EXPECT_EQ(at(r, 0, 2), 150);
  EXPECT_EQ(at(r, 0, 3), 200);
}

// The bilinear kernels (formats/resize_kernels.h: the generic path and, where this CPU has it, the
// AVX2 one) against the fixed-point formula they implement, written out per output value: 8-bit
// weights, the vertical blend v = a * (256 - wy) + b * wy first, then (v0 * (256 - wx) + v1 * wx +
// 2^15) >> 16. Exact: integer arithmetic, so any difference is a kernel bug (a wrong tap, the edge
// pixel, the flip, a vector tail). Sources are allocated to their last byte, so under ASan a read
// past the image fails too.
void expect_bilinear_formula(const std::vector<std::uint8_t>& src, int sh, int sw, int c, detail::Region r, int oh,
                             int ow, bool flip, const std::string& what) {
  struct Tap { int a, b, w; };
  auto taps = [](double start, double len, int n, int size, int o) {
    double s = std::clamp(start + (o + 0.5) * len / n - 0.5, 0.0, double(size - 1));
    int a = std::min(static_cast<int>(s), size - 1);
    int w = a == size - 1 ? 0 : static_cast<int>(std::lround((s - a) * 256));
    return Tap{a, std::min(a + 1, size - 1), w};
  };
  std::vector<std::uint8_t> out(static_cast<std::size_t>(oh * ow * c));
  detail::resize_region(src.data(), sh, sw, c, static_cast<std::size_t>(sw * c), r, out.data(), oh, ow,
                        ResizeFilter::kBilinear, flip);
  if (r.w == ow && r.h == oh) return;  // the integral-window copy path, tested elsewhere
  for (int oy = 0; oy < oh; ++oy) {
    const Tap ty = taps(r.y, r.h, oh, sh, oy);
    for (int ox = 0; ox < ow; ++ox) {
      const Tap tx = taps(r.x, r.w, ow, sw, ox);
      for (int ch = 0; ch < c; ++ch) {
        auto px = [&](int yy, int xx) { return unsigned{src[static_cast<std::size_t>((yy * sw + xx) * c + ch)]}; };
        auto v = [&](int xx) { return px(ty.a, xx) * (256u - ty.w) + px(ty.b, xx) * unsigned(ty.w); };
        const unsigned want = (v(tx.a) * (256u - tx.w) + v(tx.b) * unsigned(tx.w) + 32768u) >> 16;
        const int dx = flip ? ow - 1 - ox : ox;
        ASSERT_EQ(out[static_cast<std::size_t>((oy * ow + dx) * c + ch)], want)
            << what << ": " << sh << "x" << sw << "x" << c << " window " << r.x << "," << r.y << " " << r.w << "x"
            << r.h << " -> " << oh << "x" << ow << (flip ? " flipped" : "") << " at " << oy << "," << ox << "," << ch;
      }
    }
  }
}

TEST(Resize, BilinearKernelEqualsTheFixedPointFormula) {
  const detail::ResizeIsa best = detail::resize_isa();
  std::vector<detail::ResizeIsa> isas{detail::ResizeIsa::kGeneric};
  if (detail::set_resize_isa(detail::ResizeIsa::kAvx2)) isas.push_back(detail::ResizeIsa::kAvx2);
  for (detail::ResizeIsa isa : isas) {
    ASSERT_TRUE(detail::set_resize_isa(isa));
    const std::string name = isa == detail::ResizeIsa::kGeneric ? "generic" : "avx2";
    std::uint64_t state = 12345;
    auto next = [&] { state = state * 6364136223846793005ULL + 1442695040888963407ULL; return state >> 33; };
    auto random_src = [&](int sh, int sw, int c) {
      std::vector<std::uint8_t> src(static_cast<std::size_t>(sh * sw * c));
      for (auto& v : src) v = static_cast<std::uint8_t>(next());
      return src;
    };
    for (int t = 0; t < 300; ++t) {
      const int c = (int[]){1, 3, 4}[t % 3];
      const int sh = 1 + static_cast<int>(next() % 90), sw = 1 + static_cast<int>(next() % 90);
      const int oh = 1 + static_cast<int>(next() % 70), ow = 1 + static_cast<int>(next() % 70);
      const auto src = random_src(sh, sw, c);
      const double x = (next() % 1000) / 1000.0 * sw, y = (next() % 1000) / 1000.0 * sh;
      const detail::Region r{x, y, std::max(0.3, (next() % 1000) / 1000.0 * (sw - x)),
                             std::max(0.3, (next() % 1000) / 1000.0 * (sh - y))};
      expect_bilinear_formula(src, sh, sw, c, r, oh, ow, t % 2, name + " random case " + std::to_string(t));
    }
    // The random-resized-crop shapes, odd output widths (every vector tail: 8 and 16 pixels per
    // step), upscales, and windows flush with each edge of the image (the last pixel's load).
    for (int c : {1, 3, 4})
      for (bool flip : {false, true}) {
        const auto big = random_src(320, 331, c);
        expect_bilinear_formula(big, 320, 331, c, {0.5, 0.5, 319, 319}, 224, 224, flip, name + " 320->224");
        expect_bilinear_formula(big, 320, 331, c, {11, 0, 320, 320}, 224, 224, flip, name + " right edge");
        expect_bilinear_formula(big, 320, 331, c, {0, 97.25, 331, 222.75}, 224, 224, flip, name + " full width");
        for (int ow : {7, 8, 9, 15, 16, 17, 23, 31, 33, 225})
          expect_bilinear_formula(big, 320, 331, c, {2.5, 3, 300.5, 317}, 61, ow, flip, name + " odd width");
        const auto small = random_src(37, 29, c);
        expect_bilinear_formula(small, 37, 29, c, {0, 0, 29, 37}, 224, 224, flip, name + " upscale");
        expect_bilinear_formula(small, 37, 29, c, {20.5, 30.25, 8.5, 6.75}, 33, 17, flip, name + " upscale corner");
        const auto one = random_src(5, 1, c);
        expect_bilinear_formula(one, 5, 1, c, {0, 0, 1, 5}, 9, 19, flip, name + " one column");
      }
    if (HasFatalFailure()) break;
  }
  detail::set_resize_isa(best);
}

TEST(Resize, AreaDownscaleAveragesBlocks) {
  std::vector<std::uint8_t> px(6 * 6);
  for (int i = 0; i < 36; ++i) px[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>((i * 37) % 251);
  Tensor src = image(6, 6, 1, px);
  Tensor r = run_op(resize(2, 3, ResizeFilter::kArea), src);  // 3x2 blocks
  for (int y = 0; y < 2; ++y)
    for (int x = 0; x < 3; ++x) {
      double s = 0;
      for (int dy = 0; dy < 3; ++dy)
        for (int dx = 0; dx < 2; ++dx) s += at(src, 3 * y + dy, 2 * x + dx);
      EXPECT_NEAR(at(r, y, x), s / 6, 0.51) << y << "," << x;
    }
  // A fractional ratio (6 -> 4: each output covers 1.5 pixels).
  Tensor row = run_op(resize(1, 4, ResizeFilter::kArea), image(1, 6, 1, {0, 30, 60, 90, 120, 150}));
  EXPECT_EQ(at(row, 0, 0), 10);   // (0 + 0.5 * 30) / 1.5
  EXPECT_EQ(at(row, 0, 3), 140);  // (0.5 * 120 + 150) / 1.5
}

TEST(Resize, ShorterSideKeepsAspect) {
  Tensor r = run_op(resize_shorter(30), image(60, 90, 3, smooth_image(60, 90, 3)));
  EXPECT_EQ(r.shape(), (Shape{30, 45, 3}));
}

TEST(Crop, CenterAndRandomCropsAreExactWindows) {
  Tensor img = image(20, 30, 3, smooth_image(20, 30, 3));
  Tensor c = run_op(center_crop(10, 12), img);
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12; ++x) ASSERT_EQ(at(c, y, x, 1), at(img, 5 + y, 9 + x, 1));
  std::set<std::pair<int, int>> offsets;
  for (std::uint64_t s = 0; s < 200; ++s) {
    Tensor r = run_op(random_crop(10, 12), img, s);
    bool found = false;
    for (int oy = 0; oy <= 10 && !found; ++oy)
      for (int ox = 0; ox <= 18 && !found; ++ox) {
        bool same = true;
        for (int y = 0; y < 10 && same; ++y)
          same = std::memcmp(r.data_as<std::uint8_t>() + y * 36, img.data_as<std::uint8_t>() + ((oy + y) * 30 + ox) * 3, 36) == 0;
        if (same) {
          found = true;
          offsets.insert({oy, ox});
        }
      }
    ASSERT_TRUE(found) << "seed " << s;
  }
  EXPECT_GT(offsets.size(), 50u);  // spread over the 11 x 19 possible offsets
  EXPECT_THROW(run_op(center_crop(21, 5), img), Error);
}

TEST(RandomResizedCrop, RegionsFollowInceptionBounds) {
  RandomResizedCropParams p;
  double min_frac = 1, max_frac = 0;
  for (std::uint64_t s = 0; s < 2000; ++s) {
    Rng rng(s);
    detail::Region r = detail::random_resized_region(375, 500, p, rng);
    ASSERT_GE(r.x, 0);
    ASSERT_GE(r.y, 0);
    ASSERT_LE(r.x + r.w, 500);
    ASSERT_LE(r.y + r.h, 375);
    double frac = r.w * r.h / (375.0 * 500.0);
    double ratio = r.w / r.h;
    ASSERT_GE(ratio, 0.75 * 0.97) << s;
    ASSERT_LE(ratio, 4.0 / 3.0 * 1.03) << s;
    ASSERT_GE(frac, 0.08 * 0.97) << s;
    min_frac = std::min(min_frac, frac);
    max_frac = std::max(max_frac, frac);
  }
  EXPECT_LT(min_frac, 0.12);
  EXPECT_GT(max_frac, 0.9);
}

TEST(RandomResizedCrop, FallsBackToACentreCropWithinTheRatio) {
  Rng rng(1);
  // No attempts: straight to the fallback. 100x500 is wider than 4/3: width = round(100 * 4/3).
  detail::Region r = detail::random_resized_region(100, 500, {.attempts = 0}, rng);
  EXPECT_EQ(r.w, 133);
  EXPECT_EQ(r.h, 100);
  EXPECT_EQ(r.x, (500 - 133) / 2);
  EXPECT_EQ(r.y, 0);
  // Impossible scale (above the whole image) exhausts the 10 attempts, then falls back.
  detail::Region t = detail::random_resized_region(400, 100, {.scale_min = 2, .scale_max = 3}, rng);
  EXPECT_EQ(t.w, 100);
  EXPECT_EQ(t.h, 133);
  EXPECT_EQ(t.y, (400 - 133) / 2);
  // A square image within bounds: the whole image.
  detail::Region u = detail::random_resized_region(50, 50, {.attempts = 0}, rng);
  EXPECT_EQ(u.w, 50);
  EXPECT_EQ(u.h, 50);
  Tensor out = run_op(random_resized_crop(8, 8), image(30, 40, 3, smooth_image(30, 40, 3)), 3);
  EXPECT_EQ(out.shape(), (Shape{8, 8, 3}));
}

TEST(Flip, MirrorsAndTwiceIsIdentity) {
  Tensor img = image(5, 7, 3, smooth_image(5, 7, 3));
  Tensor f = run_op(random_flip(1.0), img);
  for (int y = 0; y < 5; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(at(f, y, x, c), at(img, y, 6 - x, c));
  EXPECT_EQ(run_op(random_flip(1.0), f), img);
  EXPECT_EQ(run_op(random_flip(0.0), img), img);
}

TEST(Normalize, PerChannelMeanStdAndHalfOutputs) {
  Tensor img = image(1, 2, 3, {0, 128, 255, 51, 102, 153});
  Tensor f = run_op(normalize({.mean = {0.5f, 0.25f, 0.0f}, .std = {0.5f, 0.25f, 2.0f}}), img);
  ASSERT_EQ(f.dtype(), DType::kF32);
  const float* d = f.data_as<float>();
  EXPECT_FLOAT_EQ(d[0], (0 / 255.f - 0.5f) / 0.5f);
  EXPECT_FLOAT_EQ(d[1], (128 / 255.f - 0.25f) / 0.25f);
  EXPECT_FLOAT_EQ(d[2], (255 / 255.f - 0.0f) / 2.0f);
  EXPECT_FLOAT_EQ(d[4], (102 / 255.f - 0.25f) / 0.25f);
  for (DType t : {DType::kF16, DType::kBF16}) {
    Tensor h = run_op(normalize({.mean = {0.5f, 0.25f, 0.0f}, .std = {0.5f, 0.25f, 2.0f}, .out = t}), img);
    ASSERT_EQ(h.dtype(), t);
    for (int i = 0; i < 6; ++i) {
      std::uint16_t want = t == DType::kF16 ? float_to_half_bits(d[i]) : float_to_bfloat16_bits(d[i]);
      EXPECT_EQ(h.data_as<std::uint16_t>()[i], want) << i;
    }
  }
  EXPECT_THROW(normalize({.mean = {1, 2}, .std = {1}}), Error);
}

TEST(Cast, Float32ToHalvesElementwise) {
  Tensor f = Tensor::from_values<float>(Shape{4}, {1.0f, -0.1f, 65520.0f, 1e-8f});
  Rng rng(0);
  Tensor h = cast(DType::kF16)(Element{f}, rng)[0];
  Tensor b = cast(DType::kBF16)(Element{f}, rng)[0];
  EXPECT_EQ(h.data_as<std::uint16_t>()[0], 0x3c00);
  EXPECT_EQ(h.data_as<std::uint16_t>()[2], 0x7c00);
  EXPECT_EQ(b.data_as<std::uint16_t>()[0], 0x3f80);
  EXPECT_EQ(b.data_as<std::uint16_t>()[1], float_to_bfloat16_bits(-0.1f));
  EXPECT_THROW(cast(DType::kF16)(Element{Tensor::scalar<std::int64_t>(1)}, rng), Error);
}

TEST(ImageOps, RandomOpsGiveTheSameOutputForAnyThreadCount) {
  std::vector<Element> imgs;
  for (int i = 0; i < 12; ++i) imgs.push_back(Element{image(20 + i, 30, 3, smooth_image(20 + i, 30, 3, i))});
  auto ds = Dataset::from_vector(imgs)
                .map(random_resized_crop(12, 12))
                .map(random_flip())
                .map(normalize({.out = DType::kBF16}))
                .batch(5);
  auto run = [&](int threads) {
    std::vector<Element> out;
    auto it = ds.iterator({.num_threads = threads, .seed = 4});
    while (auto e = it.next()) out.push_back(std::move(*e));
    return out;
  };
  auto one = run(1);
  ASSERT_EQ(one.size(), 3u);
  EXPECT_EQ(one[0][0].shape(), (Shape{5, 12, 12, 3}));
  for (int threads : {2, 3}) EXPECT_EQ(run(threads), one) << threads;
}

}  // namespace
}  // namespace stoker
