// libFuzzer target: the cache-file reader (pipeline/cache_file.h) on file bytes: open_if_complete
// then every record. Every input must be refused (nullptr), read, or raise stoker::Error.
#include "pipeline/cache_file.h"
#include "pipeline/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stoker;
  static fuzz::ScratchFile file("cache", ".cache");
  const std::string& path = file.write(data, size);
  try {
    // The seeds (seeds.cc) are written with CacheWriter's default, empty fingerprint: a file
    // that claims another one is refused before any record is read.
    auto reader = detail::CacheReader::open_if_complete(path, "");
    if (!reader) return 0;
    Element e;
    while (reader->next(e)) {
    }
  } catch (const Error&) {
  }
  return 0;
}
