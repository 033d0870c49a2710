// Test helpers for the JPEG and image tests: temp folders, synthetic images, JPEG variants
// encoded at test time, a hand-written PNG, and TurboJPEG reference decodes to compare against.
#pragma once

#include <gtest/gtest.h>
#include <turbojpeg.h>
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/jpeg_encode.h"

namespace stoker::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stoker_jpeg_XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (path_ / rel).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + path);
}

// A smooth, colourful HWC image (gradients and low-frequency waves): JPEG keeps it within a few
// levels at high quality, so decoded pixels can be compared with tight tolerances.
inline std::vector<std::uint8_t> smooth_image(int h, int w, int c, int seed = 0) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * w * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) {
        double v = 128 + 60 * std::sin(0.11 * x + 0.7 * ch + seed) + 50 * std::cos(0.09 * y - 0.5 * ch + 0.3 * seed);
        px[(static_cast<std::size_t>(y) * w + x) * c + ch] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
  return px;
}

inline std::vector<std::uint8_t> make_jpeg(int h, int w, int c = 3, JpegEncodeOptions o = {}, int seed = 0) {
  return encode_jpeg(smooth_image(h, w, c, seed).data(), h, w, c, o);
}

// A valid 2x1 RGB PNG written by hand (signature, IHDR, IDAT, IEND with zlib CRCs).
inline std::vector<std::uint8_t> tiny_png() {
  std::vector<std::uint8_t> out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto be32 = [](std::vector<std::uint8_t>& v, std::uint32_t x) {
    for (int s = 24; s >= 0; s -= 8) v.push_back(static_cast<std::uint8_t>(x >> s));
  };
  auto chunk = [&](const char* type, const std::vector<std::uint8_t>& data) {
    be32(out, static_cast<std::uint32_t>(data.size()));
    std::vector<std::uint8_t> td(type, type + 4);
    td.insert(td.end(), data.begin(), data.end());
    out.insert(out.end(), td.begin(), td.end());
    be32(out, static_cast<std::uint32_t>(crc32(0, td.data(), static_cast<uInt>(td.size()))));
  };
  std::vector<std::uint8_t> ihdr;
  be32(ihdr, 2);
  be32(ihdr, 1);
  ihdr.insert(ihdr.end(), {8, 2, 0, 0, 0});  // 8-bit, RGB, deflate, filter 0, no interlace
  chunk("IHDR", ihdr);
  std::vector<std::uint8_t> raw = {0, 255, 0, 0, 0, 0, 255};  // filter byte, red, blue
  uLongf zsize = compressBound(static_cast<uLong>(raw.size()));
  std::vector<std::uint8_t> z(zsize);
  if (compress(z.data(), &zsize, raw.data(), static_cast<uLong>(raw.size())) != Z_OK) throw std::runtime_error("zlib");
  z.resize(zsize);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

// TurboJPEG decode of the whole image at scale 1/denom, as a reference.
inline std::vector<std::uint8_t> reference_decode(const std::vector<std::uint8_t>& jpeg, int pf, int& h, int& w,
                                                  int denom = 1) {
  tjhandle t = tjInitDecompress();
  int sub = 0, cs = 0;
  if (tjDecompressHeader3(t, jpeg.data(), jpeg.size(), &w, &h, &sub, &cs) != 0) throw std::runtime_error("header");
  tjscalingfactor sf{1, denom};
  w = TJSCALED(w, sf);
  h = TJSCALED(h, sf);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(w) * h * tjPixelSize[pf]);
  int rc = tjDecompress2(t, jpeg.data(), jpeg.size(), out.data(), w, 0, h, pf, 0);
  std::string err = rc ? tjGetErrorStr2(t) : "";
  tjDestroy(t);
  if (rc) throw std::runtime_error("reference decode: " + err);
  return out;
}

inline int max_abs_diff(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  int m = 0;
  for (std::size_t i = 0; i < n; ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

inline double mean_abs_diff(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += std::abs(int(a[i]) - int(b[i]));
  return n ? s / static_cast<double>(n) : 0;
}

}  // namespace stoker::testing
