// JpegMcuIndex: where each MCU of a JPEG begins (jpeg_scan.h), remembered across passes over a
// dataset, so a crop of a file seen before decodes only the MCUs under its window.
//
// Files are keyed by their content (size, CRC-32 and Adler-32 of every byte): a path reused for
// other bytes is a new file; the same bytes under two paths, or in an HDF5 row, share one entry.
//
// Memory: at most `capacity` bytes, counted as each file's points (16 bytes per MCU: ~12 KB for a
// 500x375 4:2:0 photo) plus a fixed overhead; once full, files not yet known are not added (what
// is known stays). Thread-safe: one mutex, held for a hash lookup or an insert, never while
// scanning; entries are immutable once added and shared with readers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

class JpegMcuIndex {
 public:
  using Points = std::shared_ptr<const std::vector<JpegScanPoint>>;
  // Per file: the map node, the shared_ptr control block and the vector header.
  static constexpr std::size_t kEntryOverhead = 128;

  explicit JpegMcuIndex(std::size_t capacity) : capacity_(capacity) {}

  // The file's points, or null when it is not known.
  Points find(const JpegContentKey& key) const;
  // Whether a file of `n` points would be added now.
  bool has_room(std::size_t n) const;
  // Takes the file's points and adds them when there is room; returns them either way (shared, so
  // the caller decodes from them without a copy).
  Points add(const JpegContentKey& key, std::vector<JpegScanPoint> points);

  std::size_t bytes() const;
  std::size_t capacity() const { return capacity_; }
  static std::size_t cost(std::size_t n) { return n * sizeof(JpegScanPoint) + kEntryOverhead; }

 private:
  struct KeyHash {
    std::size_t operator()(const JpegContentKey& k) const {
      return static_cast<std::size_t>(k.sums ^ (k.size * 0x9E3779B97F4A7C15ULL));
    }
  };
  mutable std::mutex mu_;
  std::unordered_map<JpegContentKey, Points, KeyHash> files_;
  std::size_t bytes_ = 0;
  const std::size_t capacity_;
};

}  // namespace stoker::detail
