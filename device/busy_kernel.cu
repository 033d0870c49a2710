// Busy-wait and byte-sum kernels (see busy_kernel.h).
#include "device/busy_kernel.h"

#include "device/cuda_check.h"

namespace stoker::test_support {
namespace {

__device__ std::uint64_t global_timer_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void busy_wait_kernel(std::uint64_t ns) {
  std::uint64_t start = global_timer_ns();
  while (global_timer_ns() - start < ns) {
  }
}

__global__ void byte_sum_kernel(const unsigned char* data, std::size_t n, unsigned long long* out) {
  unsigned long long sum = 0;
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    sum += data[i];
  }
  atomicAdd(out, sum);
}

}  // namespace

void launch_busy_wait(StreamHandle stream, std::uint64_t ns) {
  busy_wait_kernel<<<1, 1, 0, stream>>>(ns);
  STOKER_CUDA_CHECK(cudaGetLastError());
}

void launch_byte_sum(StreamHandle stream, const void* data, std::size_t n, std::uint64_t* out) {
  static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t));
  STOKER_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(std::uint64_t), stream));
  byte_sum_kernel<<<256, 256, 0, stream>>>(static_cast<const unsigned char*>(data), n,
                                           reinterpret_cast<unsigned long long*>(out));
  STOKER_CUDA_CHECK(cudaGetLastError());
}

}  // namespace stoker::test_support
