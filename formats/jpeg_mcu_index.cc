#include "formats/jpeg_mcu_index.h"

#include <libdeflate.h>

namespace stoker::detail {

JpegContentKey jpeg_content_key(const std::uint8_t* data, std::size_t size) {
  const std::uint64_t crc = libdeflate_crc32(0, data, size);
  const std::uint64_t adler = libdeflate_adler32(1, data, size);
  return {static_cast<std::uint64_t>(size), crc << 32 | adler};
}

JpegMcuIndex::Points JpegMcuIndex::find(const JpegContentKey& key) const {
  std::lock_guard lock(mu_);
  auto it = files_.find(key);
  return it == files_.end() ? nullptr : it->second;
}

bool JpegMcuIndex::has_room(std::size_t n) const {
  std::lock_guard lock(mu_);
  return bytes_ + cost(n) <= capacity_;
}

JpegMcuIndex::Points JpegMcuIndex::add(const JpegContentKey& key, std::vector<JpegScanPoint> points) {
  const std::size_t grow = cost(points.size());
  auto shared = std::make_shared<const std::vector<JpegScanPoint>>(std::move(points));
  try {
    std::lock_guard lock(mu_);
    if (bytes_ + grow <= capacity_ && !files_.count(key)) {
      files_.emplace(key, shared);
      bytes_ += grow;
    }
  } catch (const std::bad_alloc&) {  // an index only saves time: without memory, decode as before
  }
  return shared;
}

std::size_t JpegMcuIndex::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace stoker::detail
