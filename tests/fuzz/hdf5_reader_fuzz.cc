// libFuzzer target: the HDF5 source on file bytes. The input is written to a scratch file and
// read as hdf5(path, {"/images", "/labels"}) to the end (one thread, 64 MiB budget), then as the
// images dataset alone in blocks through shuffle_blocks. Every input must read or raise
// stoker::Error (libhdf5's own error stack is silenced by the reader).
#include "formats/hdf5_source.h"
#include "pipeline/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static fuzz::ScratchFile file("hdf5", ".h5");
  const std::string& path = file.write(data, size);
  const Options options{.num_threads = 1, .memory_budget = std::size_t{64} << 20};
  try {
    Iterator it = hdf5(path, {"/images", "/labels"}).iterator(options);
    while (it.next()) {
    }
  } catch (const Error&) {
  }
  try {
    Iterator it = hdf5(path, {"/images"}, {.shuffle_blocks = true}).batch(3).iterator(options);
    while (it.next()) {
    }
  } catch (const Error&) {
  }
  return 0;
}
