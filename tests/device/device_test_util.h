// Data shared by the device tests: elements of (int64 index, float32[3,5] filled from the index)
// and the ring slot size a batch of them needs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "device/pinned_ring.h"
#include "pipeline/dataset.h"

namespace stoker::testing {

inline Dataset pairs(std::int64_t n) {
  return Dataset::range(n).map([](Element e) {
    std::int64_t i = e[0].item<std::int64_t>();
    Tensor f(DType::kF32, Shape{3, 5});
    for (int k = 0; k < 15; ++k) f.mutable_data_as<float>()[k] = static_cast<float>(i * 100 + k);
    return Element{Tensor::scalar<std::int64_t>(i), f};
  });
}

inline std::size_t pair_slot_bytes(std::int64_t batch) {
  return PinnedRing::slot_bytes_for(Element{Tensor::scalar<std::int64_t>(0), Tensor(DType::kF32, Shape{3, 5})}, batch);
}

}  // namespace stoker::testing
