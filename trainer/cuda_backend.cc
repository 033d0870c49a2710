// CUDA backend (placeholder while the CPU backend is brought up).
#include <cuda_runtime.h>

#include "pipeline/error.h"
#include "trainer/backend.h"

namespace stoker {

bool cuda_device_available() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}
std::pair<std::size_t, std::size_t> cuda_memory_info() {
  std::size_t f = 0, t = 0;
  if (!cuda_device_available() || cudaMemGetInfo(&f, &t) != cudaSuccess) return {0, 0};
  return {f, t};
}
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec&, const Hwc&, const BackendConfig&) {
  throw Error(ErrorCode::kUnsupported, "cuda backend not built yet");
}

}  // namespace stoker
