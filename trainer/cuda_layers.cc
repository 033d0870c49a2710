// The CUDA backend's layers (see cuda_layers.h): cuDNN (legacy v7-style API, still shipped in
// cuDNN 9, hence -Wno-deprecated-declarations for this file) for convolution, pooling and
// standalone relu; cuBLAS (GemmEx, fp32 accumulate) for dense layers; our kernels
// (cuda_kernels.h) for bias + fused relu, dropout and gradient accumulation.
#include "trainer/cuda_layers.h"

#include <algorithm>
#include <string>

#include "device/cuda_check.h"
#include "pipeline/error.h"
#include "trainer/cuda_kernels.h"

namespace stoker::cuda_layers {
namespace {

namespace ck = cuda_kernels;

constexpr float kOne = 1.f, kZero = 0.f;

template <class Perf>
decltype(Perf::algo) pick(const Perf* perf, int n, std::size_t limit, const char* what, Precision precision) {
  bool supported = false;
  for (int i = 0; i < n; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS) continue;
    supported = true;
    if (perf[i].memory <= limit) return perf[i].algo;
  }
  if (!supported) {
    throw Error(ErrorCode::kUnsupported,
                std::string("cuda backend: cuDNN has no convolution ") + what + " algorithm for this layer (" +
                    precision_name(precision) + ", NHWC)",
                {"trainer/cuda"});
  }
  throw Error(ErrorCode::kOutOfMemory,
              std::string("cuda backend: every cuDNN convolution ") + what + " algorithm needs more than the " +
                  std::to_string(limit >> 20) + " MiB workspace; use a smaller micro-batch",
              {"trainer/cuda"});
}

// C[M x N] = op(A) op(B) in cuBLAS column-major terms, data in the compute type, fp32 accumulate.
void gemm(const Ctx& c, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* a, int lda,
          const void* b, int ldb, float beta, void* out, int ldc, cudaDataType_t ctype) {
  const float one = 1.f;
  STOKER_CUDA_CHECK(cublasGemmEx(c.blas, ta, tb, m, n, k, &one, a, c.blas_t, lda, b, c.blas_t, ldb, &beta, out, ctype, ldc,
                  CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

}  // namespace

void create_descriptors(const LayerSpec& ls, const LayerShape& sh, cudnnDataType_t dt, int ct, LayerDev& d) {
  STOKER_CUDA_CHECK(cudnnCreateTensorDescriptor(&d.x));
  STOKER_CUDA_CHECK(cudnnCreateTensorDescriptor(&d.y));
  if (ls.kind == LayerKind::kConv2D) {
    STOKER_CUDA_CHECK(cudnnCreateFilterDescriptor(&d.f));
    STOKER_CUDA_CHECK(cudnnSetFilter4dDescriptor(d.f, dt, CUDNN_TENSOR_NHWC, ls.units, static_cast<int>(sh.in[2]), ls.kernel, ls.kernel));
    STOKER_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&d.conv));
    STOKER_CUDA_CHECK(cudnnSetConvolution2dDescriptor(d.conv, static_cast<int>(sh.pad_top), static_cast<int>(sh.pad_left), ls.stride,
                                       ls.stride, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    // fp32: true fp32 FMA (no TF32) so results compare with the CPU; mixed: tensor cores.
    STOKER_CUDA_CHECK(cudnnSetConvolutionMathType(d.conv, ct ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH));
  } else if (ls.kind == LayerKind::kMaxPool) {
    STOKER_CUDA_CHECK(cudnnCreatePoolingDescriptor(&d.pool));
    STOKER_CUDA_CHECK(cudnnSetPooling2dDescriptor(d.pool, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, ls.kernel, ls.kernel, 0, 0,
                                   ls.stride, ls.stride));
  }
}

void set_batch(cudnnHandle_t dnn, const LayerShape& sh, cudnnDataType_t dt, Precision precision, int ni,
               std::size_t limit, LayerDev& d) {
  STOKER_CUDA_CHECK(cudnnSetTensor4dDescriptor(d.x, CUDNN_TENSOR_NHWC, dt, ni, static_cast<int>(sh.in[2]), static_cast<int>(sh.in[0]),
                                static_cast<int>(sh.in[1])));
  STOKER_CUDA_CHECK(cudnnSetTensor4dDescriptor(d.y, CUDNN_TENSOR_NHWC, dt, ni, static_cast<int>(sh.out[2]),
                                static_cast<int>(sh.out[0]), static_cast<int>(sh.out[1])));
  if (!d.conv) return;
  int on, oc, oh, ow;
  STOKER_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(d.conv, d.x, d.f, &on, &oc, &oh, &ow));
  if (oh != sh.out[0] || ow != sh.out[1] || oc != sh.out[2]) {
    throw Error(ErrorCode::kInternal, "cuda backend: cuDNN conv output shape differs from the model's", {"trainer/cuda"});
  }
  cudnnConvolutionFwdAlgoPerf_t fp[8];
  cudnnConvolutionBwdDataAlgoPerf_t dp[8];
  cudnnConvolutionBwdFilterAlgoPerf_t wp[8];
  int got = 0;
  STOKER_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(dnn, d.x, d.f, d.conv, d.y, 8, &got, fp));
  d.fwd = pick(fp, got, limit, "forward", precision);
  STOKER_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(dnn, d.f, d.y, d.conv, d.x, 8, &got, dp));
  d.bwd_data = pick(dp, got, limit, "backward data", precision);
  STOKER_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(dnn, d.x, d.y, d.conv, d.f, 8, &got, wp));
  d.bwd_filter = pick(wp, got, limit, "backward filter", precision);
}

