// decode_jpeg on every JPEG variant made at test time (TurboJPEG as the reference decoder) and
// on every kind of bad input; the fused crop/resize/flip paths against the unfused ops.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "formats/file_source.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

Tensor bytes_tensor(const std::vector<std::uint8_t>& b) {
  Tensor t(DType::kU8, Shape{static_cast<std::int64_t>(b.size())});
  if (!b.empty()) std::memcpy(t.mutable_data(), b.data(), b.size());
  return t;
}

Tensor decode(const std::vector<std::uint8_t>& jpeg, DecodeJpegOptions o = {}, std::uint64_t seed = 1) {
  Rng rng(seed);
  return decode_jpeg(o)(Element{bytes_tensor(jpeg)}, rng)[0];
}

// Decodes `path` through decode_jpeg and returns the stoker::Error it raises (fails if none).
Error decode_error(const std::string& path, DecodeJpegOptions o = {}) {
  Rng rng(1);
  try {
    decode_jpeg(o)(Element{path_tensor(path), Tensor::scalar<std::int32_t>(0)}, rng);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << path;
  return Error(ErrorCode::kInternal, "none");
}

struct Variant {
  const char* name;
  int h, w, c;
  JpegEncodeOptions enc;
  int marker;  // a marker the file must hold, proving the variant was really written
};

bool has_marker(const std::vector<std::uint8_t>& j, int marker) {
  for (std::size_t i = 0; i + 1 < j.size(); ++i)
    if (j[i] == 0xff && j[i + 1] == marker) return true;
  return false;
}

class JpegVariants : public ::testing::TestWithParam<Variant> {};

TEST_P(JpegVariants, DecodeMatchesTurboJpegReference) {
  const Variant& v = GetParam();
  auto jpeg = make_jpeg(v.h, v.w, v.c, v.enc, 3);
  ASSERT_TRUE(has_marker(jpeg, v.marker)) << v.name << " lacks marker 0x" << std::hex << v.marker;
  for (JpegColor color : {JpegColor::kRGB, JpegColor::kGray}) {
    const int pf = color == JpegColor::kRGB ? TJPF_RGB : TJPF_GRAY;
    int rh = 0, rw = 0;
    auto ref = reference_decode(jpeg, pf, rh, rw);
    Tensor img = decode(jpeg, {.color = color});
    ASSERT_EQ(img.shape(), (Shape{v.h, v.w, color == JpegColor::kRGB ? 3 : 1})) << v.name;
    // Same library, same settings: bit-exact.
    EXPECT_EQ(max_abs_diff(img.data_as<std::uint8_t>(), ref.data(), ref.size()), 0) << v.name;
  }
  // And close to the pixels that were encoded.
  if (v.c == 3) {
    auto src = smooth_image(v.h, v.w, 3, 3);
    Tensor img = decode(jpeg);
    EXPECT_LT(mean_abs_diff(img.data_as<std::uint8_t>(), src.data(), src.size()), 6.0) << v.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, JpegVariants,
    ::testing::Values(Variant{"baseline420", 48, 64, 3, {}, 0xc0},
                      Variant{"baseline444", 48, 64, 3, {.subsampling = JpegSubsampling::k444}, 0xc0},
                      Variant{"baseline422", 48, 64, 3, {.subsampling = JpegSubsampling::k422}, 0xc0},
                      Variant{"gray", 40, 56, 1, {}, 0xc0},
                      Variant{"progressive", 48, 64, 3, {.progressive = true}, 0xc2},
                      Variant{"arithmetic", 48, 64, 3, {.arithmetic = true}, 0xc9},
                      Variant{"arithmetic_progressive", 48, 64, 3, {.progressive = true, .arithmetic = true}, 0xca},
                      Variant{"restart_markers", 48, 64, 3, {.restart_interval = 2}, 0xd0},
                      Variant{"one_by_one", 1, 1, 3, {}, 0xc0},
                      Variant{"odd_17x9", 9, 17, 3, {}, 0xc0},
                      Variant{"odd_1x33", 1, 33, 3, {.progressive = true}, 0xc2},
                      Variant{"odd_31x1", 31, 1, 1, {}, 0xc0}),
    [](const ::testing::TestParamInfo<Variant>& i) { return std::string(i.param.name); });

TEST(JpegDecode, CmykIsConvertedToRgb) {
  // CMYK pixels chosen so the expected RGB is known: K = 255 (no black ink) and C, M, Y = R, G, B
  // in the inverted convention, so R = C*K/255 = C.
  const int h = 32, w = 40;
  auto rgb = smooth_image(h, w, 3, 5);
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(h) * w * 4);
  for (std::size_t i = 0; i < static_cast<std::size_t>(h) * w; ++i) {
    for (int ch = 0; ch < 3; ++ch) cmyk[4 * i + ch] = rgb[3 * i + ch];
    cmyk[4 * i + 3] = 255;
  }
  auto jpeg = encode_jpeg(cmyk.data(), h, w, 4, {.quality = 95, .subsampling = JpegSubsampling::k444});
  tjhandle t = tjInitDecompress();
  int hw = 0, hh = 0, sub = 0, cs = 0;
  ASSERT_EQ(tjDecompressHeader3(t, jpeg.data(), jpeg.size(), &hw, &hh, &sub, &cs), 0);
  tjDestroy(t);
  ASSERT_TRUE(cs == TJCS_YCCK || cs == TJCS_CMYK) << "the encoder did not write a CMYK JPEG";
  Tensor img = decode(jpeg);
  ASSERT_EQ(img.shape(), (Shape{h, w, 3}));
  EXPECT_LT(mean_abs_diff(img.data_as<std::uint8_t>(), rgb.data(), rgb.size()), 3.0);
  EXPECT_LE(max_abs_diff(img.data_as<std::uint8_t>(), rgb.data(), rgb.size()), 16);

  // Black ink only: C = M = Y = 255 (none), K = level -> gray level.
  for (std::size_t i = 0; i < static_cast<std::size_t>(h) * w; ++i) {
    cmyk[4 * i] = cmyk[4 * i + 1] = cmyk[4 * i + 2] = 255;
    cmyk[4 * i + 3] = 100;
  }
  jpeg = encode_jpeg(cmyk.data(), h, w, 4, {.quality = 95});
  Tensor gray = decode(jpeg, {.color = JpegColor::kGray});
  ASSERT_EQ(gray.shape(), (Shape{h, w, 1}));
  for (std::int64_t i = 0; i < h * w; ++i) EXPECT_NEAR(gray.data_as<std::uint8_t>()[i], 100, 2) << i;
}

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

// --- bad input ------------------------------------------------------------------------------

TEST(JpegDecodeErrors, TruncatedFilesAreDataLossNamingTheFile) {
  TempDir dir;
  for (bool progressive : {false, true}) {
    auto jpeg = make_jpeg(48, 64, 3, {.progressive = progressive});
    // Cuts inside the header or the scan (a file lacking only EOI decodes: jpeg_missing_eoi_test).
    for (std::size_t keep : {std::size_t{2}, std::size_t{100}, jpeg.size() / 2, jpeg.size() - 3}) {
      std::string path = dir / ("cut_" + std::to_string(progressive) + "_" + std::to_string(keep) + ".jpg");
      write_bytes(path, std::vector<std::uint8_t>(jpeg.begin(), jpeg.begin() + static_cast<long>(keep)));
      Error e = decode_error(path);
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << path << ": " << e.what();
      EXPECT_EQ(e.context().source, path);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos);
    }
  }
}

