// Helpers shared by the libFuzzer targets: a per-process scratch file the input bytes are written
// to (the readers under test open paths), and one place that says which exceptions are expected.
// A target returns normally on stoker::Error (the readers' documented way to refuse bad input);
// any other exception escapes and libFuzzer reports it as a finding (uncaught exception = crash).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace stoker::fuzz {

// A file in $TMPDIR (default /tmp) named after the target and this process, rewritten for every
// input and removed at exit.
class ScratchFile {
 public:
  explicit ScratchFile(const char* target, const char* suffix = "") {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/stoker_fuzz_" + target + "_" + std::to_string(::getpid()) + suffix;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  const std::string& write(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) throw std::runtime_error("cannot write " + path_);
    if (size && std::fwrite(data, 1, size, f) != size) throw std::runtime_error("short write to " + path_);
    std::fclose(f);
    return path_;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace stoker::fuzz
