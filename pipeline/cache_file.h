// The cache file format: a stream of serialised elements written once, read many times.
//
//   header  "STKCACHE" u32 version
//   record  u32 components, then per component: u8 dtype, u8 rank, i64 dims[rank], u64 nbytes, bytes
//   footer  "STKCEND!" u64 record_count
//
// A file is trusted only if its header and footer are intact and the footer's count matches
// what reading finds; CacheWriter writes "<path>.partial-<unique>" and renames it to <path> only
// in finish(), so an interrupted pass never leaves a file that a later run would trust.
// All integers little-endian (host order on the platforms we build for).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/element.h"

namespace stoker::detail {

class CacheWriter {
 public:
  // Writes to a temporary name beside `path`; finish() publishes it. With an empty `path` it
  // writes an anonymous temporary file (for spilling) that disappears when closed.
  explicit CacheWriter(std::string path);
  ~CacheWriter();  // removes the temporary file unless finish() succeeded
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  void append(const Element& e);
  // Writes the footer, flushes, and (for a named cache) renames to the final path.
  void finish();
  std::uint64_t count() const { return count_; }
  // An fd open on the written data, valid until the writer is destroyed (for reading spills).
  int fd() const;
  const std::string& path() const { return path_; }

 private:
  void write(const void* p, std::size_t n);
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  std::uint64_t count_ = 0;
  bool finished_ = false;
};

// Reads records sequentially from an fd with its own offset (pread), so several readers can
// replay one file.
class CacheReader {
 public:
  // Opens a published cache file: nullptr when `path` is missing or has no intact header and
  // footer (an unpublished or cut file, to be rebuilt); kDataLoss for another format version.
  static std::unique_ptr<CacheReader> open_if_complete(const std::string& path);
  // Reads a file still owned by a writer (a spill): `fd` stays owned by the caller.
  CacheReader(int fd, std::uint64_t count, std::string name);
  ~CacheReader();

  // False at the end; throws stoker::Error(kDataLoss) naming the file and record on corruption,
  // and returns false after that.
  bool next(Element& out);
  std::uint64_t count() const { return count_; }

 private:
  void read_exact(void* p, std::size_t n);
  int fd_;
  bool owns_fd_ = false;
  std::uint64_t count_;
  std::uint64_t index_ = 0;
  bool failed_ = false;
  std::uint64_t offset_;
  std::uint64_t end_ = 0;  // where the footer starts (0: unknown)
  std::string name_;
  std::vector<char> buf_;
  std::size_t buf_pos_ = 0, buf_len_ = 0;
};

}  // namespace stoker::detail