TEST(JpegDecodeErrors, NonJpegBytesPngAndEmptyFiles) {
  TempDir dir;
  write_bytes(dir / "noise.jpg", {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0});
  write_bytes(dir / "png.jpg", tiny_png());
  write_bytes(dir / "empty.jpg", {});
  write_bytes(dir / "soi_then_noise.jpg", {0xff, 0xd8, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55});
  EXPECT_EQ(decode_error(dir / "noise.jpg").code(), ErrorCode::kDataLoss);
  Error png = decode_error(dir / "png.jpg");
  EXPECT_EQ(png.code(), ErrorCode::kUnsupported);
  EXPECT_NE(png.message().find("PNG"), std::string::npos) << png.what();
  Error empty = decode_error(dir / "empty.jpg");
  EXPECT_EQ(empty.code(), ErrorCode::kDataLoss);
  EXPECT_NE(empty.message().find("empty"), std::string::npos) << empty.what();
  EXPECT_EQ(decode_error(dir / "soi_then_noise.jpg").code(), ErrorCode::kDataLoss);
  Error missing = decode_error(dir / "missing.jpg");
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_EQ(missing.context().source, dir / "missing.jpg");
}

TEST(JpegDecodeErrors, HugeHeaderIsRefusedBeforeAllocating) {
  TempDir dir;
  auto jpeg = make_jpeg(8, 8);
  // Patch the SOF0 frame header: FF C0, length(2), precision(1), height(2), width(2).
  std::size_t sof = 0;
  for (std::size_t i = 2; i + 1 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) {
      sof = i;
      break;
    }
  }
  ASSERT_NE(sof, 0u);
  for (std::size_t off : {sof + 5, sof + 7}) {
    jpeg[off] = 65000 >> 8;
    jpeg[off + 1] = 65000 & 0xff;
  }
  write_bytes(dir / "huge.jpg", jpeg);
  Error e = decode_error(dir / "huge.jpg");
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
  EXPECT_NE(e.message().find("65000x65000"), std::string::npos) << e.what();
  EXPECT_EQ(e.context().source, dir / "huge.jpg");
  // The limit is configurable: an 8x8 image over a 63-pixel limit is refused too.
  write_bytes(dir / "small.jpg", make_jpeg(8, 8));
  EXPECT_EQ(decode_error(dir / "small.jpg", {.max_pixels = 63}).code(), ErrorCode::kUnsupported);
}

