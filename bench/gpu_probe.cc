// gpu_probe: is there a CUDA device stoker can use? The first device call of bench/gpu_check.sh.
//
//   gpu_probe            prints "device 0: <name>, compute capability <M.m>, <free>/<total> MiB free"
//                        per device and exits 0; prints "no CUDA device: <why>" and exits 3 when
//                        there is none (or stoker was built without CUDA).
#include <cstdio>

#include "device/cuda_check.h"

namespace {
constexpr int kExitNoDevice = 3;
}

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
#include <cuda_runtime_api.h>

int main() {
  int n = 0;
  const cudaError_t s = cudaGetDeviceCount(&n);
  if (s != cudaSuccess || n == 0) {
    std::printf("no CUDA device: %s\n", s != cudaSuccess ? cudaGetErrorString(s) : "the runtime reports 0 devices");
    return kExitNoDevice;
  }
  for (int d = 0; d < n; ++d) {
    cudaDeviceProp p{};
    std::size_t free = 0, total = 0;
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess || cudaSetDevice(d) != cudaSuccess ||
        cudaMemGetInfo(&free, &total) != cudaSuccess) {
      std::printf("no CUDA device: device %d is listed but cannot be used (%s)\n", d,
                  cudaGetErrorString(cudaGetLastError()));
      return kExitNoDevice;
    }
    std::printf("device %d: %s, compute capability %d.%d, %zu/%zu MiB free\n", d, p.name, p.major, p.minor, free >> 20,
                total >> 20);
  }
  return 0;
}
#else
int main() {
  std::printf("no CUDA device: stoker was built without CUDA (configure with -DSTOKER_CUDA=ON)\n");
  return kExitNoDevice;
}
#endif
