// One status check for CUDA runtime, cuBLAS and cuDNN calls, and run-time device detection.
//
//   STOKER_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream));
//   STOKER_CUDA_CHECK(cublasSgemm(handle, ...));      // same macro: overloaded on the status type
//   STOKER_CUDA_CHECK_NOTHROW(cudaFree(p));            // destructors: logs to stderr, returns bool
//
// A failed call throws stoker::Error(ErrorCode::kCuda) whose message names the library's error
// code, its description, the call text and file:line. The macros exist only when stoker_device is
// built with CUDA (STOKER_HAVE_CUDA=1, a PUBLIC definition of the target); cuda_device_available()
// exists always and is false without CUDA at build time, so callers can branch at run time.
#pragma once

#include "pipeline/error.h"

namespace stoker {

// Number of CUDA devices the runtime reports; 0 when the driver is missing, no device is visible,
// or stoker was built without CUDA. Never throws. Computed once per process.
int cuda_device_count() noexcept;
inline bool cuda_device_available() noexcept { return cuda_device_count() > 0; }

}  // namespace stoker

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
#include <cublas_api.h>
#include <cuda_runtime_api.h>
#if defined(STOKER_HAVE_CUDNN) && STOKER_HAVE_CUDNN
#include <cudnn.h>
#endif

namespace stoker::detail {

// Builds the message and throws; out of line so the checks inline to one compare.
[[noreturn]] void throw_status(const char* library, long code, const char* name, const char* description,
                               const char* call, const char* file, int line);
void log_status(const char* library, long code, const char* name, const char* description, const char* call,
                const char* file, int line) noexcept;

[[noreturn]] void throw_cuda(cudaError_t s, const char* call, const char* file, int line);
bool log_cuda(cudaError_t s, const char* call, const char* file, int line) noexcept;
[[noreturn]] void throw_cublas(cublasStatus_t s, const char* call, const char* file, int line);
bool log_cublas(cublasStatus_t s, const char* call, const char* file, int line) noexcept;

inline void check_status(cudaError_t s, const char* call, const char* file, int line) {
  if (s != cudaSuccess) [[unlikely]] throw_cuda(s, call, file, line);
}
inline bool check_status_nothrow(cudaError_t s, const char* call, const char* file, int line) noexcept {
  return s == cudaSuccess || log_cuda(s, call, file, line);
}
inline void check_status(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]] throw_cublas(s, call, file, line);
}
inline bool check_status_nothrow(cublasStatus_t s, const char* call, const char* file, int line) noexcept {
  return s == CUBLAS_STATUS_SUCCESS || log_cublas(s, call, file, line);
}

#if defined(STOKER_HAVE_CUDNN) && STOKER_HAVE_CUDNN
[[noreturn]] void throw_cudnn(cudnnStatus_t s, const char* call, const char* file, int line);
bool log_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) noexcept;
inline void check_status(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) [[unlikely]] throw_cudnn(s, call, file, line);
}
inline bool check_status_nothrow(cudnnStatus_t s, const char* call, const char* file, int line) noexcept {
  return s == CUDNN_STATUS_SUCCESS || log_cudnn(s, call, file, line);
}
#endif

}  // namespace stoker::detail

// Throws stoker::Error(kCuda) when `call` (a cudaError_t, cublasStatus_t or cudnnStatus_t
// expression) fails.
#define STOKER_CUDA_CHECK(call) ::stoker::detail::check_status((call), #call, __FILE__, __LINE__)
// For destructors and other no-throw paths: logs a failure to stderr; true when `call` succeeded.
#define STOKER_CUDA_CHECK_NOTHROW(call) ::stoker::detail::check_status_nothrow((call), #call, __FILE__, __LINE__)

#endif  // STOKER_HAVE_CUDA