TEST(JpegDecodeErrors, ExtraneousBytesAreAcceptedUnlessStrict) {
  TempDir dir;
  auto jpeg = make_jpeg(48, 64);
  ASSERT_EQ(jpeg[jpeg.size() - 2], 0xff);
  ASSERT_EQ(jpeg[jpeg.size() - 1], 0xd9);
  auto damaged = jpeg;
  damaged.insert(damaged.end() - 2, {0x00, 0x11, 0x22});  // junk between the scan and EOI
  write_bytes(dir / "junk.jpg", damaged);
  // Default: TurboJPEG warns, the pixels are complete, the image is kept.
  Tensor clean = decode(jpeg);
  Rng rng(1);
  Tensor got = decode_jpeg()(Element{path_tensor(dir / "junk.jpg")}, rng)[0];
  EXPECT_EQ(got, clean);
  Error e = decode_error(dir / "junk.jpg", {.strict = true});
  EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
}

TEST(JpegDecodeErrors, BadOptionsAndInputsAreInvalidArgument) {
  EXPECT_THROW(decode_jpeg({.height = 10}), Error);
  EXPECT_THROW(decode_jpeg({.crop = CropMode::kCenter}), Error);
  Rng rng(0);
  try {
    decode_jpeg()(Element{Tensor::scalar<float>(1.f)}, rng);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace stoker

namespace stoker {
namespace {

using namespace stoker::testing;

// TurboJPEG 2.1 leaves a handle mid-header after a failed tjDecompressHeader3; reusing it made
// the next, valid file report a zero width. The per-thread handle must be replaced.
TEST(JpegDecodeErrors, AFailureDoesNotPoisonTheNextDecodeOnTheSameThread) {
  auto good = make_jpeg(39, 55, 3, {.progressive = true});
  auto cut = make_jpeg(30, 40);
  cut.resize(cut.size() / 2);
  auto junk = make_jpeg(30, 40);
  junk.insert(junk.end() - 2, {0x01, 0x02});
  Tensor ref = decode(good);
  for (const auto& bad : {cut, junk, tiny_png(), std::vector<std::uint8_t>{0xff, 0xd8, 0xff}}) {
    try {
      decode(bad, {.strict = true});
    } catch (const Error&) {
    }
    EXPECT_EQ(decode(good), ref);
  }
}

}  // namespace
}  // namespace stoker

#include "formats/jpeg_window.h"

namespace stoker {
namespace {

using namespace stoker::testing;

// The windowed (libjpeg partial) decode against TurboJPEG's full decode of the same scale, for
// every variant and windows at the corners, the middle and the full size.
TEST(JpegWindowDecode, MatchesTheFullDecodeOverTheWindow) {
  struct V {
    const char* name;
    int c;
    JpegEncodeOptions enc;
  };
  const V variants[] = {{"420", 3, {}},
                        {"444", 3, {.subsampling = JpegSubsampling::k444}},
                        {"422", 3, {.subsampling = JpegSubsampling::k422}},
                        {"gray", 1, {}},
                        {"progressive", 3, {.progressive = true}},
                        {"arithmetic", 3, {.arithmetic = true}},
                        {"restarts", 3, {.restart_interval = 3}}};
  for (const V& v : variants) {
    auto jpeg = make_jpeg(75, 100, v.c, v.enc, 9);
    for (int denom : {1, 2}) {
      int rh = 0, rw = 0;
      auto ref = reference_decode(jpeg, TJPF_RGB, rh, rw, denom);
      const detail::JpegWindow windows[] = {{0, 0, 20, 10}, {rw - 13, rh - 7, 13, 7}, {rw / 3, rh / 3, rw / 3, rh / 4},
                                            {0, 0, rw, rh}};
      for (detail::JpegWindow win : windows) {
        const detail::JpegWindow asked = win;
        detail::ByteBuffer buf;
        detail::decode_jpeg_window(jpeg.data(), jpeg.size(), denom, 3, false, false, win, buf, "t");
        ASSERT_LE(win.x, asked.x);
        ASSERT_GE(win.x + win.w, asked.x + asked.w);
        ASSERT_EQ(win.y, asked.y);
        ASSERT_EQ(win.h, asked.h);
        double sum = 0;
        int worst = 0;
        for (int y = 0; y < win.h; ++y)
          for (int x = 0; x < win.w * 3; ++x) {
            int d = std::abs(int(buf.data[static_cast<std::size_t>(y * win.w * 3 + x)]) -
                             int(ref[static_cast<std::size_t>(((win.y + y) * rw + win.x) * 3 + x)]));
            sum += d;
            worst = std::max(worst, d);
          }
        // Bit-exact but for fancy chroma upsampling at the window's left/right edges.
        EXPECT_LT(sum / (win.w * win.h * 3), 0.5) << v.name << " 1/" << denom << " at " << asked.x << "," << asked.y;
        EXPECT_LE(worst, 24) << v.name << " 1/" << denom << " at " << asked.x << "," << asked.y;
      }
    }
  }
}

// A window at the top of the image must still see a truncation near the end of the file.
TEST(JpegWindowDecode, TruncationBelowTheWindowIsStillAnError) {
  for (bool progressive : {false, true}) {
    auto jpeg = make_jpeg(96, 64, 3, {.progressive = progressive});
    for (std::size_t keep : {jpeg.size() * 9 / 10, jpeg.size() - 3}) {
      std::vector<std::uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<long>(keep));
      detail::JpegWindow win{0, 0, 16, 8};
      detail::ByteBuffer buf;
      try {
        detail::decode_jpeg_window(cut.data(), cut.size(), 1, 3, false, false, win, buf, "cut.jpg");
        ADD_FAILURE() << "no error, progressive=" << progressive << " keep=" << keep;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
        EXPECT_EQ(e.context().source, "cut.jpg");
      }
      // Through decode_jpeg: a small centre crop takes the windowed path.
      try {
        decode(cut, {.height = 8, .width = 8, .crop = CropMode::kCenter});
        ADD_FAILURE() << "no error via decode_jpeg, progressive=" << progressive << " keep=" << keep;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
      }
    }
  }
}

TEST(JpegWindowDecode, CmykAndGrayWindows) {
  const int h = 40, w = 48;
  auto rgb = smooth_image(h, w, 3, 2);
  std::vector<std::uint8_t> cmyk(static_cast<std::size_t>(h) * w * 4);
  for (std::size_t i = 0; i < static_cast<std::size_t>(h) * w; ++i) {
    for (int ch = 0; ch < 3; ++ch) cmyk[4 * i + ch] = rgb[3 * i + ch];
    cmyk[4 * i + 3] = 255;
  }
  auto jpeg = encode_jpeg(cmyk.data(), h, w, 4, {.quality = 95, .subsampling = JpegSubsampling::k444});
  Tensor full = decode(jpeg);
  Tensor crop = decode(jpeg, {.height = 10, .width = 12, .crop = CropMode::kCenter});
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12 * 3; ++x)
      EXPECT_NEAR(crop.data_as<std::uint8_t>()[y * 36 + x], full.data_as<std::uint8_t>()[((15 + y) * 48 + 18) * 3 + x], 2);
  Tensor gray = decode(make_jpeg(40, 48), {.color = JpegColor::kGray, .height = 10, .width = 12, .crop = CropMode::kCenter});
  EXPECT_EQ(gray.shape(), (Shape{10, 12, 1}));
}

}  // namespace
}  // namespace stoker

