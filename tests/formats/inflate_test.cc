// Inflate of HDF5 deflate chunks: libdeflate's whole-buffer decode gives zlib's bytes, and every
// way a chunk can be wrong (corrupt, cut, decoding to fewer or more bytes) is a DataLoss error.
#include "formats/inflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/rng.h"

namespace stoker::detail {
namespace {

std::vector<std::byte> deflate(const std::vector<std::byte>& raw, int level) {
  uLongf n = compressBound(raw.size());
  std::vector<std::byte> z(n);
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()), raw.size(), level), Z_OK);
  z.resize(n);
  return z;
}

std::vector<std::byte> data(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i / 7) % 251 + rng.uniform_int(3));
  return v;
}

TEST(Inflate, LibdeflateAndZlibGiveTheOriginalBytesAtEveryLevel) {
  for (std::size_t n : {std::size_t{1}, std::size_t{4096}, std::size_t{3} << 20}) {
    for (int level : {0, 1, 4, 9}) {
      const auto raw = data(n, n + static_cast<std::size_t>(level));
      const auto z = deflate(raw, level);
      std::vector<std::byte> a(n), b(n);
      inflate_zlib(z, a.data(), n);
      inflate_zlib_streaming(z, b.data(), n);
      EXPECT_EQ(a, raw) << n << " bytes, level " << level;
      EXPECT_EQ(b, raw) << n << " bytes, level " << level;
    }
  }
}

TEST(Inflate, WrongChunksAreDataLossWithTheReason) {
  const auto raw = data(10000, 1);
  const auto z = deflate(raw, 4);
  std::vector<std::byte> out(20000);
  auto expect_loss = [&](std::span<const std::byte> in, std::size_t want, const std::string& words) {
    for (auto* fn : {&inflate_zlib, &inflate_zlib_streaming}) {
      try {
        fn(in, out.data(), want);
        ADD_FAILURE() << "expected DataLoss: " << words;
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
        EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
      }
    }
  };
  expect_loss(std::span(z).first(z.size() / 2), raw.size(), "deflate chunk");               // cut short
  auto flipped = z;
  flipped[z.size() / 3] ^= std::byte{0x5a};
  expect_loss(flipped, raw.size(), "deflate chunk");                                        // corrupt
  expect_loss(z, raw.size() + 5, "decodes to 10000 bytes, expected 10005");                 // fewer bytes
  expect_loss(z, raw.size() - 5, "deflate chunk");                                          // more bytes
}

}  // namespace
}  // namespace stoker::detail
