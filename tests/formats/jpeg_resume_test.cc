// Resuming a JPEG's decode at an MCU row (jpeg_scan.h) and the row index that remembers where rows
// begin (jpeg_row_index.h): a window decoded from a resumed stream must be bit-identical to the
// window decoded from the original, for every layout the scanner accepts, every start row and
// scale; layouts it does not accept, damaged data and a full index must change nothing either.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "formats/jpeg_row_index.h"
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

const Variant kResumable[] = {{"420", 3, {}},
                              {"444", 3, {.subsampling = JpegSubsampling::k444}},
                              {"422", 3, {.subsampling = JpegSubsampling::k422}},
                              {"gray", 1, {}},
                              {"cmyk", 4, {}},
                              {"q50", 3, {.quality = 50}},
                              {"q100", 3, {.quality = 100}}};

// The window decoded from the original stream (resume off) and from a resumed one (on), the same?
void expect_same_window(const std::vector<std::uint8_t>& jpeg, int denom, int channels, detail::JpegWindow win,
                        detail::JpegRowIndex* index, const std::string& what) {
  detail::JpegWindow a = win, b = win;
  detail::ByteBuffer ba, bb;
  detail::decode_jpeg_window(jpeg.data(), jpeg.size(), denom, channels, false, false, a, ba, "t", false, false);
  detail::decode_jpeg_window(jpeg.data(), jpeg.size(), denom, channels, false, false, b, bb, "t", false, true, index);
  ASSERT_EQ(a.x, b.x) << what;
  ASSERT_EQ(a.y, b.y) << what;
  ASSERT_EQ(a.w, b.w) << what;
  ASSERT_EQ(a.h, b.h) << what;
  ASSERT_EQ(0, std::memcmp(ba.data.get(), bb.data.get(), static_cast<std::size_t>(a.w) * a.h * channels)) << what;
}

TEST(JpegResume, EveryRowOfEveryHandledLayoutResumes) {
  for (const Variant& v : kResumable) {
    for (auto [h, w] : {std::pair{131, 203}, std::pair{240, 64}}) {
      auto jpeg = encode_jpeg(grainy(h, w, v.c, 7).data(), h, w, v.c, v.enc);
      detail::JpegLayout l;
      ASSERT_TRUE(detail::parse_jpeg_layout(jpeg.data(), jpeg.size(), l)) << v.name;
      ASSERT_EQ(l.width, w);
      ASSERT_EQ(l.height, h);
      std::vector<detail::JpegRowStart> starts(static_cast<std::size_t>(l.mcu_rows));
      starts[0] = detail::first_row_start(l);
      ASSERT_TRUE(detail::find_row_starts(l, jpeg.data(), jpeg.size(), 0, l.mcu_rows - 1, starts.data())) << v.name;
      // Walking from a row start found earlier gives the same later starts.
      std::vector<detail::JpegRowStart> again = starts;
      ASSERT_TRUE(detail::find_row_starts(l, jpeg.data(), jpeg.size(), 2, l.mcu_rows - 1, again.data()));
      for (int r = 1; r < l.mcu_rows; ++r) {
        EXPECT_EQ(again[r].byte, starts[r].byte);
        EXPECT_EQ(again[r].bit, starts[r].bit);
        detail::ByteBuffer out;
        // Standard Huffman tables hold every DC category: a synthetic row always exists.
        ASSERT_TRUE(detail::resume_at_row(l, jpeg.data(), jpeg.size(), r, starts[r], out)) << v.name << " row " << r;
      }
    }
  }
}

TEST(JpegResume, WindowsAreBitIdenticalAtEveryStartRowAndScale) {
  for (const Variant& v : kResumable) {
    auto jpeg = encode_jpeg(grainy(203, 131, v.c, 3).data(), 203, 131, v.c, v.enc);
    const int channels = v.c == 1 ? 1 : 3;
    for (int denom : {1, 2, 4, 8}) {
      const int sh = (203 + denom - 1) / denom, sw = (131 + denom - 1) / denom;
      detail::JpegRowIndex index(1 << 20);
      for (int y = 0; y < sh - 1; y += denom == 1 ? 1 : 2) {
        const std::string what = std::string(v.name) + " 1/" + std::to_string(denom) + " y=" + std::to_string(y);
        expect_same_window(jpeg, denom, channels, {sw / 5, y, sw / 2, std::min(sh - y, 9)}, nullptr, what);
        expect_same_window(jpeg, denom, channels, {0, y, sw, sh - y}, &index, what + " indexed");
      }
      EXPECT_GT(index.bytes(), 0u) << v.name;
    }
  }
}

