// CRC-32 for the trainer's binary files (see byte_reader.h).
#include "trainer/byte_reader.h"

#include <zlib.h>

#include <algorithm>

namespace stoker::detail {

std::uint32_t crc32_of(const void* p, std::size_t n) {
  const auto* b = static_cast<const Bytef*>(p);
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes a uInt length
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
    crc = crc32(crc, b, chunk);
    b += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

}  // namespace stoker::detail
