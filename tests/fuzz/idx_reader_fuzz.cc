// libFuzzer target: the idx (MNIST) source. Input layout: u16 little-endian n, then n bytes of
// the images file, then the labels file (either may be gzip'd; zlib reads both). Both are read
// to the end; every input must read or raise stoker::Error.
#include <algorithm>

#include "formats/idx_source.h"
#include "pipeline/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static fuzz::ScratchFile images("idx", "-images"), labels("idx", "-labels");
  if (size < 2) return 0;
  const std::size_t n = std::min<std::size_t>(size - 2, data[0] | (std::size_t{data[1]} << 8));
  images.write(data + 2, n);
  labels.write(data + 2 + n, size - 2 - n);
  try {
    Iterator it = idx(images.path(), labels.path()).iterator({.num_threads = 1, .memory_budget = std::size_t{64} << 20});
    while (it.next()) {
    }
  } catch (const Error&) {
  }
  return 0;
}
