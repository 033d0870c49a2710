// Baseline JPEG marker parsing, a lean entropy scanner and the window-only stream (see jpeg_scan.h).
// Every read is bounds-checked against [data, data + size): the input is untrusted.
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

// Reads the entropy-coded bits MSB first, removing stuffed zero bytes; stops at any marker.
class BitReader {
 public:
  BitReader(const std::uint8_t* data, std::size_t begin, std::size_t size) : data_(data), p_(begin), end_(size) {}

  // Tops the buffer up to at least 57 bits unless a marker or the end comes first.
  void fill() {
    while (cnt_ <= 56 && !stopped_) {
      if (end_ - p_ >= 8) {  // eight bytes without 0xFF at once
        std::uint64_t w = 0;
        for (int i = 0; i < 8; ++i) w = w << 8 | data_[p_ + static_cast<std::size_t>(i)];
        const std::uint64_t inv = ~w;  // a zero byte where w holds 0xFF
        if (((inv - 0x0101010101010101ULL) & ~inv & 0x8080808080808080ULL) == 0) {
          const int take = (64 - cnt_) >> 3;
          buf_ |= w >> cnt_;
          cnt_ += take * 8;
          if (cnt_ < 64) buf_ &= ~std::uint64_t{0} << (64 - cnt_);
          p_ += static_cast<std::size_t>(take);
          continue;
        }
      }
      if (p_ >= end_) {
        stopped_ = true;
        break;
      }
      const std::uint8_t b = data_[p_];
      if (b == 0xFF) {
        if (p_ + 1 >= end_ || data_[p_ + 1] != 0x00) {
          stopped_ = true;
          break;
        }
        p_ += 2;
      } else {
        p_ += 1;
      }
      buf_ |= static_cast<std::uint64_t>(b) << (56 - cnt_);
      cnt_ += 8;
    }
  }
  int available() const { return cnt_; }
  std::uint32_t peek(int n) const { return static_cast<std::uint32_t>(buf_ >> (64 - n)); }
  void skip(int n) {
    buf_ <<= n;
    cnt_ -= n;
  }
  // The byte holding the next unread bit and how many of its bits were read.
  void position(std::uint32_t* byte, std::uint8_t* bit) const {
    std::size_t q = p_;
    for (int i = 0; i < (cnt_ + 7) / 8; ++i) {
      --q;
      if (data_[q] == 0x00 && q > 0 && data_[q - 1] == 0xFF) --q;  // a stuffed zero: its FF is the data byte
    }
    *byte = static_cast<std::uint32_t>(q);
    *bit = static_cast<std::uint8_t>((8 - cnt_ % 8) % 8);
  }

 private:
  const std::uint8_t* data_;
  std::size_t p_, end_;
  std::uint64_t buf_ = 0;
  int cnt_ = 0;
  bool stopped_ = false;
};

// The next Huffman symbol's code length and symbol; false for no valid code.
inline bool decode_symbol(const JpegHuffman& t, const BitReader& br, int* len, int* sym) {
  const std::uint32_t look = br.peek(JpegHuffman::kLookBits);
  if (t.fast_len[look]) {
    *len = t.fast_len[look];
    *sym = t.fast_sym[look];
    return true;
  }
  const std::uint32_t bits = br.peek(16);
  for (int l = JpegHuffman::kLookBits + 1; l <= 16; ++l) {
    const auto c = static_cast<std::int32_t>(bits >> (16 - l));
    if (c <= t.maxcode[l]) {
      const int idx = t.valoff[l] + c;
      if (idx < 0 || idx > 255) return false;
      *len = l;
      *sym = t.vals[idx];
      return true;
    }
  }
  return false;
}

// Walks one block: its DC difference is added to *pred, its AC codes are measured and skipped.
inline bool skip_block(const JpegHuffman& dc, const JpegHuffman& ac, BitReader& br, int* pred) {
  if (br.available() < 32) br.fill();
  int len = 0, s = 0;
  if (!decode_symbol(dc, br, &len, &s) || s > 11) return false;
  br.skip(len);
  if (s) {
    const auto v = static_cast<int>(br.peek(s));
    br.skip(s);
    *pred += v < (1 << (s - 1)) ? v - (1 << s) + 1 : v;
  }
  for (int k = 1; k < 64;) {
    if (br.available() < 32) br.fill();
    int step;
    if (const std::uint16_t e = ac.fast_ac[br.peek(JpegHuffman::kAcBits)]; e) {
      br.skip(e >> 8);
      step = e & 0xFF;
    } else {
      int sym = 0;
      if (!decode_symbol(ac, br, &len, &sym)) return false;
      const int r = sym >> 4, size = sym & 15;
      br.skip(len + size);
      step = size ? r + 1 : (r == 15 ? 16 : 0);
    }
    if (step == 0) break;  // end of block
    k += step;
    if (k > 64) return false;  // past the 63rd coefficient: libjpeg tolerates it, this scanner does not
  }
  return br.available() >= 0;  // negative: bits past a marker or the end were used
}

