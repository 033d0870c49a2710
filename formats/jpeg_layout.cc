// parse_jpeg_layout: the markers of a baseline JPEG up to its scan, and its Huffman tables
// (see jpeg_scan.h). Every read is bounds-checked against [data, data + size): the input is
// untrusted.
#include "formats/jpeg_scan.h"

#include <algorithm>
#include <cstring>

namespace stoker::detail {
namespace {

std::uint32_t be16(const std::uint8_t* p) { return static_cast<std::uint32_t>(p[0]) << 8 | p[1]; }

// Canonical Huffman codes from a DHT's 16 counts and its symbols, as libjpeg builds them; false
// for a table libjpeg would refuse (over-subscribed or holding the all-ones code).
bool build_table(const std::uint8_t* counts, const std::uint8_t* vals, int nvals, JpegHuffman& t) {
  // Every code of every length must fit that length, the all-ones code excluded (libjpeg's check),
  // before any table is filled from them.
  for (std::int32_t len = 1, next = 0; len <= 16; ++len) {
    next += counts[len - 1];
    if (next >= (std::int32_t{1} << len)) return false;
    next <<= 1;
  }
  std::memset(t.fast_len, 0, sizeof t.fast_len);
  std::memset(t.fast_ac, 0, sizeof t.fast_ac);
  std::memset(t.code_len, 0, sizeof t.code_len);
  std::memcpy(t.vals, vals, static_cast<std::size_t>(nvals));
  int k = 0;
  std::int32_t code = 0;
  for (int len = 1; len <= 16; ++len) {
    const int n = counts[len - 1];
    t.valoff[len] = k - code;
    t.maxcode[len] = n ? code + n - 1 : -1;
    for (int i = 0; i < n; ++i, ++k, ++code) {
      const std::uint8_t sym = vals[k];
      t.code[sym] = static_cast<std::uint16_t>(code);
      t.code_len[sym] = static_cast<std::uint8_t>(len);
      if (len <= JpegHuffman::kLookBits) {
        const int shift = JpegHuffman::kLookBits - len;
        for (std::int32_t f = code << shift; f < (code + 1) << shift; ++f) {
          t.fast_len[f] = static_cast<std::uint8_t>(len);
          t.fast_sym[f] = sym;
        }
      }
      if (len <= JpegHuffman::kAcBits) {
        const int shift = JpegHuffman::kAcBits - len, r = sym >> 4, size = sym & 15;
        const int step = size ? r + 1 : (r == 15 ? 16 : 0);
        const auto entry = static_cast<std::uint16_t>((len + size) << 8 | step);
        for (std::int32_t f = code << shift; f < (code + 1) << shift; ++f) t.fast_ac[f] = entry;
      }
    }
    code <<= 1;
  }
  t.maxcode[17] = 0x7FFFFFFF;
  t.present = true;
  return true;
}

bool parse_dht(const std::uint8_t* s, std::size_t n, JpegLayout& l) {
  std::size_t q = 0;
  while (q < n) {
    if (q + 17 > n) return false;
    const int tc = s[q] >> 4, th = s[q] & 15;
    if (tc > 1 || th > 3) return false;
    int total = 0;
    for (int i = 1; i <= 16; ++i) total += s[q + static_cast<std::size_t>(i)];
    if (total > 256 || q + 17 + static_cast<std::size_t>(total) > n) return false;
    if (!build_table(s + q + 1, s + q + 17, total, tc ? l.ac[th] : l.dc[th])) return false;
    q += 17 + static_cast<std::size_t>(total);
  }
  return true;
}

}  // namespace

bool parse_jpeg_layout(const std::uint8_t* d, std::size_t size, JpegLayout& l) {
  l = JpegLayout{};
  if (size < 4 || d[0] != 0xFF || d[1] != 0xD8) return false;
  std::size_t p = 2;
  bool have_sof = false;
  int ids[4] = {};
  while (p + 4 <= size) {
    if (d[p] != 0xFF) return false;
    const std::uint8_t m = d[p + 1];
    if (m == 0xFF) {  // fill byte before a marker
      ++p;
      continue;
    }
    if (m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7) || m == 0xD9) return false;
    const std::size_t len = be16(d + p + 2);
    if (len < 2 || p + 2 + len > size) return false;
    const std::uint8_t* s = d + p + 4;
    const std::size_t n = len - 2;
    if (m == 0xC0 || m == 0xC1) {
      if (have_sof || n < 6 || s[0] != 8) return false;
      l.height = static_cast<int>(be16(s + 1));
      l.width = static_cast<int>(be16(s + 3));
      l.ncomp = s[5];
      if (l.height == 0 || l.width == 0 || l.ncomp < 1 || l.ncomp > 4 || n < 6 + 3 * static_cast<std::size_t>(l.ncomp)) {
        return false;
      }
      for (int c = 0; c < l.ncomp; ++c) {
        ids[c] = s[6 + 3 * c];
        l.comp[c].h = s[7 + 3 * c] >> 4;
        l.comp[c].v = s[7 + 3 * c] & 15;
        if (l.comp[c].h < 1 || l.comp[c].h > 4 || l.comp[c].v < 1 || l.comp[c].v > 4) return false;
      }
      l.sof_height_at = p + 5;
      have_sof = true;
    } else if (m == 0xC4) {
      if (!parse_dht(s, n, l)) return false;
    } else if (m == 0xDD) {
      if (n < 2 || be16(s) != 0) return false;  // restart intervals: not handled
    } else if ((m >= 0xC2 && m <= 0xCF) || m == 0xDC) {
      return false;  // progressive, lossless, hierarchical, arithmetic, DNL
    } else if (m == 0xDA) {
      if (!have_sof || n < 1 || s[0] != l.ncomp || n < 4 + 2 * static_cast<std::size_t>(l.ncomp)) return false;
      JpegLayout::Component ordered[4];
      bool used[4] = {};
      for (int i = 0; i < l.ncomp; ++i) {
        int c = 0;
        while (c < l.ncomp && (ids[c] != s[1 + 2 * i] || used[c])) ++c;
        if (c == l.ncomp) return false;
        used[c] = true;
        ordered[i] = l.comp[c];
        ordered[i].dc = s[2 + 2 * i] >> 4;
        ordered[i].ac = s[2 + 2 * i] & 15;
        if (ordered[i].dc > 3 || ordered[i].ac > 3) return false;
      }
      const std::uint8_t* tail = s + 1 + 2 * l.ncomp;
      if (tail[0] != 0 || tail[1] != 63 || tail[2] != 0) return false;
      std::copy(ordered, ordered + l.ncomp, l.comp);
      int hmax = 1, vmax = 1, blocks = 0;
      for (int c = 0; c < l.ncomp; ++c) {
        if (!l.dc[l.comp[c].dc].present || !l.ac[l.comp[c].ac].present) return false;
        hmax = std::max(hmax, l.comp[c].h);
        vmax = std::max(vmax, l.comp[c].v);
        blocks += l.comp[c].h * l.comp[c].v;
      }
      if (l.ncomp > 1 && blocks > 10) return false;
      l.mcu_width = l.ncomp == 1 ? 8 : 8 * hmax;
      l.mcu_height = l.ncomp == 1 ? 8 : 8 * vmax;
      l.mcus_per_row = (l.width + l.mcu_width - 1) / l.mcu_width;
      l.mcu_rows = (l.height + l.mcu_height - 1) / l.mcu_height;
      l.sos_at = p;
      l.scan_at = p + 2 + len;
      return true;
    }
    p += 2 + len;
  }
  return false;
}

}  // namespace stoker::detail
