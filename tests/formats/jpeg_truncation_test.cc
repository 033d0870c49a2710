// Truncated JPEGs. Those whose scan data is complete but whose final EOI marker (FF D9) is
// missing decode to the same pixels as the complete file and are counted; a file cut inside a
// scan or a marker segment stays kDataLoss naming the file. Every JPEG is encoded at test time.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "formats/file_source.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

Tensor bytes_tensor(const std::vector<std::uint8_t>& b) {
  Tensor t(DType::kU8, Shape{static_cast<std::int64_t>(b.size())});
  std::memcpy(t.mutable_data(), b.data(), b.size());
  return t;
}

Tensor decode_path(const std::string& path, const DecodeJpegOptions& o, std::uint64_t seed = 3) {
  Rng rng(seed);
  return decode_jpeg(o)(Element{path_tensor(path), Tensor::scalar<std::int32_t>(0)}, rng)[0];
}

std::vector<std::uint8_t> cut(const std::vector<std::uint8_t>& j, std::size_t keep) {
  return {j.begin(), j.begin() + static_cast<long>(keep)};
}

struct Flavour {
  const char* name;
  JpegEncodeOptions enc;
};
const Flavour kFlavours[] = {
    {"baseline", {}},
    {"progressive", {.progressive = true}},
    {"restarts", {.restart_interval = 2}},
    {"optimized444", {.subsampling = JpegSubsampling::k444, .optimize = true}},
};

// Decode options covering every decode path: straight into the output, a full decode then
// resize, a DCT-scaled decode, a windowed (partial) decode, and a random crop with flip.
std::vector<DecodeJpegOptions> paths() {
  return {
      {},
      {.height = 50, .width = 70},
      {.height = 20, .width = 24, .crop = CropMode::kCenter},
      {.height = 12, .width = 16, .crop = CropMode::kCenter, .dct_scaling = false},
      {.height = 16, .width = 16, .crop = CropMode::kRandomResized, .flip_probability = 0.5},
  };
}

TEST(JpegMissingEoi, CompleteScanWithoutEoiDecodesBitExactAndIsCounted) {
  TempDir dir;
  for (const Flavour& f : kFlavours) {
    const auto jpeg = make_jpeg(96, 128, 3, f.enc, 4);
    ASSERT_EQ(jpeg[jpeg.size() - 2], 0xFF);
    ASSERT_EQ(jpeg[jpeg.size() - 1], 0xD9);
    const std::string full = dir / (std::string(f.name) + "_full.jpg");
    write_bytes(full, jpeg);
    // Last 2 bytes stripped (no EOI), and last byte stripped (a lone FF where EOI began).
    for (std::size_t strip : {2, 1}) {
      const std::string path = dir / (std::string(f.name) + "_no_eoi_" + std::to_string(strip) + ".jpg");
      write_bytes(path, cut(jpeg, jpeg.size() - strip));
      for (DecodeJpegOptions o : paths()) {
        auto counts = std::make_shared<JpegDecodeCounts>();
        o.counts = counts;
        const Tensor want = decode_path(full, o);
        EXPECT_EQ(counts->missing_eoi.load(), 0u);
        const Tensor got = decode_path(path, o);
        EXPECT_EQ(got, want) << path << " crop=" << static_cast<int>(o.crop) << " h=" << o.height;
        EXPECT_EQ(counts->missing_eoi.load(), 1u) << path;
      }
    }
  }
}

TEST(JpegMissingEoi, GrayAndCmykWithoutEoiDecode) {
  for (int c : {1, 4}) {
    const auto jpeg = make_jpeg(40, 56, c, {.subsampling = JpegSubsampling::k444}, 1);
    const auto no_eoi = cut(jpeg, jpeg.size() - 2);
    for (const DecodeJpegOptions& o : paths()) {
      Rng a(1), b(1);
      EXPECT_EQ(decode_jpeg(o)(Element{bytes_tensor(no_eoi)}, a)[0], decode_jpeg(o)(Element{bytes_tensor(jpeg)}, b)[0])
          << "channels " << c;
    }
  }
}

// A cut anywhere inside the scan data (even only its last byte) leaves MCUs without their bits,
// and a cut inside a marker segment between two scans (progressive, at size/2) leaves a torn
// segment: kDataLoss naming the file, on every decode path, and nothing counted.
TEST(JpegMissingEoi, CutInsideTheScanStaysAnErrorNamingTheFile) {
  TempDir dir;
  for (const Flavour& f : kFlavours) {
    const auto jpeg = make_jpeg(96, 128, 3, f.enc, 4);
    for (std::size_t keep : {jpeg.size() - 3, jpeg.size() - 40, jpeg.size() * 2 / 3, jpeg.size() / 2}) {
      const std::string path = dir / (std::string(f.name) + "_cut_" + std::to_string(keep) + ".jpg");
      write_bytes(path, cut(jpeg, keep));
      for (DecodeJpegOptions o : paths()) {
        auto counts = std::make_shared<JpegDecodeCounts>();
        o.counts = counts;
        try {
          decode_path(path, o);
          ADD_FAILURE() << "no error for " << path << " crop=" << static_cast<int>(o.crop);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
          EXPECT_EQ(e.context().source, path);
          EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
        EXPECT_EQ(counts->missing_eoi.load(), 0u);
      }
    }
  }
}

TEST(JpegMissingEoi, StrictModeRefusesAMissingEoi) {
  const auto jpeg = make_jpeg(32, 48);
  Rng rng(1);
  try {
    decode_jpeg({.strict = true})(Element{bytes_tensor(cut(jpeg, jpeg.size() - 2))}, rng);
    ADD_FAILURE() << "strict mode accepted a file without EOI";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
  }
}

// TurboJPEG 2.1 reports a fatal error that follows a warning as a warning. A progressive file cut
// two bytes into a scan header ("Premature end of JPEG file", then "Bogus marker length") was
// accepted as if only warned about, returning a partly written image.
TEST(JpegDecodeErrors, AFatalErrorAfterAWarningIsNotAccepted) {
  const auto jpeg = make_jpeg(96, 128, 3, {.progressive = true}, 4);
  std::size_t sos = 0;  // the second scan header: the first scan is complete before it
  int seen = 0;
  for (std::size_t i = 0; i + 1 < jpeg.size() && !sos; ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA && ++seen == 2) sos = i;
  }
  ASSERT_GT(sos, 0u);
  const auto torn = cut(jpeg, sos + 3);  // FF DA and one byte of its length
  for (const DecodeJpegOptions& o : paths()) {
    Rng rng(1);
    try {
      decode_jpeg(o)(Element{bytes_tensor(torn)}, rng);
      ADD_FAILURE() << "accepted a file cut inside a scan header, crop=" << static_cast<int>(o.crop);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
    }
  }
}

}  // namespace
}  // namespace stoker
