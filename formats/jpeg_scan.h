// Starting a baseline JPEG's decode partway down the image.
//
// A sequential Huffman-coded scan is one bit stream: to decode MCU row r, libjpeg must entropy-
// decode every row above it (jpeg_skip_scanlines does, discarding the coefficients), about 14%
// of a full decode's work for an average random-resized crop. Here a lean scanner walks those rows
// instead (it only measures codes; no coefficient is stored) and records where row r starts: a bit
// position and each component's DC predictor. resume_at_row() then writes a new, valid JPEG whose
// entropy-coded data is one synthetic MCU row followed by the original bits from row r on: the
// synthetic row is coded so that it ends exactly at that bit position and leaves the DC
// predictors at the recorded values, so libjpeg decodes rows r.. into exactly the coefficients of
// the original (the tail is copied, never re-encoded).
//
// Scope: baseline or extended sequential Huffman, 8-bit, one interleaved scan holding every
// component (1, 3 or 4), no restart interval. Anything else, and any irregularity the scanner
// meets (an invalid code, a marker inside the rows it walks, a coefficient index past 63), makes
// these functions return false; the caller then decodes the original stream as before, so errors
// and warnings stay exactly libjpeg's. Internal to formats/ (stoker::detail).
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
  std::size_t sof_height_at = 0;  // offset of SOF's 16-bit height
  std::size_t scan_at = 0;        // first byte of entropy-coded data
  JpegHuffman dc[4], ac[4];
};

// Where an MCU row begins in the entropy-coded data: the byte holding its first bit, how many bits
// of that byte belong to the row above (0..7), and each component's DC predictor there.
struct JpegRowStart {
  std::uint32_t byte = 0;
  std::uint8_t bit = 0;
  std::int16_t pred[4] = {};
};

// Parses the markers of a JPEG this module handles; false for any other (see Scope above).
bool parse_jpeg_layout(const std::uint8_t* data, std::size_t size, JpegLayout& out);

// Where the scan itself begins (MCU row 0).
JpegRowStart first_row_start(const JpegLayout& l);

// Given starts[from] (a row start found earlier, or first_row_start()), walks MCU rows
// [from, to) and writes starts[from + 1 .. to]. False on any irregularity.
bool find_row_starts(const JpegLayout& l, const std::uint8_t* data, std::size_t size, int from, int to,
                     JpegRowStart* starts);

// Writes to `out` a JPEG of the same image from MCU row `row` on, preceded by one synthetic MCU
// row (so its height is height - row * mcu_height + mcu_height; rows keep their pixels' order).
// False when no synthetic row with the needed length exists for these Huffman tables.
bool resume_at_row(const JpegLayout& l, const std::uint8_t* data, std::size_t size, int row, const JpegRowStart& at,
                   ByteBuffer& out);

}  // namespace stoker::detail
