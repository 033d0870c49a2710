// Size arithmetic that refuses to wrap. Every product of counts that comes from a file header or
// a flag (rows x row bytes, batch x shape, dims of a dataset) goes through these, so a crafted
// header or `--batch 4611686018427387904` becomes an Error naming the numbers instead of a small
// allocation that is then overrun.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "pipeline/error.h"

namespace stoker {

// a * b, or nullopt when it does not fit in std::size_t.
inline std::optional<std::size_t> mul_size(std::size_t a, std::size_t b) {
  std::size_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// a * b, or an Error (kOutOfMemory: no machine holds that many bytes) naming `what` and both factors.
inline std::size_t checked_mul(std::size_t a, std::size_t b, const std::string& what, const ErrorContext& where = {}) {
  if (auto r = mul_size(a, b)) return *r;
  throw Error(ErrorCode::kOutOfMemory,
              what + ": " + std::to_string(a) + " x " + std::to_string(b) + " overflows 64 bits", where);
}

// The number of elements of a shape with these dims (each >= 0), or nullopt when the product
// does not fit in int64 (so that times any dtype size it still fits in size_t: dims from a file
// must pass this before anything is sized from them).
inline std::optional<std::int64_t> checked_num_elements(std::span<const std::int64_t> dims) {
  std::int64_t n = 1;
  for (std::int64_t d : dims) {
    if (d < 0 || __builtin_mul_overflow(n, d, &n) || n > (std::int64_t{1} << 60)) return std::nullopt;
  }
  return n;
}

}  // namespace stoker
