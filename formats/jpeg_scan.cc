// Baseline JPEG marker parsing, a lean entropy scanner and the resumed stream (see jpeg_scan.h).
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
    if (code >= (std::int32_t{1} << len)) return false;
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
      l.scan_at = p + 2 + len;
      return true;
    }
    p += 2 + len;
  }
  return false;
}

JpegRowStart first_row_start(const JpegLayout& l) {
  JpegRowStart s;
  s.byte = static_cast<std::uint32_t>(l.scan_at);
  return s;
}

bool find_row_starts(const JpegLayout& l, const std::uint8_t* data, std::size_t size, int from, int to,
                     JpegRowStart* starts) {
  if (from < 0 || to >= l.mcu_rows || from > to) return false;
  const JpegRowStart& at = starts[from];
  if (at.byte < l.scan_at || at.byte >= size || at.bit > 7) return false;
  BitReader br(data, at.byte, size);
  br.fill();
  if (br.available() < at.bit) return false;
  br.skip(at.bit);
  int pred[4] = {at.pred[0], at.pred[1], at.pred[2], at.pred[3]};
  for (int r = from; r < to; ++r) {
    for (int m = 0; m < l.mcus_per_row; ++m) {
      for (int c = 0; c < l.ncomp; ++c) {
        const JpegHuffman& dc = l.dc[l.comp[c].dc];
        const JpegHuffman& ac = l.ac[l.comp[c].ac];
        for (int b = blocks_of(l, c); b > 0; --b) {
          if (!skip_block(dc, ac, br, &pred[c])) return false;
        }
      }
    }
    JpegRowStart& out = starts[r + 1];
    br.position(&out.byte, &out.bit);
    for (int c = 0; c < 4; ++c) {
      if (pred[c] < -32768 || pred[c] > 32767) return false;
      out.pred[c] = static_cast<std::int16_t>(pred[c]);
    }
  }
  return true;
}

