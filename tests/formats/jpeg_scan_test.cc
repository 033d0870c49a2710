// Decoding only a window's MCUs (jpeg_scan.h) and the index that remembers where MCUs begin
// (jpeg_mcu_index.h): a window decoded from the window-only JPEG must be bit-identical to the
// window decoded from the original, for every layout the scanner accepts, every position, size
// and scale; layouts it does not accept, damaged data and a full index must change nothing either.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "formats/jpeg_mcu_index.h"
#include "formats/jpeg_scan.h"
#include "formats/jpeg_window.h"
#include "tests/formats/jpeg_decode_util.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

// A photo-like image with grain, so blocks carry many AC codes and DC predictors of every size.
std::vector<std::uint8_t> grainy(int h, int w, int c, unsigned seed) {
  std::vector<std::uint8_t> px = smooth_image(h, w, c, static_cast<int>(seed));
  std::mt19937 rng(seed);
  for (auto& v : px) v = static_cast<std::uint8_t>(std::clamp(int(v) + int(rng() % 61) - 30, 0, 255));
  return px;
}

struct Variant {
  const char* name;
  int c;
  JpegEncodeOptions enc;
};

const Variant kHandled[] = {{"420", 3, {}},
                            {"444", 3, {.subsampling = JpegSubsampling::k444}},
                            {"422", 3, {.subsampling = JpegSubsampling::k422}},
                            {"gray", 1, {}},
                            {"cmyk", 4, {}},
                            {"q50", 3, {.quality = 50}},
                            {"q100", 3, {.quality = 100}}};

// Decodes `win` from the original stream and from the window-only JPEG (with `index`, or scanning
// the file when it is null) and expects the same window and bytes.
void expect_same_window(const std::vector<std::uint8_t>& jpeg, int denom, int channels, detail::JpegWindow win,
                        detail::JpegMcuIndex* index, const std::string& what) {
  detail::JpegWindow a = win, b = win;
  detail::ByteBuffer ba, bb;
  detail::decode_jpeg_window(jpeg.data(), jpeg.size(), denom, channels, false, false, a, ba, "t", false, false);
  detail::decode_jpeg_window(jpeg.data(), jpeg.size(), denom, channels, false, false, b, bb, "t", false,
                             index == nullptr, index);
  ASSERT_EQ(a.x, b.x) << what;
  ASSERT_EQ(a.y, b.y) << what;
  ASSERT_EQ(a.w, b.w) << what;
  ASSERT_EQ(a.h, b.h) << what;
  ASSERT_EQ(0, std::memcmp(ba.data.get(), bb.data.get(), static_cast<std::size_t>(a.w) * a.h * channels)) << what;
}

std::size_t points_of(const detail::JpegLayout& l) { return static_cast<std::size_t>(l.mcu_rows * l.mcus_per_row + 1); }

