// Messages of the CUDA/cuBLAS/cuDNN status checks, and device detection.
#include "device/cuda_check.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace stoker {

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA

int cuda_device_count() noexcept {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear it so later checks do not report it
      return 0;
    }
    return n;
  }();
  return count;
}

namespace detail {
namespace {

// "…/stoker/device/feeder.cc" -> "device/feeder.cc": the last two components are enough.
const char* short_path(const char* file) {
  const char* last = std::strrchr(file, '/');
  if (!last) return file;
  const char* p = last;
  while (p > file && *(p - 1) != '/') --p;
  return p;
}

std::string format_status(const char* library, long code, const char* name, const char* description,
                          const char* call, const char* file, int line) {
  std::string msg = std::string(library) + " error " + name + " (" + std::to_string(code) + ": " + description +
                    ") in " + call + " at " + short_path(file) + ":" + std::to_string(line);
  return msg;
}

const char* hint_for(cudaError_t s) {
  switch (s) {
    case cudaErrorMemoryAllocation:
      return "; the device is out of memory: use a smaller batch (or --batch auto) or free other allocations";
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
      return "; no usable CUDA device: check the driver and CUDA_VISIBLE_DEVICES, or run on the CPU";
    default:
      return "";
  }
}

}  // namespace

void throw_status(const char* library, long code, const char* name, const char* description, const char* call,
                  const char* file, int line) {
  throw Error(ErrorCode::kCuda, format_status(library, code, name, description, call, file, line),
              {library, "", std::nullopt});
}

void log_status(const char* library, long code, const char* name, const char* description, const char* call,
                const char* file, int line) noexcept {
  std::fprintf(stderr, "stoker: %s error %s (%ld: %s) in %s at %s:%d (ignored: no-throw path)\n", library, name, code,
               description, call, short_path(file), line);
}

void throw_cuda(cudaError_t s, const char* call, const char* file, int line) {
  cudaGetLastError();  // a non-sticky error must not resurface in an unrelated later check
  std::string description = std::string(cudaGetErrorString(s)) + hint_for(s);
  throw_status("CUDA", static_cast<long>(s), cudaGetErrorName(s), description.c_str(), call, file, line);
}

bool log_cuda(cudaError_t s, const char* call, const char* file, int line) noexcept {
  cudaGetLastError();
  log_status("CUDA", static_cast<long>(s), cudaGetErrorName(s), cudaGetErrorString(s), call, file, line);
  return false;
}

namespace {
const char* cublas_name(cublasStatus_t s) {
  switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "CUBLAS_STATUS_UNKNOWN";
  }
}
}  // namespace

// Names are spelled here rather than taken from cublasGetStatusString so the check needs no
// cuBLAS library at link time; only its header.
void throw_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
  throw_status("cuBLAS", static_cast<long>(s), cublas_name(s), "cuBLAS call failed", call, file, line);
}

bool log_cublas(cublasStatus_t s, const char* call, const char* file, int line) noexcept {
  log_status("cuBLAS", static_cast<long>(s), cublas_name(s), "cuBLAS call failed", call, file, line);
  return false;
}

#if defined(STOKER_HAVE_CUDNN) && STOKER_HAVE_CUDNN
void throw_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
  const char* text = cudnnGetErrorString(s);
  throw_status("cuDNN", static_cast<long>(s), text, "cuDNN call failed", call, file, line);
}

bool log_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) noexcept {
  log_status("cuDNN", static_cast<long>(s), cudnnGetErrorString(s), "cuDNN call failed", call, file, line);
  return false;
}
#endif

}  // namespace detail

#else  // no CUDA at build time

int cuda_device_count() noexcept { return 0; }

#endif

}  // namespace stoker