// Layouts outside the scanner's scope are refused by the parser (and decode as before: the window
// tests in jpeg_window_test cover them through the same function).
TEST(JpegResume, OtherLayoutsAreNotParsed) {
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

// Optimised tables hold only the codes the image uses: a synthetic row may not exist, then the
// original is decoded. Either way the window is the same.
TEST(JpegResume, OptimisedTablesDecodeTheSameWindows) {
  auto jpeg = encode_jpeg(grainy(160, 96, 3, 5).data(), 160, 96, 3, {.optimize = true});
  for (int y = 0; y < 150; y += 3) expect_same_window(jpeg, 1, 3, {10, y, 40, 10}, nullptr, "optimised y=" + std::to_string(y));
}

// Damaged entropy data: whatever the scanner makes of it, the window (or the error) is what the
// original stream gives.
TEST(JpegResume, DamagedDataGivesTheSameWindowOrTheSameError) {
  auto good = encode_jpeg(grainy(200, 120, 3, 9).data(), 200, 120, 3, {});
  detail::JpegLayout l;
  ASSERT_TRUE(detail::parse_jpeg_layout(good.data(), good.size(), l));
  std::mt19937 rng(11);
  detail::JpegRowIndex index(1 << 20);
  int resumed_differently = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<std::uint8_t> bad = good;
    const std::size_t at = l.scan_at + rng() % (bad.size() - 2 - l.scan_at);
    for (int k = 0; k < 1 + trial % 3; ++k) bad[std::min(at + static_cast<std::size_t>(k), bad.size() - 3)] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    for (int y : {40, 100, 170}) {
      detail::JpegWindow a{20, y, 60, 20}, b = a;
      detail::ByteBuffer ba, bb;
      std::string ea, eb;
      try {
        detail::decode_jpeg_window(bad.data(), bad.size(), 1, 3, false, false, a, ba, "bad.jpg", false, false);
      } catch (const Error& e) {
        ea = e.what();
      }
      try {
        detail::decode_jpeg_window(bad.data(), bad.size(), 1, 3, false, false, b, bb, "bad.jpg", false, true, &index);
      } catch (const Error& e) {
        eb = e.what();
      }
      ASSERT_EQ(ea, eb) << "trial " << trial << " y=" << y;
      if (ea.empty()) {
        ASSERT_EQ(a.w, b.w);
        ASSERT_EQ(0, std::memcmp(ba.data.get(), bb.data.get(), static_cast<std::size_t>(a.w) * a.h * 3))
            << "trial " << trial << " y=" << y;
      }
      resumed_differently += ea != eb;
    }
  }
  EXPECT_EQ(resumed_differently, 0);
}

TEST(JpegRowIndex, KeepsKnownPrefixesWithinItsCapacity) {
  detail::JpegRowStart rows[4];
  for (int i = 0; i < 4; ++i) rows[i].byte = static_cast<std::uint32_t>(100 + i);
  const std::uint8_t a[] = {1, 2, 3}, b[] = {1, 2, 4};
  const auto ka = detail::jpeg_content_key(a, 3), kb = detail::jpeg_content_key(b, 3);
  ASSERT_FALSE(ka == kb);
  const std::size_t one = detail::JpegRowIndex::kEntryOverhead + 4 * sizeof(detail::JpegRowStart);
  detail::JpegRowIndex index(one);
  index.record(ka, rows, 2);
  detail::JpegRowStart got[4];
  EXPECT_EQ(index.lookup(ka, got, 4), 2);
  EXPECT_EQ(index.lookup(kb, got, 4), 0);  // other content, same length
  index.record(ka, rows, 4);               // extends the prefix
  EXPECT_EQ(index.lookup(ka, got, 4), 4);
  EXPECT_EQ(got[3].byte, 103u);
  EXPECT_EQ(index.lookup(ka, got, 3), 3);
  EXPECT_EQ(index.bytes(), one);
  index.record(kb, rows, 1);  // full: not added
  EXPECT_EQ(index.lookup(kb, got, 4), 0);
  EXPECT_LE(index.bytes(), index.capacity());
}

// Through decode_jpeg: with the index on, several passes of random-resized crops over a set of
// files give exactly the tensors the same seeds give without it, and the index stays in its bound.
TEST(JpegRowIndex, DecodeJpegPassesAreIdenticalWithTheIndex) {
  std::vector<Tensor> files;
  for (unsigned i = 0; i < 6; ++i) files.push_back(bytes_tensor(encode_jpeg(grainy(180, 240, 3, i).data(), 180, 240, 3, {})));
  DecodeJpegOptions o{.height = 64, .width = 64, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  MapFn plain = decode_jpeg(o);
  o.row_index_bytes = 8 << 10;
  MapFn indexed = decode_jpeg(o);
  for (std::uint64_t pass = 0; pass < 4; ++pass) {
    for (std::size_t i = 0; i < files.size(); ++i) {
      Rng r1(7, pass, i), r2(7, pass, i);
      Tensor x = plain(Element{files[i]}, r1)[0], y = indexed(Element{files[i]}, r2)[0];
      ASSERT_EQ(0, std::memcmp(x.data(), y.data(), x.nbytes())) << "pass " << pass << " file " << i;
    }
  }
}

}  // namespace
}  // namespace stoker