TEST(JpegScan, RecordsEveryMcuOfTheLayoutsItHandles) {
  for (const Variant& v : kHandled) {
    for (auto [h, w] : {std::pair{131, 203}, std::pair{240, 64}}) {
      auto jpeg = encode_jpeg(grainy(h, w, v.c, 7).data(), h, w, v.c, v.enc);
      detail::JpegLayout l;
      ASSERT_TRUE(detail::parse_jpeg_layout(jpeg.data(), jpeg.size(), l)) << v.name;
      ASSERT_EQ(l.width, w);
      ASSERT_EQ(l.height, h);
      std::vector<detail::JpegScanPoint> p(points_of(l));
      ASSERT_TRUE(detail::scan_mcu_points(l, jpeg.data(), jpeg.size(), p.data())) << v.name;
      EXPECT_EQ(p[0].byte, l.scan_at);
      EXPECT_EQ(p[0].bit, 0);
      for (std::size_t i = 1; i < p.size(); ++i) {
        ASSERT_GT(p[i].byte * 8 + p[i].bit, p[i - 1].byte * 8 + p[i - 1].bit) << v.name << " MCU " << i;
      }
      EXPECT_GE(p.back().byte + 4, jpeg.size() - 2) << v.name;  // the scan ends in the last bytes before EOI
      // Window-only JPEGs of a few MCU ranges: valid JPEGs of the expected size whose MCUs (but the
      // synthetic one and the edge MCUs chroma upsampling blends with it) are the original's pixels.
      const int channels = v.c, pf = v.c == 1 ? TJPF_GRAY : (v.c == 4 ? TJPF_CMYK : TJPF_RGB);
      int fh = 0, fw = 0;
      auto full = reference_decode(jpeg, pf, fh, fw);
      for (auto [r0, r1, m0, m1] : {std::array{0, l.mcu_rows, 0, l.mcus_per_row}, std::array{1, l.mcu_rows - 1, 1, 3},
                                    std::array{2, 4, 0, l.mcus_per_row}}) {
        if (r1 <= r0 || m1 <= m0 || m1 > l.mcus_per_row) continue;
        detail::ByteBuffer out;
        ASSERT_TRUE(detail::write_window_jpeg(l, jpeg.data(), jpeg.size(), p.data(), r0, r1, m0, m1, out)) << v.name;
        int wh = 0, ww = 0;
        auto win = reference_decode(std::vector<std::uint8_t>(out.data.get(), out.data.get() + out.size), pf, wh, ww);
        ASSERT_EQ(wh, std::min(r1 * l.mcu_height, h) - r0 * l.mcu_height) << v.name;
        ASSERT_EQ(ww, l.mcu_width + std::min(m1 * l.mcu_width, w) - m0 * l.mcu_width) << v.name;
        // Interior: one MCU in from the synthetic column, and from the top, right and bottom where
        // the original continues beyond the window (edge MCUs read context the window lacks).
        const int y0 = r0 > 0 ? l.mcu_height : 0, y1 = r1 < l.mcu_rows ? wh - l.mcu_height : wh;
        const int x0 = 2 * l.mcu_width, x1 = m1 < l.mcus_per_row ? ww - l.mcu_width : ww;
        for (int y = y0; y < y1; ++y) {
          const std::uint8_t* a = win.data() + (static_cast<std::size_t>(y) * ww + x0) * channels;
          const std::uint8_t* b = full.data() + (static_cast<std::size_t>(y + r0 * l.mcu_height) * w + x0 - l.mcu_width +
                                                 m0 * l.mcu_width) * channels;
          ASSERT_EQ(0, std::memcmp(a, b, static_cast<std::size_t>(x1 - x0) * channels)) << v.name << " row " << y;
        }
      }
      // Cut inside the scan: not scanned (the original then reports the truncation).
      std::vector<std::uint8_t> cut(jpeg.begin(), jpeg.begin() + static_cast<long>(jpeg.size() * 2 / 3));
      EXPECT_FALSE(detail::scan_mcu_points(l, cut.data(), cut.size(), p.data())) << v.name;
    }
  }
}

TEST(JpegScan, WindowsAreBitIdenticalAtEveryPositionAndScale) {
  for (const Variant& v : kHandled) {
    auto jpeg = encode_jpeg(grainy(203, 131, v.c, 3).data(), 203, 131, v.c, v.enc);
    const int channels = v.c == 1 ? 1 : 3;
    for (int denom : {1, 2, 4, 8}) {
      const int sh = (203 + denom - 1) / denom, sw = (131 + denom - 1) / denom;
      detail::JpegMcuIndex index(1 << 20);
      const int step = denom == 1 ? 3 : 2;
      for (int y = 0; y < sh - 1; y += step) {
        for (int x = 0; x < sw - 1; x += 5 * step) {
          const std::string what = std::string(v.name) + " 1/" + std::to_string(denom) + " at " + std::to_string(x) +
                                   "," + std::to_string(y);
          const detail::JpegWindow small{x, y, std::min(sw - x, 1 + (x + y) % 37), std::min(sh - y, 1 + (3 * x + y) % 29)};
          expect_same_window(jpeg, denom, channels, small, nullptr, what);
          expect_same_window(jpeg, denom, channels, {x, y, sw - x, sh - y}, &index, what + " to the corner, indexed");
        }
      }
      detail::JpegLayout l;
      ASSERT_TRUE(detail::parse_jpeg_layout(jpeg.data(), jpeg.size(), l));
      EXPECT_EQ(index.bytes(), detail::JpegMcuIndex::cost(points_of(l))) << v.name;  // scanned once
    }
  }
}

