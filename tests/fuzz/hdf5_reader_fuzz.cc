// libFuzzer target: the HDF5 source on file bytes. The input is written to a scratch file and
// read as hdf5(path, {"/images", "/labels"}) (one thread, 64 MiB budget), then as the images
// dataset alone in batches through shuffle_blocks. Every input must read or raise stoker::Error
// (libhdf5's own error stack is silenced by the reader). At most 256 rows are read per pass: a
// few-KB sparse file can legitimately declare 1e12 rows of fill values, which take long to read
// but are not a bug (their metadata, which the reader must bound, is all read up front).
#include "formats/hdf5_source.h"
#include "pipeline/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static fuzz::ScratchFile file("hdf5", ".h5");
  const std::string& path = file.write(data, size);
  const Options options{.num_threads = 1, .memory_budget = std::size_t{64} << 20};
  try {
    Iterator it = hdf5(path, {"/images", "/labels"}).take(256).iterator(options);
    while (it.next()) {
    }
  } catch (const Error&) {
  }
  try {
    Iterator it = hdf5(path, {"/images"}, {.shuffle_blocks = true}).batch(3).take(86).iterator(options);
    while (it.next()) {
    }
  } catch (const Error&) {
  }
  return 0;
}
