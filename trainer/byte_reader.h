// The trainer's binary files (weights, checkpoints) are read whole into memory, checksummed, then
// parsed with ByteReader: every read and every stored length is checked against the bytes left,
// so a corrupt length is a DataLoss error naming the file and what was being read, never a huge
// allocation or a read past the end.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "pipeline/error.h"

namespace stoker::detail {

class ByteReader {
 public:
  // `where`: the stage ("weights", "checkpoint") and file named in errors. `data` must outlive this.
  ByteReader(std::string_view data, ErrorContext where) : d_(data), where_(std::move(where)) {}

  void bytes(void* dst, std::size_t n, const char* what) {
    if (n > d_.size() - pos_) fail(std::string("truncated while reading ") + what);
    std::memcpy(dst, d_.data() + pos_, n);
    pos_ += n;
  }
  template <class T>
  T get(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  // A count of `unit`-byte items, stored as a Len, that must fit in the bytes left.
  template <class Len>
  std::uint64_t count(std::size_t unit, const char* what) {
    const std::uint64_t n = get<Len>(what);
    if (n > (d_.size() - pos_) / unit) fail(std::string("implausible length of ") + what + " (" + std::to_string(n) + ")");
    return n;
  }
  // A string stored as its length (a Len) and its bytes.
  template <class Len>
  std::string str(const char* what) {
    std::string s(count<Len>(1, what), '\0');
    bytes(s.data(), s.size(), what);
    return s;
  }
  bool at_end() const { return pos_ == d_.size(); }
  [[noreturn]] void fail(const std::string& message) const { throw Error(ErrorCode::kDataLoss, message, where_); }

 private:
  std::string_view d_;
  std::size_t pos_ = 0;
  ErrorContext where_;
};

// zlib's CRC-32 of n bytes (any n: zlib takes a uInt length at a time).
std::uint32_t crc32_of(const void* p, std::size_t n);

}  // namespace stoker::detail