// Layouts outside the scanner's scope are refused by the parser and decode as before.
TEST(JpegScan, OtherLayoutsAreNotParsed) {
  const JpegEncodeOptions others[] = {{.progressive = true}, {.arithmetic = true}, {.restart_interval = 2}};
  for (const JpegEncodeOptions& o : others) {
    auto jpeg = make_jpeg(64, 64, 3, o, 1);
    detail::JpegLayout l;
    EXPECT_FALSE(detail::parse_jpeg_layout(jpeg.data(), jpeg.size(), l));
    expect_same_window(jpeg, 1, 3, {8, 40, 30, 20}, nullptr, "other layout");
  }
  const std::uint8_t not_jpeg[] = {0x89, 'P', 'N', 'G', 0, 0, 0, 0};
  detail::JpegLayout l;
  EXPECT_FALSE(detail::parse_jpeg_layout(not_jpeg, sizeof not_jpeg, l));
}

// A file whose scan is not followed by EOI (missing, or extraneous bytes first) decodes from the
// original, which reports it as the whole file would.
TEST(JpegScan, ScansNotEndingAtEoiDecodeAsTheOriginal) {
  auto jpeg = encode_jpeg(grainy(96, 96, 3, 2).data(), 96, 96, 3, {});
  std::vector<std::uint8_t> no_eoi(jpeg.begin(), jpeg.end() - 2), extra = jpeg;
  extra.insert(extra.end() - 2, {0x12, 0x34, 0x56});
  for (const auto* f : {&no_eoi, &extra}) {
    detail::JpegLayout l;
    ASSERT_TRUE(detail::parse_jpeg_layout(f->data(), f->size(), l));
    std::vector<detail::JpegScanPoint> p(points_of(l));
    EXPECT_FALSE(detail::scan_mcu_points(l, f->data(), f->size(), p.data()));
    for (bool strict : {false, true}) {
      std::string ea, eb;
      detail::JpegWindow a{16, 40, 40, 40}, b = a;
      detail::ByteBuffer ba, bb;
      try {
        detail::decode_jpeg_window(f->data(), f->size(), 1, 3, strict, false, a, ba, "f.jpg", false, false);
      } catch (const Error& e) {
        ea = e.what();
      }
      try {
        detail::decode_jpeg_window(f->data(), f->size(), 1, 3, strict, false, b, bb, "f.jpg", false, true);
      } catch (const Error& e) {
        eb = e.what();
      }
      EXPECT_EQ(ea, eb);
    }
  }
}

// A Huffman table with more codes of a length than that length has (found by fuzzing: the fast
// tables were filled past their end before the check) is refused before anything is filled.
TEST(JpegScan, OversubscribedHuffmanTablesAreRefused) {
  auto jpeg = make_jpeg(32, 32, 3, {}, 4);
  std::size_t dht = 2;
  while (dht + 4 < jpeg.size() && !(jpeg[dht] == 0xFF && jpeg[dht + 1] == 0xC4)) dht += 2 + (jpeg[dht + 2] << 8 | jpeg[dht + 3]);
  ASSERT_LT(dht + 21, jpeg.size());
  std::uint8_t* counts = &jpeg[dht + 5];  // after the marker, the length and the class/slot byte
  int moved = 0;
  for (int len = 15; len >= 2 && moved < 3; --len) {
    while (counts[len] > 0 && moved < 3) {
      --counts[len];
      ++moved;
    }
  }
  counts[0] = static_cast<std::uint8_t>(counts[0] + moved);  // 3+ codes of length 1: only 2 exist
  detail::JpegLayout l;
  EXPECT_FALSE(detail::parse_jpeg_layout(jpeg.data(), jpeg.size(), l));
  for (bool narrow : {false, true}) {  // libjpeg refuses it too, both ways
    detail::JpegWindow w{8, 8, 16, 16};
    detail::ByteBuffer b;
    EXPECT_THROW(detail::decode_jpeg_window(jpeg.data(), jpeg.size(), 1, 3, false, false, w, b, "t", false, narrow), Error);
  }
}

// Optimised tables hold only the codes the image uses: a synthetic MCU may not exist, then the
// original is decoded. Either way the window is the same.
TEST(JpegScan, OptimisedTablesDecodeTheSameWindows) {
  auto jpeg = encode_jpeg(grainy(160, 96, 3, 5).data(), 160, 96, 3, {.optimize = true});
  for (int y = 0; y < 150; y += 3) {
    expect_same_window(jpeg, 1, 3, {10 + y % 40, y, 40, 10}, nullptr, "optimised y=" + std::to_string(y));
  }
}

