// Helpers shared by the pipeline tests: integer datasets with injectable failures, and
// collection of outputs as plain vectors so expectations read as tables.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "pipeline/dataset.h"
#include "pipeline/error.h"

namespace stoker::testing {

using Values = std::vector<std::int64_t>;

// int64 scalars 0..n-1 from a generator; reading element `fail_at` throws Error(kDataLoss).
inline Dataset ints(std::int64_t n, std::int64_t fail_at = -1) {
  return Dataset::from_generator([n, fail_at] {
    return [i = std::int64_t{0}, n, fail_at]() mutable -> std::optional<Element> {
      if (i >= n) return std::nullopt;
      if (i == fail_at) {
        ++i;
        throw Error(ErrorCode::kDataLoss, "injected failure", {"", "ints", fail_at});
      }
      return Element{Tensor::scalar<std::int64_t>(i++)};
    };
  });
}

// Component 0 of an element as int64 values (any integer dtype, any shape).
inline Values flatten(const Element& e) {
  Values v;
  if (e.empty()) {
    ADD_FAILURE() << "element without components";
    return v;
  }
  const Tensor& t = e[0];
  std::int64_t n = t.shape().num_elements();
  for (std::int64_t i = 0; i < n; ++i) {
    switch (t.dtype()) {
      case DType::kI64: v.push_back(t.data_as<std::int64_t>()[i]); break;
      case DType::kI32: v.push_back(t.data_as<std::int32_t>()[i]); break;
      case DType::kU8: v.push_back(t.data_as<std::uint8_t>()[i]); break;
      default: ADD_FAILURE() << "unexpected dtype " << dtype_name(t.dtype());
    }
  }
  return v;
}

struct Run {
  std::vector<Values> out;            // elements delivered, in order
  std::optional<Error> error;         // first error raised, if any
  std::size_t delivered_before_error = 0;
};

// Iterates to the end (or to `limit` elements); records the first error and continues after it.
inline Run collect(Iterator& it, std::size_t limit = SIZE_MAX, bool continue_after_error = true) {
  Run r;
  for (;;) {
    if (r.out.size() >= limit) break;
    try {
      auto e = it.next();
      if (!e) break;
      r.out.push_back(flatten(*e));
    } catch (const Error& e) {
      if (!r.error) {
        r.error = e;
        r.delivered_before_error = r.out.size();
      }
      if (!continue_after_error) break;
    }
  }
  return r;
}

inline Run collect(const Dataset& ds, Options options = {}) {
  Iterator it = ds.iterator(options);
  return collect(it);
}

inline Values concat(const std::vector<Values>& vs) {
  Values all;
  for (const Values& v : vs) all.insert(all.end(), v.begin(), v.end());
  return all;
}

}  // namespace stoker::testing