// W KRSC [F, KH*KW*C] on the device.
void conv_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const LayerDev& d = L.dev;
  STOKER_CUDA_CHECK(cudnnConvolutionForward(c.dnn, &kOne, d.x, x, d.f, L.w, d.conv, d.fwd, c.ws, c.ws_bytes,
                                            &kZero, d.y, y));
  ck::bias_act(y, c.ct, L.b, c.ct, n * sh.out[0] * sh.out[1], ls.units, ls.activation == Activation::kReLU, c.stream);
}

void conv_backward(const Ctx& c, const Layer& L, const void* x, const void* y, void* dy, void* dx, std::int64_t n) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const LayerDev& d = L.dev;
  const std::int64_t rows = n * sh.out[0] * sh.out[1];
  if (ls.activation == Activation::kReLU) ck::relu_backward(y, dy, c.ct, rows * ls.units, c.stream);
  ck::bias_grad(dy, c.ct, L.db, rows, ls.units, c.stream);
  // fp32: cuDNN adds into the gradients (beta 1); mixed: writes the compute-type copy, added after.
  const float beta = c.ct ? 0.f : 1.f;
  void* dw = c.ct ? L.cdw : static_cast<void*>(L.dw);
  STOKER_CUDA_CHECK(cudnnConvolutionBackwardFilter(c.dnn, &kOne, d.x, x, d.y, dy, d.conv, d.bwd_filter, c.ws,
                                                   c.ws_bytes, &beta, d.f, dw));
  if (c.ct) ck::accumulate(dw, c.ct, L.dw, L.w_size, c.stream);
  if (dx) {
    STOKER_CUDA_CHECK(cudnnConvolutionBackwardData(c.dnn, &kOne, d.f, L.w, d.y, dy, d.conv, d.bwd_data, c.ws,
                                                   c.ws_bytes, &kZero, d.x, dx));
  }
}

void pool_forward(const Ctx& c, const Layer& L, const void* x, void* y) {
  const LayerDev& d = L.dev;
  STOKER_CUDA_CHECK(cudnnPoolingForward(c.dnn, d.pool, &kOne, d.x, x, &kZero, d.y, y));
}

void pool_backward(const Ctx& c, const Layer& L, const void* x, const void* y, const void* dy, void* dx) {
  const LayerDev& d = L.dev;
  STOKER_CUDA_CHECK(cudnnPoolingBackward(c.dnn, d.pool, &kOne, d.y, y, d.y, dy, d.x, x, &kZero, d.x, dx));
}

// Column-major Y (out x n) = W (out x in) * X (in x n).
void dense_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n) {
  const LayerSpec& ls = L.spec;
  const int isz = static_cast<int>(numel(L.shape.in)), osz = static_cast<int>(numel(L.shape.out));
  gemm(c, CUBLAS_OP_N, CUBLAS_OP_N, osz, static_cast<int>(n), isz, L.w, osz, x, isz, 0.f, y, osz, c.blas_t);
  ck::bias_act(y, c.ct, L.b, c.ct, n, osz, ls.activation == Activation::kReLU, c.stream);
}

