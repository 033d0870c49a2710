// decode_jpeg on every JPEG variant made at test time (TurboJPEG as the reference decoder) and
// on every kind of bad input. The fused crop/resize/flip paths are in jpeg_fused_ops_test.cc,
// the windowed decode in jpeg_window_test.cc.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "formats/file_source.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "tests/formats/jpeg_decode_util.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

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

// A decompressor keeps the tables of the images it decoded: a file lacking its quantisation table
// decoded with the previous file's (found by fuzzing: the output depended on what the thread had
// decoded before). Every image must bring its own: an error naming the table, whatever came before,
// on the full path and on the windowed (crop) path alike.
TEST(JpegDecodeErrors, AFileWithoutItsTablesNeverBorrowsAnotherFilesTables) {
  auto good = make_jpeg(64, 96, 3, {}, 5);
  std::vector<std::uint8_t> stripped(good.begin(), good.begin() + 2);
  for (std::size_t p = 2; p + 4 <= good.size();) {  // drop every DQT segment, keep the rest
    const std::size_t len = static_cast<std::size_t>(good[p + 2] << 8 | good[p + 3]);
    const bool scan = good[p + 1] == 0xDA;
    if (good[p + 1] != 0xDB) stripped.insert(stripped.end(), good.begin() + static_cast<long>(p),
                                             scan ? good.end() : good.begin() + static_cast<long>(p + 2 + len));
    if (scan) break;
    p += 2 + len;
  }
  const DecodeJpegOptions full{}, crop{.height = 16, .width = 16, .crop = CropMode::kCenter};
  for (const DecodeJpegOptions& o : {full, crop}) {
    decode(good, o);  // leaves its tables in this thread's decompressor
    try {
      decode(stripped, o);
      ADD_FAILURE() << "a JPEG without its quantisation table decoded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("Quantization table"), std::string::npos) << e.what();
    }
  }
}

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