bool resume_at_row(const JpegLayout& l, const std::uint8_t* data, std::size_t size, int row, const JpegRowStart& at,
                   ByteBuffer& out) {
  if (at.byte < l.scan_at || at.byte >= size || at.bit > 7) return false;
  const long long new_height = static_cast<long long>(l.height) - static_cast<long long>(row) * l.mcu_height + l.mcu_height;
  if (row < 1 || new_height <= l.mcu_height || new_height > 0xFFFF) return false;
  // The synthetic row: per component, its first block carries the whole predictor as its DC
  // difference, the others 0, every block ends at once (EOB). Its length must leave `at.bit`
  // bits over in the last byte. Moves that keep each predictor and change the length: blocks
  // coding (+v, -v) add 2 * (len(s) + s - len(0)) bits (even), blocks coding (+2v, -v, -v) add
  // len(s+1) + s+1 + 2 * (len(s) + s) - 3 * len(0) (odd or even), v = 2^(s-1). A breadth-first
  // search over the length mod 8 finds the fewest moves (at most 7).
  int n[4], len0[4];
  long long bits = 0;
  for (int c = 0; c < l.ncomp; ++c) {
    const JpegHuffman& dc = l.dc[l.comp[c].dc];
    const JpegHuffman& ac = l.ac[l.comp[c].ac];
    n[c] = l.mcus_per_row * blocks_of(l, c);
    const int s = category(at.pred[c]);
    len0[c] = dc.code_len[0];
    const int eob = ac.code_len[0];
    if (s > 15 || !dc.code_len[s] || !eob || (n[c] > 1 && !len0[c])) return false;
    bits += dc.code_len[s] + s + static_cast<long long>(n[c] - 1) * len0[c] + static_cast<long long>(n[c]) * eob;
  }
  struct Move {
    int c = 0, s = 0, blocks = 0;
  };
  auto delta = [&](const Move& m) {
    const JpegHuffman& dc = l.dc[l.comp[m.c].dc];
    const int one = dc.code_len[m.s] + m.s;
    return m.blocks == 2 ? 2 * one - 2 * len0[m.c] : dc.code_len[m.s + 1] + m.s + 1 + 2 * one - 3 * len0[m.c];
  };
  auto possible = [&](const Move& m) {
    const JpegHuffman& dc = l.dc[l.comp[m.c].dc];
    return len0[m.c] && dc.code_len[m.s] && (m.blocks == 2 || (m.s < 11 && dc.code_len[m.s + 1]));
  };
  const int need = static_cast<int>(((at.bit - bits) % 8 + 8) % 8);
  Move via[8];
  int prev[8];
  bool seen[8] = {};
  seen[0] = true;
  int frontier[8] = {0}, nf = 1;
  for (int depth = 0; depth < 7 && !seen[need]; ++depth) {
    int next[8], nn = 0;
    for (int f = 0; f < nf; ++f) {
      for (int c = 0; c < l.ncomp; ++c) {
        for (int sz = 1; sz <= 11; ++sz) {
          for (int blocks : {2, 3}) {
            const Move m{c, sz, blocks};
            if (!possible(m)) continue;
            const int r = ((frontier[f] + delta(m)) % 8 + 8) % 8;
            if (seen[r]) continue;
            seen[r] = true;
            via[r] = m;
            prev[r] = frontier[f];
            next[nn++] = r;
          }
        }
      }
    }
    std::copy(next, next + nn, frontier);
    nf = nn;
  }
  if (!seen[need]) return false;
  int extra[4][21] = {}, used[4] = {};  // per component: the differences of blocks 1, 2, ...
  for (int r = need; r != 0; r = prev[r]) {
    const Move& m = via[r];
    if (used[m.c] + m.blocks > n[m.c] - 1) return false;
    const int v = 1 << (m.s - 1);
    int* e = extra[m.c] + used[m.c];
    if (m.blocks == 2) {
      e[0] = v;
      e[1] = -v;
    } else {
      e[0] = 2 * v;
      e[1] = -v;
      e[2] = -v;
    }
    used[m.c] += m.blocks;
  }

  // Headers (the height patched), the synthetic row, then the original bits from at.byte/at.bit.
  const std::size_t dummy_max = static_cast<std::size_t>((bits + 7 * 3 * 27) / 8 + 1) * 2 + 2;
  const std::size_t tail = size - at.byte;
  out.resize(l.scan_at + dummy_max + tail);
  std::uint8_t* o = out.data.get();
  std::memcpy(o, data, l.scan_at);
  o[l.sof_height_at] = static_cast<std::uint8_t>(new_height >> 8);
  o[l.sof_height_at + 1] = static_cast<std::uint8_t>(new_height & 0xFF);
  BitWriter w{o + l.scan_at};
  int block_index[4] = {};
  for (int m = 0; m < l.mcus_per_row; ++m) {
    for (int c = 0; c < l.ncomp; ++c) {
      const JpegHuffman& dc = l.dc[l.comp[c].dc];
      const JpegHuffman& ac = l.ac[l.comp[c].ac];
      for (int b = blocks_of(l, c); b > 0; --b) {
        const int i = block_index[c]++;
        const int diff = i == 0 ? at.pred[c] : (i - 1 < used[c] ? extra[c][i - 1] : 0);
        const int s = category(diff);
        w.put(dc.code[s], dc.code_len[s]);
        if (s) w.put(static_cast<std::uint32_t>(diff >= 0 ? diff : diff + (1 << s) - 1), s);
        w.put(ac.code[0], ac.code_len[0]);
      }
    }
  }
  if (w.cnt != at.bit) return false;  // the search above guarantees it; checked all the same
  std::size_t k = at.byte;
  if (at.bit) {
    const std::uint8_t keep = static_cast<std::uint8_t>((1u << (8 - at.bit)) - 1);
    const auto merged = static_cast<std::uint8_t>(((w.acc & ((1u << at.bit) - 1)) << (8 - at.bit)) | (data[k] & keep));
    if (data[k] == 0xFF && (k + 1 >= size || data[k + 1] != 0x00)) return false;
    k += data[k] == 0xFF ? 2 : 1;
    w.out[w.n++] = merged;
    if (merged == 0xFF) w.out[w.n++] = 0x00;
  }
  std::memcpy(w.out + w.n, data + k, size - k);
  out.size = l.scan_at + w.n + (size - k);
  return true;
}

}  // namespace stoker::detail