namespace stoker {
namespace {

using namespace stoker::testing;

// Bytes after EOI (some cameras append data) are ignored by every path; the windowed path then
// reads to EOI instead of stopping early, and still decodes the same pixels.
TEST(JpegWindowDecode, TrailingBytesAfterEoiAreIgnored) {
  auto jpeg = make_jpeg(64, 80);
  auto tail = jpeg;
  tail.insert(tail.end(), {0x12, 0x34, 0x56, 0x78});
  for (CropMode crop : {CropMode::kNone, CropMode::kCenter}) {
    DecodeJpegOptions o{.height = crop == CropMode::kNone ? 0 : 16, .width = crop == CropMode::kNone ? 0 : 16, .crop = crop};
    EXPECT_EQ(decode(tail, o), decode(jpeg, o));
    EXPECT_EQ(decode(tail, {.height = o.height, .width = o.width, .crop = crop, .strict = true}), decode(jpeg, o));
  }
}

}  // namespace
}  // namespace stoker

namespace stoker {
namespace {

using namespace stoker::testing;

// Valid JPEG flavours this libjpeg-turbo build cannot decode are kUnsupported, not kDataLoss.
TEST(JpegDecodeErrors, TwelveBitAndLosslessAreUnsupported) {
  TempDir dir;
  auto jpeg = make_jpeg(16, 16);
  std::size_t sof = 0;
  for (std::size_t i = 2; i + 1 < jpeg.size() && !sof; ++i)
    if (jpeg[i] == 0xff && jpeg[i + 1] == 0xc0) sof = i;
  ASSERT_NE(sof, 0u);
  auto twelve = jpeg;
  twelve[sof + 4] = 12;  // sample precision
  auto lossless = jpeg;
  lossless[sof + 1] = 0xc3;  // SOF3: lossless Huffman
  write_bytes(dir / "twelve.jpg", twelve);
  write_bytes(dir / "lossless.jpg", lossless);
  for (const char* name : {"twelve.jpg", "lossless.jpg"}) {
    Error e = decode_error(dir / name);
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported) << e.what();
    EXPECT_EQ(e.context().source, dir / name);
  }
}

}  // namespace
}  // namespace stoker

namespace stoker {
namespace {

using namespace stoker::testing;

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

}  // namespace
}  // namespace stoker

namespace stoker {
namespace {

using namespace stoker::testing;

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
