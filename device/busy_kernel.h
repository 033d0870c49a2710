// Test and benchmark support: kernels that stand in for a training step.
//
// launch_busy_wait keeps one thread of the GPU spinning for `ns` nanoseconds of the GPU's global
// timer on `stream`: a compute step of known length, to measure copy/compute overlap and input
// stall. launch_checksum sums bytes on the device so a test can check what a kernel saw.
// Only built with CUDA; callers check STOKER_HAVE_CUDA.
#pragma once

#include <cstddef>
#include <cstdint>

#include "device/cuda_resources.h"

namespace stoker::test_support {

void launch_busy_wait(StreamHandle stream, std::uint64_t ns);
// *out (device memory, one uint64) = sum of the `n` bytes at `data` (device memory).
void launch_byte_sum(StreamHandle stream, const void* data, std::size_t n, std::uint64_t* out);

}  // namespace stoker::test_support
