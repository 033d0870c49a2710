// Test helpers for the HDF5 tests: a temporary directory removed at the end, and small arrays.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

#include "pipeline/dataset.h"

namespace stoker::testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "_" + info->name() : "hdf5";
    path_ = std::filesystem::temp_directory_path() /
            ("stoker_" + name + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Tensor [n, row...] of dtype T whose value at flat index i is f(i) converted to T.
template <class T, class F>
Tensor make_rows(std::int64_t n, Shape row, F f) {
  Tensor t(dtype_of<T>(), row.prepend(n));
  T* p = t.mutable_data_as<T>();
  for (std::int64_t i = 0; i < t.shape().num_elements(); ++i) p[i] = static_cast<T>(f(i));
  return t;
}

// Every element of a dataset, in order.
inline std::vector<Element> collect(const Dataset& ds, Options options = {}) {
  std::vector<Element> out;
  Iterator it = ds.iterator(std::move(options));
  while (auto e = it.next()) out.push_back(std::move(*e));
  return out;
}

// Row i of a [n, ...] tensor as its own tensor.
inline Tensor row_of(const Tensor& t, std::int64_t i) {
  Shape row = t.shape().drop_front();
  Tensor r(t.dtype(), row);
  std::memcpy(r.mutable_data(), t.data() + static_cast<std::size_t>(i) * r.nbytes(), r.nbytes());
  return r;
}

}  // namespace stoker::testing
