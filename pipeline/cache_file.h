// The cache file format: a stream of serialised elements written once, read many times.
//
//   header  "STKCACHE" u32 version, u32 n, n bytes of fingerprint (node.h: what produced it)
//   record  u32 components, then per component: u8 dtype, u8 rank, i64 dims[rank], u64 nbytes,
//           bytes; then u32 CRC-32 (zlib) of the record's bytes before it
//   footer  "STKCEND!" u64 record_count
//
// A file is trusted only if its header and footer are intact, its fingerprint equals the one
// asked for, and each record's CRC matches as it is read. CacheWriter writes a hidden temporary
// beside the path (AtomicFile) and publishes it by rename only in finish(), so an interrupted
// pass never leaves a file that a later run would trust. Write errors are sticky: after one, no
// later finish() publishes. All integers little-endian (host order on the platforms we build for).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/atomic_file.h"
#include "pipeline/element.h"

namespace stoker::detail {

class CacheWriter {
 public:
  // Writes to a temporary name beside `path`; finish() publishes it. With an empty `path` it
  // writes an anonymous temporary file (for spilling) that disappears when closed.
  explicit CacheWriter(std::string path, const std::string& fingerprint = "");
  ~CacheWriter();  // removes the temporary file unless finish() succeeded
  CacheWriter(const CacheWriter&) = delete;
  CacheWriter& operator=(const CacheWriter&) = delete;

  void append(const Element& e);
  // Writes the footer, flushes, and (for a named cache) fsyncs and renames to the final path.
  // Throws (publishing nothing) if any earlier write failed.
  void finish();
  std::uint64_t count() const { return count_; }
  // An fd open on the written data, valid until the writer is destroyed (for reading spills).
  int fd() const;
  // Offset of the first record.
  std::uint64_t data_offset() const { return data_offset_; }
  const std::string& path() const { return path_; }

 private:
  void write(const void* p, std::size_t n);
  std::string path_;
  std::unique_ptr<AtomicFile> out_;  // named cache: the temporary file and its publication
  std::FILE* file_ = nullptr;
  std::uint64_t count_ = 0, data_offset_ = 0;
  std::uint32_t crc_ = 0;  // of the record being written
  bool failed_ = false, finished_ = false;
};

// Reads records sequentially from an fd with its own offset (pread), so several readers can
// replay one file.
class CacheReader {
 public:
  // Opens a published cache file made from `fingerprint`: nullptr when `path` is missing, cut
  // short (no footer), of another format version, or made from other input (to be rebuilt).
  // Throws kInvalidArgument, naming the path, for a file that is not a stoker cache at all: it is
  // not ours to replace.
  static std::unique_ptr<CacheReader> open_if_complete(const std::string& path, const std::string& fingerprint);
  // Reads a file still owned by a writer (a spill): `fd` stays owned by the caller.
  CacheReader(int fd, std::uint64_t count, std::uint64_t data_offset, std::string name);
  ~CacheReader();

  // False at the end; throws stoker::Error(kDataLoss) naming the file and record on corruption
  // (including a CRC mismatch), and returns false after that.
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
  std::uint32_t crc_ = 0;  // of the record being read
  std::string name_;
  std::vector<char> buf_;
  std::size_t buf_pos_ = 0, buf_len_ = 0;
};

}  // namespace stoker::detail
