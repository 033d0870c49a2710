// now_ns(): the one monotonic clock stoker's statistics are measured with (steady_clock, in
// nanoseconds). Public so that every library times its waits the same way.
#pragma once

#include <chrono>
#include <cstdint>

namespace stoker {

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace stoker