int blocks_of(const JpegLayout& l, int c) { return l.ncomp == 1 ? 1 : l.comp[c].h * l.comp[c].v; }

int category(int v) {
  int a = v < 0 ? -v : v, s = 0;
  while (a) {
    ++s;
    a >>= 1;
  }
  return s;
}

// Writes bits MSB first with a zero stuffed after every 0xFF byte.
struct BitWriter {
  std::uint8_t* out;
  std::size_t n = 0;
  std::uint64_t acc = 0;
  int cnt = 0;
  void put(std::uint32_t bits, int len) {
    acc = acc << len | (bits & ((std::uint32_t{1} << len) - 1));
    cnt += len;
    while (cnt >= 8) {
      const auto b = static_cast<std::uint8_t>(acc >> (cnt - 8));
      out[n++] = b;
      if (b == 0xFF) out[n++] = 0x00;
      cnt -= 8;
    }
  }
};

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


bool scan_mcu_points(const JpegLayout& l, const std::uint8_t* data, std::size_t size, JpegScanPoint* points) {
  if (l.scan_at >= size || l.mcus_per_row < 1 || l.mcu_rows < 1) return false;
  BitReader br(data, l.scan_at, size);
  int pred[4] = {};
  JpegScanPoint* out = points;
  for (int r = 0; r < l.mcu_rows; ++r) {
    for (int m = 0; m < l.mcus_per_row; ++m, ++out) {
      if (br.available() < 0) return false;
      br.position(&out->byte, &out->bit);
      for (int c = 0; c < 4; ++c) out->pred[c] = static_cast<std::int16_t>(pred[c]);
      for (int c = 0; c < l.ncomp; ++c) {
        const JpegHuffman& dc = l.dc[l.comp[c].dc];
        const JpegHuffman& ac = l.ac[l.comp[c].ac];
        for (int b = blocks_of(l, c); b > 0; --b) {
          if (!skip_block(dc, ac, br, &pred[c])) return false;
        }
        if (pred[c] < -32768 || pred[c] > 32767) return false;
      }
    }
  }
  if (br.available() < 0) return false;
  br.position(&out->byte, &out->bit);
  for (int c = 0; c < 4; ++c) out->pred[c] = static_cast<std::int16_t>(pred[c]);
  // The scan must end at EOI, right after the last byte's padding: otherwise the whole file would
  // decode with a warning (extraneous bytes, a missing EOI) that a part of it would not raise.
  std::size_t next = out->byte + (out->bit ? 1u : 0u);
  if (out->bit && data[out->byte] == 0xFF) ++next;  // the stuffed zero after a data 0xFF
  return next + 2 <= size && data[next] == 0xFF && data[next + 1] == 0xD9;
}

