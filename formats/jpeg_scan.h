// Decoding only the MCUs a crop needs from a baseline JPEG.
//
// A sequential Huffman-coded scan is one bit stream: libjpeg must entropy-decode every MCU before
// the ones it wants, and every MCU of every row it outputs (jpeg_crop_scanline saves the IDCT of
// other columns, not their decoding). For a random-resized crop that is most of the work. Here a
// lean scanner walks the scan once (it measures codes; no coefficient is stored) and records
// where each MCU begins: a bit position and the DC predictors. write_window_jpeg() then writes a
// new, valid JPEG holding only the window's MCU rows and columns: their bits are copied byte for
// byte, each row behind one synthetic MCU that re-enters the stream at the right bit with the right
// predictors, so libjpeg decodes exactly the original coefficients for them.
//
// Scope: baseline or extended sequential Huffman, 8-bit, one interleaved scan holding every
// component (1, 3 or 4), no restart interval, EOI right after the scan. Anything else, and any
// irregularity the scanner meets (an invalid code, a marker inside the scan, a coefficient index
// past 63), makes these functions return false; the caller then decodes the original stream as
// before, so errors and warnings stay exactly libjpeg's. Internal to formats/ (stoker::detail).
#pragma once

#include <cstddef>
#include <cstdint>

#include "formats/file_source.h"

namespace stoker::detail {

struct JpegHuffman {
  // Fast table over the next kLookBits bits: code length (0: longer code, see the slow path) and
  // symbol. Slow path: canonical decoding by code length.
  static constexpr int kLookBits = 9;
  std::uint8_t fast_len[1 << kLookBits];
  std::uint8_t fast_sym[1 << kLookBits];
  // AC tables, for skipping: per next kAcBits bits, (code length + magnitude bits) << 8 | step,
  // step being how far the coefficient index moves (0: end of block); 0: a longer code.
  static constexpr int kAcBits = 10;
  std::uint16_t fast_ac[1 << kAcBits];
  std::int32_t maxcode[18];  // largest code of each length, -1 when none; maxcode[17] sentinel
  std::int32_t valoff[17];   // index of a length's first symbol in vals, minus its first code
  std::uint8_t vals[256];
  // Encoding side: code and length per symbol (length 0: the symbol has no code).
  std::uint16_t code[256];
  std::uint8_t code_len[256];
  bool present = false;
};

struct JpegLayout {
  int width = 0, height = 0;
  int ncomp = 0;
  struct Component {
    int h = 1, v = 1;  // sampling factors
    int dc = 0, ac = 0;  // Huffman table slots
  } comp[4];
  int mcu_width = 8, mcu_height = 8;  // in pixels at full scale
  int mcus_per_row = 0, mcu_rows = 0;
  std::size_t sof_height_at = 0;  // offset of SOF's 16-bit height (its width follows)
  std::size_t sos_at = 0;         // offset of the SOS marker
  std::size_t scan_at = 0;        // first byte of entropy-coded data
  JpegHuffman dc[4], ac[4];
};

// Where an MCU begins in the entropy-coded data: the byte holding its first bit, how many bits of
// that byte belong to the MCU before (0..7), and each component's DC predictor there.
struct JpegScanPoint {
  std::uint32_t byte = 0;
  std::uint8_t bit = 0;
  std::int16_t pred[4] = {};
};

// Parses the markers of a JPEG this module handles; false for any other (see Scope above).
bool parse_jpeg_layout(const std::uint8_t* data, std::size_t size, JpegLayout& out);

// Walks the whole scan and writes where each MCU begins to points[row * mcus_per_row + column],
// then where the scan ends (mcu_rows * mcus_per_row + 1 points). True only for a scan without any
// irregularity that ends right before EOI, so a part of it decodes with no warning the whole file
// would not raise either.
bool scan_mcu_points(const JpegLayout& l, const std::uint8_t* data, std::size_t size, JpegScanPoint* points);

// Writes to `out` a JPEG of MCU rows [r0, r1) and MCU columns [m0, m1) of the source, given its
// points: each row is one synthetic MCU, coded to end where the source's first copied bit sits in
// its byte and to leave each DC predictor as the source has it there, followed by the source's
// bytes of those MCUs; a restart interval of one row (DRI) re-aligns every row. libjpeg decodes
// exactly the source's coefficients for them. The copied MCUs start at pixel column mcu_width
// (the synthetic MCU comes first) and row 0. False when no synthetic MCU fits these tables.
bool write_window_jpeg(const JpegLayout& l, const std::uint8_t* data, std::size_t size, const JpegScanPoint* points,
                       int r0, int r1, int m0, int m1, ByteBuffer& out);

}  // namespace stoker::detail
