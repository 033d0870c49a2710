// decode_jpeg's fused paths (DCT-scaled decode, crop, resize, flip, random crops, normalize)
// against the unfused ops on the same image: each fused option must give the pixels, shapes and
// seeded randomness of decode-then-op.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "formats/jpeg_decode.h"
#include "tests/formats/jpeg_decode_util.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

TEST(JpegDecode, DctScaledDecodeIsUsedWhenTheTargetIsSmaller) {
  auto jpeg = make_jpeg(96, 128);
  for (int denom : {2, 4, 8}) {
    int rh = 0, rw = 0;
    auto ref = reference_decode(jpeg, TJPF_RGB, rh, rw, denom);
    // Output = exactly the 1/denom size: the decoder must pick that scale and copy (bit-exact with
    // TurboJPEG's scaled decode, which a full decode + resize would not be).
    Tensor img = decode(jpeg, {.height = rh, .width = rw});
    ASSERT_EQ(img.shape(), (Shape{rh, rw, 3}));
    EXPECT_EQ(max_abs_diff(img.data_as<std::uint8_t>(), ref.data(), ref.size()), 0) << "1/" << denom;
    // Without DCT scaling the same size comes from a full decode and a resize: close, not equal.
    Tensor plain = decode(jpeg, {.height = rh, .width = rw, .dct_scaling = false});
    EXPECT_LT(mean_abs_diff(plain.data_as<std::uint8_t>(), ref.data(), ref.size()), 4.0) << "1/" << denom;
  }
}

TEST(JpegDecode, FusedCenterCropEqualsDecodeThenCrop) {
  auto jpeg = make_jpeg(48, 64);
  int rh = 0, rw = 0;
  auto full = reference_decode(jpeg, TJPF_RGB, rh, rw);
  Tensor img = decode(jpeg, {.height = 16, .width = 20, .crop = CropMode::kCenter});
  ASSERT_EQ(img.shape(), (Shape{16, 20, 3}));
  const int y0 = (48 - 16) / 2, x0 = (64 - 20) / 2;
  for (int y = 0; y < 16; ++y) {
    ASSERT_EQ(std::memcmp(img.data_as<std::uint8_t>() + y * 20 * 3, full.data() + ((y0 + y) * 64 + x0) * 3, 20 * 3), 0)
        << "row " << y;
  }
}

TEST(JpegDecode, FusedResizeShorterThenCenterCropMatchesUnfusedOps) {
  auto jpeg = make_jpeg(120, 160);
  Rng rng(0);
  Element e{bytes_tensor(jpeg)};
  e = decode_jpeg()(std::move(e), rng);
  e = resize_shorter(60, ResizeFilter::kArea)(std::move(e), rng);
  e = center_crop(48, 48)(std::move(e), rng);
  // Fused: resize shorter side to 60 (1/2 scale DCT) then crop 48x48.
  Tensor fused = decode(jpeg, {.height = 48, .width = 48, .crop = CropMode::kCenter, .resize_shorter = 60,
                               .filter = ResizeFilter::kArea});
  ASSERT_EQ(fused.shape(), e[0].shape());
  EXPECT_LT(mean_abs_diff(fused.data_as<std::uint8_t>(), e[0].data_as<std::uint8_t>(), fused.nbytes()), 3.0);
}

TEST(JpegDecode, FlipMirrorsAndFollowsTheRng) {
  auto jpeg = make_jpeg(24, 32);
  Tensor ref = decode(jpeg);
  Tensor flipped = decode(jpeg, {.flip_probability = 1.0});
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(flipped.data_as<std::uint8_t>()[(y * 32 + x) * 3 + c], ref.data_as<std::uint8_t>()[(y * 32 + 31 - x) * 3 + c]);
  // p = 0.5: same seed, same answer; over many seeds, about half flip.
  int flips = 0;
  for (std::uint64_t s = 0; s < 200; ++s) {
    Tensor a = decode(jpeg, {.flip_probability = 0.5}, s);
    Tensor b = decode(jpeg, {.flip_probability = 0.5}, s);
    ASSERT_EQ(a, b);
    flips += a == flipped;
  }
  EXPECT_GT(flips, 60);
  EXPECT_LT(flips, 140);
}

TEST(JpegDecode, RandomResizedCropHasTheOutputSizeAndIsReproducible) {
  auto jpeg = make_jpeg(75, 100);
  DecodeJpegOptions o{.height = 24, .width = 24, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  for (std::uint64_t s = 0; s < 20; ++s) {
    Tensor a = decode(jpeg, o, s);
    ASSERT_EQ(a.shape(), (Shape{24, 24, 3}));
    EXPECT_EQ(a, decode(jpeg, o, s));
  }
  EXPECT_NE(decode(jpeg, o, 1), decode(jpeg, o, 2));
}

// Fused random crop after "resize shorter side": the window moves with the seed, stays inside
// the image (pixels close to the unfused resize of the same image at some offset), reproducibly.
TEST(JpegDecode, FusedRandomCropAfterResizeShorter) {
  auto jpeg = make_jpeg(90, 120);
  DecodeJpegOptions o{.height = 24, .width = 24, .crop = CropMode::kRandom, .resize_shorter = 45};
  Rng rng0(0);
  Tensor resized = resize_shorter(45)(Element{decode(jpeg)}, rng0)[0];  // 45 x 60
  ASSERT_EQ(resized.shape(), (Shape{45, 60, 3}));
  std::set<std::vector<std::uint8_t>> distinct;
  for (std::uint64_t s = 0; s < 12; ++s) {
    Tensor a = decode(jpeg, o, s);
    ASSERT_EQ(a.shape(), (Shape{24, 24, 3}));
    EXPECT_EQ(a, decode(jpeg, o, s));
    distinct.insert(std::vector<std::uint8_t>(a.data_as<std::uint8_t>(), a.data_as<std::uint8_t>() + a.nbytes()));
    double best = 1e9;
    for (int oy = 0; oy <= 45 - 24; ++oy)
      for (int ox = 0; ox <= 60 - 24; ++ox) {
        double sum = 0;
        for (int y = 0; y < 24; ++y)
          sum += mean_abs_diff(a.data_as<std::uint8_t>() + y * 72, resized.data_as<std::uint8_t>() + ((oy + y) * 60 + ox) * 3, 72);
        best = std::min(best, sum / 24);
      }
    EXPECT_LT(best, 8.0) << "seed " << s;  // sub-pixel offsets (drawn in source pixels) and DCT scaling
  }
  EXPECT_GT(distinct.size(), 6u);
}

TEST(JpegDecode, FusedNormalizeEqualsTheSeparateOp) {
  auto jpeg = make_jpeg(30, 40);
  NormalizeOptions n{.out = DType::kBF16};
  DecodeJpegOptions o{.height = 16, .width = 16, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  for (std::uint64_t s = 0; s < 4; ++s) {
    Rng a(s), b(s), c(s);
    Element sep = normalize(n)(decode_jpeg(o)(Element{bytes_tensor(jpeg)}, a), b);
    DecodeJpegOptions fused = o;
    fused.normalize = n;
    Element one = decode_jpeg(fused)(Element{bytes_tensor(jpeg)}, c);
    ASSERT_EQ(one[0].dtype(), DType::kBF16);
    EXPECT_EQ(one[0], sep[0]);
  }
}

}  // namespace
}  // namespace stoker
