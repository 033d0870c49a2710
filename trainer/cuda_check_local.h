// Trainer-local CUDA / cuBLAS / cuDNN status checks, until device/cuda_check.h (the project's
// one check helper, written in parallel) lands: then replace STOKER_TRAINER_* with its macros.
// Each throws stoker::Error(kCuda) with the call's text, the status name and file:line. Host
// code only (cuda_backend.cc); never used in destructors (those ignore status on purpose).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "pipeline/error.h"

namespace stoker::detail {

[[noreturn]] inline void trainer_cuda_fail(const char* call, const std::string& status, const char* file, int line) {
  throw Error(ErrorCode::kCuda, std::string(call) + " failed: " + status + " at " + file + ":" + std::to_string(line),
              {"trainer/cuda"});
}

}  // namespace stoker::detail

#define STOKER_TRAINER_CUDA_CHECK(expr)                                                                     \
  do {                                                                                                     \
    cudaError_t stoker_st_ = (expr);                                                                       \
    if (stoker_st_ != cudaSuccess)                                                                         \
      ::stoker::detail::trainer_cuda_fail(#expr, cudaGetErrorString(stoker_st_), __FILE__, __LINE__);      \
  } while (0)

#define STOKER_TRAINER_CUBLAS_CHECK(expr)                                                                  \
  do {                                                                                                     \
    cublasStatus_t stoker_st_ = (expr);                                                                    \
    if (stoker_st_ != CUBLAS_STATUS_SUCCESS)                                                               \
      ::stoker::detail::trainer_cuda_fail(#expr, cublasGetStatusString(stoker_st_), __FILE__, __LINE__);   \
  } while (0)

#define STOKER_TRAINER_CUDNN_CHECK(expr)                                                                   \
  do {                                                                                                     \
    cudnnStatus_t stoker_st_ = (expr);                                                                     \
    if (stoker_st_ != CUDNN_STATUS_SUCCESS)                                                                \
      ::stoker::detail::trainer_cuda_fail(#expr, cudnnGetErrorString(stoker_st_), __FILE__, __LINE__);     \
  } while (0)