bool write_window_jpeg(const JpegLayout& l, const std::uint8_t* data, std::size_t size, const JpegScanPoint* points,
                       int r0, int r1, int m0, int m1, ByteBuffer& out) {
  const int mpr = l.mcus_per_row;
  if (r0 < 0 || r1 > l.mcu_rows || r0 >= r1 || m0 < 0 || m1 > mpr || m0 >= m1) return false;
  const int per_row = 1 + m1 - m0;
  const long long new_w = l.mcu_width + std::min<long long>(static_cast<long long>(m1) * l.mcu_width, l.width) -
                          static_cast<long long>(m0) * l.mcu_width;
  const long long new_h = std::min<long long>(static_cast<long long>(r1) * l.mcu_height, l.height) -
                          static_cast<long long>(r0) * l.mcu_height;
  if (per_row > 0xFFFF || new_w > 0xFFFF || new_h < 1) return false;

  // The synthetic MCU opening each row: the first block of each component carries that
  // component's predictor at the row's first copied MCU as its DC difference (a restart resets
  // predictors to 0), every block ends at once (EOB), and the first block of component 0 carries
  // a few AC coefficients whose codes make the MCU's length leave exactly the source's bit offset
  // over in its last byte. Lengths mod 8 of the available AC symbols (run 0), fewest first.
  const JpegHuffman& ac0 = l.ac[l.comp[0].ac];
  int sym_for[8];
  std::fill(sym_for, sym_for + 8, -1);
  for (int size_bits = 10; size_bits >= 1; --size_bits) {
    if (ac0.code_len[size_bits]) sym_for[(ac0.code_len[size_bits] + size_bits) % 8] = size_bits;
  }
  int plan_len[8], plan_prev[8], plan_sym[8];  // fewest AC symbols reaching each residue
  std::fill(plan_len, plan_len + 8, 99);
  plan_len[0] = 0;
  for (int step = 0; step < 8; ++step) {
    for (int r = 0; r < 8; ++r) {
      if (plan_len[r] != step) continue;
      for (int q = 0; q < 8; ++q) {
        if (sym_for[q] < 0 || plan_len[(r + q) % 8] <= step + 1) continue;
        plan_len[(r + q) % 8] = step + 1;
        plan_prev[(r + q) % 8] = r;
        plan_sym[(r + q) % 8] = sym_for[q];
      }
    }
  }
  int blocks[4];
  for (int c = 0; c < l.ncomp; ++c) {
    blocks[c] = blocks_of(l, c);
    if (!l.ac[l.comp[c].ac].code_len[0] || (blocks[c] > 1 && !l.dc[l.comp[c].dc].code_len[0])) return false;
  }

  std::size_t copy = 0;
  for (int r = r0; r < r1; ++r) {
    const JpegScanPoint& s = points[static_cast<std::size_t>(r) * mpr + m0];
    const JpegScanPoint& e = points[static_cast<std::size_t>(r) * mpr + m1];
    if (s.byte < l.scan_at || e.byte >= size || e.byte < s.byte + 1) return false;
    copy += e.byte - s.byte + 2;
  }
  const std::size_t per_row_max = 2 + 2 * (10 * (16 + 15 + 16) + 8 * 26) / 8 + 4;
  out.resize(l.scan_at + 6 + static_cast<std::size_t>(r1 - r0) * per_row_max + copy + 2);
  std::uint8_t* o = out.data.get();
  std::size_t n = 0;
  std::memcpy(o, data, l.sos_at);
  o[l.sof_height_at] = static_cast<std::uint8_t>(new_h >> 8);
  o[l.sof_height_at + 1] = static_cast<std::uint8_t>(new_h & 0xFF);
  o[l.sof_height_at + 2] = static_cast<std::uint8_t>(new_w >> 8);
  o[l.sof_height_at + 3] = static_cast<std::uint8_t>(new_w & 0xFF);
  n = l.sos_at;
  const std::uint8_t dri[6] = {0xFF, 0xDD, 0x00, 0x04, static_cast<std::uint8_t>(per_row >> 8),
                               static_cast<std::uint8_t>(per_row & 0xFF)};
  std::memcpy(o + n, dri, 6);
  n += 6;
  std::memcpy(o + n, data + l.sos_at, l.scan_at - l.sos_at);
  n += l.scan_at - l.sos_at;

  for (int r = r0; r < r1; ++r) {
    if (r > r0) {
      o[n++] = 0xFF;
      o[n++] = static_cast<std::uint8_t>(0xD0 + ((r - r0 - 1) & 7));
    }
    const JpegScanPoint& s = points[static_cast<std::size_t>(r) * mpr + m0];
    const JpegScanPoint& e = points[static_cast<std::size_t>(r) * mpr + m1];
    long long bits = 0;
    for (int c = 0; c < l.ncomp; ++c) {
      const JpegHuffman& dc = l.dc[l.comp[c].dc];
      const int cat = category(s.pred[c]);
      if (cat > 15 || !dc.code_len[cat]) return false;
      bits += dc.code_len[cat] + cat + static_cast<long long>(blocks[c] - 1) * dc.code_len[0] +
              static_cast<long long>(blocks[c]) * l.ac[l.comp[c].ac].code_len[0];
    }
    const int need = static_cast<int>(((s.bit - bits) % 8 + 8) % 8);
    if (plan_len[need] > 8) return false;
    BitWriter w{o + n};
    for (int c = 0; c < l.ncomp; ++c) {
      const JpegHuffman& dc = l.dc[l.comp[c].dc];
      const JpegHuffman& ac = l.ac[l.comp[c].ac];
      for (int b = 0; b < blocks[c]; ++b) {
        const int diff = b == 0 ? s.pred[c] : 0;
        const int cat = category(diff);
        w.put(dc.code[cat], dc.code_len[cat]);
        if (cat) w.put(static_cast<std::uint32_t>(diff >= 0 ? diff : diff + (1 << cat) - 1), cat);
        if (c == 0 && b == 0) {
          for (int q = need; q != 0; q = plan_prev[q]) {
            const int sym = plan_sym[q];  // run 0, `sym` magnitude bits: any value will do
            w.put(ac.code[sym], ac.code_len[sym]);
            w.put((1u << sym) - 1, sym);
          }
        }
        w.put(ac.code[0], ac.code_len[0]);
      }
    }
    if (w.cnt != s.bit) return false;  // the plan above guarantees it; checked all the same
    n += w.n;
    std::size_t k = s.byte;
    if (s.bit) {
      const auto keep = static_cast<std::uint8_t>((1u << (8 - s.bit)) - 1);
      const auto merged = static_cast<std::uint8_t>(((w.acc & ((1u << s.bit) - 1)) << (8 - s.bit)) | (data[k] & keep));
      k += data[k] == 0xFF ? 2 : 1;
      o[n++] = merged;
      if (merged == 0xFF) o[n++] = 0x00;
    }
    // Through the byte holding the row's last bit (its remaining bits are padding to the decoder,
    // which drops them at the restart marker), with the stuffed zero after a data 0xFF.
    std::size_t end = e.byte;
    if (e.bit) end += data[e.byte] == 0xFF ? 2 : 1;
    if (end < k || end > size) return false;
    std::memcpy(o + n, data + k, end - k);
    n += end - k;
  }
  o[n++] = 0xFF;
  o[n++] = 0xD9;
  out.size = n;
  return true;
}

}  // namespace stoker::detail