// Damaged entropy data: whatever the scanner makes of it, the window (or the error) is what the
// original stream gives.
TEST(JpegScan, DamagedDataGivesTheSameWindowOrTheSameError) {
  auto good = encode_jpeg(grainy(200, 120, 3, 9).data(), 200, 120, 3, {});
  detail::JpegLayout l;
  ASSERT_TRUE(detail::parse_jpeg_layout(good.data(), good.size(), l));
  std::mt19937 rng(11);
  detail::JpegMcuIndex index(1 << 20);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::uint8_t> bad = good;
    const std::size_t at = l.scan_at + rng() % (bad.size() - 2 - l.scan_at);
    for (int k = 0; k < 1 + trial % 3; ++k) bad[std::min(at + static_cast<std::size_t>(k), bad.size() - 3)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    for (int y : {40, 100, 170}) {
      detail::JpegWindow a{20 + y % 30, y, 60, 20}, b = a;
      detail::ByteBuffer ba, bb;
      std::string ea, eb;
      try {
        detail::decode_jpeg_window(bad.data(), bad.size(), 1, 3, false, false, a, ba, "bad.jpg", false, false);
      } catch (const Error& e) {
        ea = e.what();
      }
      try {
        detail::decode_jpeg_window(bad.data(), bad.size(), 1, 3, false, false, b, bb, "bad.jpg", false, trial % 2 == 0,
                                   trial % 2 ? &index : nullptr);
      } catch (const Error& e) {
        eb = e.what();
      }
      ASSERT_EQ(ea, eb) << "trial " << trial << " y=" << y;
      if (ea.empty()) {
        ASSERT_EQ(a.w, b.w);
        ASSERT_EQ(0, std::memcmp(ba.data.get(), bb.data.get(), static_cast<std::size_t>(a.w) * a.h * 3))
            << "trial " << trial << " y=" << y;
      }
    }
  }
}

TEST(JpegMcuIndex, AddsFilesWhileThereIsRoom) {
  std::vector<detail::JpegScanPoint> points(10);
  points[9].byte = 1234;
  const std::uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 4};
  const auto ka = detail::jpeg_content_key(a, 3), kb = detail::jpeg_content_key(b, 3);
  ASSERT_FALSE(ka == kb);
  detail::JpegMcuIndex index(detail::JpegMcuIndex::cost(10) + detail::JpegMcuIndex::cost(5) - 1);
  EXPECT_EQ(index.find(ka), nullptr);
  ASSERT_TRUE(index.has_room(10));
  index.add(ka, points);
  ASSERT_NE(index.find(ka), nullptr);
  EXPECT_EQ(index.find(ka)->at(9).byte, 1234u);
  EXPECT_EQ(index.find(kb), nullptr);  // other content, same length
  EXPECT_EQ(index.bytes(), detail::JpegMcuIndex::cost(10));
  EXPECT_FALSE(index.has_room(5));  // one byte short
  index.add(kb, std::vector<detail::JpegScanPoint>(5));
  EXPECT_EQ(index.find(kb), nullptr);
  EXPECT_LE(index.bytes(), index.capacity());
}

// Through decode_jpeg: with the index on, several passes of random-resized crops over a set of
// files give exactly the tensors the same seeds give without it, and the index stays in its bound.
TEST(JpegMcuIndex, DecodeJpegPassesAreIdenticalWithTheIndex) {
  std::vector<Tensor> files;
  for (unsigned i = 0; i < 6; ++i) files.push_back(bytes_tensor(encode_jpeg(grainy(180, 240, 3, i).data(), 180, 240, 3, {})));
  DecodeJpegOptions o{.height = 64, .width = 64, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  MapFn plain = decode_jpeg(o);
  o.mcu_index_bytes = 64 << 10;
  MapFn indexed = decode_jpeg(o);
  o.mcu_index_bytes = 12 << 10;  // room for some of the files only
  MapFn part = decode_jpeg(o);
  for (std::uint64_t pass = 0; pass < 4; ++pass) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      Rng r1(7, pass, i), r2(7, pass, i), r3(7, pass, i);
      Tensor x = plain(Element{files[i]}, r1)[0], y = indexed(Element{files[i]}, r2)[0];
      Tensor z = part(Element{files[i]}, r3)[0];
      ASSERT_EQ(0, std::memcmp(x.data(), y.data(), x.nbytes())) << "pass " << pass << " file " << i;
      ASSERT_EQ(0, std::memcmp(x.data(), z.data(), x.nbytes())) << "pass " << pass << " file " << i;
    }
  }
}

}  // namespace
}  // namespace stoker
