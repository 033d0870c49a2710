// The CUDA backend's layers: cuDNN descriptors and algorithm choice per layer, one forward and
// one backward function per layer kind (queued on the backend's stream), and the transposition
// of parameters between Keras' layout and the device's. Internal to trainer/ (only
// cuda_backend.cc calls them); host code, built only with STOKER_HAVE_CUDA.
//
// Shapes: x [n, in] and y [n, out] are NHWC activations in the compute type; dy, the gradient of
// y, is modified in place by a fused relu; dx receives the gradient of x (nullptr: not needed).
// A layer's descriptors are set for n samples by set_batch() before its functions run. Weight
// gradients add to the fp32 gradients. Nothing here allocates device memory: buffers and the
// cuDNN workspace are the backend's.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "trainer/backend.h"
#include "trainer/model_spec.h"

namespace stoker::cuda_layers {

// Per-layer cuDNN descriptors and the convolution algorithms chosen for the current micro-batch.
// Owned by the backend's handles (destroyed there, without throwing).
struct LayerDev {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t f = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnPoolingDescriptor_t pool = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
};

// Creates layer `ls`'s descriptors into `d` (each stored as soon as it exists, so the owner
// releases what was made if a later call throws). dt: the compute type; ct its code (0 fp32).
void create_descriptors(const LayerSpec& ls, const LayerShape& sh, cudnnDataType_t dt, int ct, LayerDev& d);
// Sets `d`'s tensor descriptors for micro-batches of n samples and, for a conv, picks the
// fastest algorithms whose workspace fits in ws_limit bytes. Throws kUnsupported when cuDNN has
// no algorithm, kOutOfMemory when none fits (naming the workspace).
void set_batch(cudnnHandle_t dnn, const LayerShape& sh, cudnnDataType_t dt, Precision precision, int n,
               std::size_t ws_limit, LayerDev& d);

// What every layer function queues its work with (not owned): the backend's handles, stream and
// cuDNN workspace, and the compute type.
struct Ctx {
  cudnnHandle_t dnn = nullptr;
  cublasHandle_t blas = nullptr;
  cudaStream_t stream = nullptr;
  cudnnActivationDescriptor_t relu = nullptr;
  int ct = 0;                     // compute-type code: 0 fp32, 1 fp16, 2 bf16
  cudaDataType_t blas_t{};        // the same type for cuBLAS
  void* ws = nullptr;             // cuDNN workspace
  std::size_t ws_bytes = 0;
  std::uint64_t seed = 0;         // dropout masks
};

// One layer as its functions see it (not owned); w..cdw are null for layers without parameters.
struct Layer {
  const LayerSpec& spec;
  const LayerShape& shape;
  const LayerDev& dev;
  int index = 0;                // the layer's position in the model: keys dropout masks
  const void* w = nullptr;      // kernel in the compute type: conv KRSC [F, KH*KW*C], dense [in, out]
  const void* b = nullptr;      // bias in the compute type
  float* dw = nullptr;          // fp32 gradients of the kernel and the bias
  float* db = nullptr;
  void* cdw = nullptr;          // mixed precision: the kernel's gradient in the compute type, then added to dw
  std::int64_t w_size = 0;      // kernel elements
};

// y = conv(x, W) + b (then relu).
void conv_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n);
// dz = dy masked by the fused relu; db += sum dz; dW += cuDNN backward filter; dx = backward data.
void conv_backward(const Ctx& c, const Layer& L, const void* x, const void* y, void* dy, void* dx, std::int64_t n);
void pool_forward(const Ctx& c, const Layer& L, const void* x, void* y);
void pool_backward(const Ctx& c, const Layer& L, const void* x, const void* y, const void* dy, void* dx);
// y = x W + b (then relu).
void dense_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n);
void dense_backward(const Ctx& c, const Layer& L, const void* x, const void* y, void* dy, void* dx, std::int64_t n);
// y = x * mask / keep, the mask drawn from (seed, layer, step, sample first + i, feature j);
// its backward is the same map applied to dy.
void dropout_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n, std::int64_t first,
                     std::uint64_t step);
void relu_forward(const Ctx& c, const Layer& L, const void* x, void* y);
void relu_backward(const Ctx& c, const Layer& L, const void* x, const void* y, const void* dy, void* dx);

// Keras-layout tensors `p` (one per ParamInfo) as one flat host vector of `total` floats in the
// device layout (tensor i at offset[i]; conv kernels HWIO [K, F] -> KRSC [F, K]). Throws
// kInvalidArgument, prefixed by `what`, when the count or a size does not match.
std::vector<float> to_device_layout(const std::vector<std::vector<float>>& p, const std::vector<ParamInfo>& info,
                                    const std::vector<std::int64_t>& offset, std::int64_t total, const char* what);
// The inverse: Keras-layout tensors from the flat device layout, each value times `scale`.
std::vector<std::vector<float>> from_device_layout(const std::vector<float>& flat, const std::vector<ParamInfo>& info,
                                                   const std::vector<std::int64_t>& offset, float scale);

}  // namespace stoker::cuda_layers
