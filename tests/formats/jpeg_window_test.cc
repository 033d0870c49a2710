// The windowed decode (jpeg_window.h: libjpeg partial decode of only the rows and columns a
// crop needs) against TurboJPEG's full decode: every variant and window position, truncation
// below the window, CMYK and gray, and trailing bytes after EOI.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "formats/jpeg_decode.h"
#include "formats/jpeg_window.h"
#include "tests/formats/jpeg_decode_util.h"
#include "tests/formats/jpeg_test_util.h"

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
  auto jpeg = cmyk_jpeg_of_smooth_rgb(h, w, 2);
  Tensor full = decode(jpeg);
  Tensor crop = decode(jpeg, {.height = 10, .width = 12, .crop = CropMode::kCenter});
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 12 * 3; ++x)
      EXPECT_NEAR(crop.data_as<std::uint8_t>()[y * 36 + x], full.data_as<std::uint8_t>()[((15 + y) * 48 + 18) * 3 + x], 2);
  Tensor gray = decode(make_jpeg(40, 48), {.color = JpegColor::kGray, .height = 10, .width = 12, .crop = CropMode::kCenter});
  EXPECT_EQ(gray.shape(), (Shape{10, 12, 1}));
}

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