void dense_backward(const Ctx& c, const Layer& L, const void* x, const void* y, void* dy, void* dx, std::int64_t n) {
  const LayerSpec& ls = L.spec;
  const int isz = static_cast<int>(numel(L.shape.in)), osz = static_cast<int>(numel(L.shape.out));
  const int ni = static_cast<int>(n);
  if (ls.activation == Activation::kReLU) ck::relu_backward(y, dy, c.ct, n * osz, c.stream);
  ck::bias_grad(dy, c.ct, L.db, n, osz, c.stream);
  // dW (row-major [in, out]) = X^T dZ: column-major (out x in) = dZ(out x n) * X(in x n)^T.
  void* dw = c.ct ? L.cdw : static_cast<void*>(L.dw);
  gemm(c, CUBLAS_OP_N, CUBLAS_OP_T, osz, isz, ni, dy, osz, x, isz, c.ct ? 0.f : 1.f, dw, osz, c.ct ? c.blas_t : CUDA_R_32F);
  if (c.ct) ck::accumulate(dw, c.ct, L.dw, L.w_size, c.stream);
  // dX (row-major [n, in]) = dZ W^T: column-major (in x n) = W(out x in)^T * dZ(out x n).
  if (dx) gemm(c, CUBLAS_OP_T, CUBLAS_OP_N, isz, ni, osz, L.w, osz, dy, osz, 0.f, dx, isz, c.blas_t);
}

void dropout_forward(const Ctx& c, const Layer& L, const void* x, void* y, std::int64_t n, std::int64_t first,
                     std::uint64_t step) {
  const std::int64_t osz = numel(L.shape.out);
  ck::dropout(x, y, c.ct, n * osz, osz, c.seed, L.index, step, first, L.spec.rate, c.stream);
}

void relu_forward(const Ctx& c, const Layer& L, const void* x, void* y) {
  const LayerDev& d = L.dev;
  STOKER_CUDA_CHECK(cudnnActivationForward(c.dnn, c.relu, &kOne, d.x, x, &kZero, d.y, y));
}

void relu_backward(const Ctx& c, const Layer& L, const void* x, const void* y, const void* dy, void* dx) {
  const LayerDev& d = L.dev;
  STOKER_CUDA_CHECK(cudnnActivationBackward(c.dnn, c.relu, &kOne, d.y, y, d.y, dy, d.x, x, &kZero, d.x, dx));
}

std::vector<float> to_device_layout(const std::vector<std::vector<float>>& p, const std::vector<ParamInfo>& info,
                                    const std::vector<std::int64_t>& offset, std::int64_t total, const char* what) {
  if (p.size() != info.size()) throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": wrong number of tensors");
  std::vector<float> flat(static_cast<std::size_t>(total));
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (static_cast<std::int64_t>(p[i].size()) != info[i].size) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + info[i].name + " has the wrong size");
    }
    float* dst = flat.data() + offset[i];
    if (info[i].shape.size() == 4) {  // HWIO [K, F] -> KRSC [F, K]
      const std::int64_t F = info[i].shape[3], K = info[i].size / F;
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t f = 0; f < F; ++f) dst[f * K + k] = p[i][static_cast<std::size_t>(k * F + f)];
    } else {
      std::copy(p[i].begin(), p[i].end(), dst);
    }
  }
  return flat;
}

std::vector<std::vector<float>> from_device_layout(const std::vector<float>& flat, const std::vector<ParamInfo>& info,
                                                   const std::vector<std::int64_t>& offset, float scale) {
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < info.size(); ++i) {
    std::vector<float> v(static_cast<std::size_t>(info[i].size));
    const float* s = flat.data() + offset[i];
    if (info[i].shape.size() == 4) {
      const std::int64_t F = info[i].shape[3], K = info[i].size / F;
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t f = 0; f < F; ++f) v[static_cast<std::size_t>(k * F + f)] = s[f * K + k] * scale;
    } else {
      for (std::size_t j = 0; j < v.size(); ++j) v[j] = s[j] * scale;
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace stoker::cuda_layers
