// JpegRowIndex: where each MCU row of a JPEG begins, remembered across passes over a dataset.
//
// A crop's first pass over a file walks the rows above its window (jpeg_scan.h) and records their
// starts here; a later pass, whatever its window, resumes at the row it needs without decoding or
// scanning anything above it. Files are keyed by their content (size, CRC-32 and Adler-32 of every
// byte), so a path reused for other bytes, or the same bytes under two paths or in an HDF5 row,
// are told apart or shared correctly.
//
// Memory: at most `capacity` bytes, counted as each entry's row starts plus a fixed overhead per
// file; once full, files not yet known are not added (what is known stays). Thread-safe: one
// mutex, taken once per lookup and once per record (two per decoded image at most).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "formats/jpeg_scan.h"

namespace stoker::detail {

struct JpegContentKey {
  std::uint64_t size = 0;
  std::uint64_t sums = 0;  // CRC-32 << 32 | Adler-32
  bool operator==(const JpegContentKey&) const = default;
};

JpegContentKey jpeg_content_key(const std::uint8_t* data, std::size_t size);

class JpegRowIndex {
 public:
  // Per file: the map node and vector header, beside the row starts.
  static constexpr std::size_t kEntryOverhead = 96;

  explicit JpegRowIndex(std::size_t capacity) : capacity_(capacity) {}

  // Copies up to `max_rows` known starts (rows 0, 1, ...) of the file into `starts`; returns how
  // many (0: none known).
  int lookup(const JpegContentKey& key, JpegRowStart* starts, int max_rows) const;
  // Records starts of rows 0..n-1 where they extend what is known of the file.
  void record(const JpegContentKey& key, const JpegRowStart* starts, int n);

  std::size_t bytes() const;
  std::size_t capacity() const { return capacity_; }

 private:
  struct KeyHash {
    std::size_t operator()(const JpegContentKey& k) const { return static_cast<std::size_t>(k.sums ^ (k.size * 0x9E3779B97F4A7C15ULL)); }
  };
  mutable std::mutex mu_;
  std::unordered_map<JpegContentKey, std::vector<JpegRowStart>, KeyHash> rows_;
  std::size_t bytes_ = 0;
  const std::size_t capacity_;
};

}  // namespace stoker::detail
