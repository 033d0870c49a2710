#include "formats/jpeg_row_index.h"

#include <libdeflate.h>

#include <algorithm>

namespace stoker::detail {

JpegContentKey jpeg_content_key(const std::uint8_t* data, std::size_t size) {
  const std::uint64_t crc = libdeflate_crc32(0, data, size);
  const std::uint64_t adler = libdeflate_adler32(1, data, size);
  return {static_cast<std::uint64_t>(size), crc << 32 | adler};
}

int JpegRowIndex::lookup(const JpegContentKey& key, JpegRowStart* starts, int max_rows) const {
  std::lock_guard lock(mu_);
  auto it = rows_.find(key);
  if (it == rows_.end()) return 0;
  const int n = std::min(max_rows, static_cast<int>(it->second.size()));
  std::copy(it->second.begin(), it->second.begin() + n, starts);
  return n;
}

void JpegRowIndex::record(const JpegContentKey& key, const JpegRowStart* starts, int n) {
  if (n <= 0) return;
  const auto want = static_cast<std::size_t>(n);
  std::lock_guard lock(mu_);
  auto it = rows_.find(key);
  const std::size_t have = it == rows_.end() ? 0 : it->second.size();
  if (want <= have) return;
  const std::size_t grow = (want - have) * sizeof(JpegRowStart) + (it == rows_.end() ? kEntryOverhead : 0);
  if (bytes_ + grow > capacity_) return;
  try {
    std::vector<JpegRowStart> known(starts, starts + n);
    if (it == rows_.end()) {
      rows_.emplace(key, std::move(known));
    } else {
      it->second = std::move(known);
    }
    bytes_ += grow;
  } catch (const std::bad_alloc&) {  // an index is an optimisation: without memory, decode as before
  }
}

std::size_t JpegRowIndex::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace stoker::detail
