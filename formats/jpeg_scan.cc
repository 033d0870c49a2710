// The lean entropy scanner and the window-only stream (see jpeg_scan.h); parse_jpeg_layout is in
// jpeg_layout.cc. Every read is bounds-checked against [data, data + size): the input is untrusted.
#include "formats/jpeg_scan.h"

#include <algorithm>
#include <cstring>

namespace stoker::detail {
namespace {

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
