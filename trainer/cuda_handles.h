// What the CUDA backend owns on the device, as move-only RAII: DevBuf (one cudaMalloc'd block)
// and CudaHandles (its stream, cuBLAS and cuDNN handles, relu descriptor and each layer's cuDNN
// descriptors). Internal to trainer/ (only cuda_backend.cc uses them); host code, built only
// with STOKER_HAVE_CUDA. Destructors never throw: release statuses are ignored on purpose.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <utility>
#include <vector>

#include "device/cuda_check.h"
#include "trainer/cuda_layers.h"

namespace stoker::detail {

// Move-only device allocation; freed without throwing.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  DevBuf(DevBuf&& o) noexcept : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DevBuf& operator=(DevBuf&& o) noexcept {
    if (this != &o) {
      release();
      p_ = std::exchange(o.p_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~DevBuf() { release(); }
  void alloc(std::size_t bytes) {
    release();
    if (bytes == 0) return;
    STOKER_CUDA_CHECK(cudaMalloc(&p_, bytes));
    bytes_ = bytes;
  }
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    bytes_ = 0;
  }
  template <class T = void>
  T* get() const { return static_cast<T*>(p_); }
  std::size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

// Every library handle and descriptor the backend creates. A separate member (constructed
// first, destroyed last) so a constructor that throws half-way still releases what it made.
struct CudaHandles {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
  cudnnActivationDescriptor_t relu = nullptr;
  std::vector<cuda_layers::LayerDev> dev;
  CudaHandles() = default;
  CudaHandles(const CudaHandles&) = delete;
  CudaHandles& operator=(const CudaHandles&) = delete;
  ~CudaHandles() {  // no-throw: statuses ignored on purpose
    if (stream) cudaStreamSynchronize(stream);
    for (auto& d : dev) {
      if (d.x) cudnnDestroyTensorDescriptor(d.x);
      if (d.y) cudnnDestroyTensorDescriptor(d.y);
      if (d.f) cudnnDestroyFilterDescriptor(d.f);
      if (d.conv) cudnnDestroyConvolutionDescriptor(d.conv);
      if (d.pool) cudnnDestroyPoolingDescriptor(d.pool);
    }
    if (relu) cudnnDestroyActivationDescriptor(relu);
    if (dnn) cudnnDestroy(dnn);
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
  }
};

}  // namespace stoker::detail
