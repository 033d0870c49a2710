// Launchers of the CUDA backend's own kernels (loss, bias, activation helpers, dropout, Adam/SGD,
// casts, gradient accumulation, finiteness). Each is a thin grid-stride loop over a function of
// kernels_math.h, so the per-element arithmetic is the one the CPU backend and its tests run.
// Plain C++17 declarations: cuda_backend.cc (C++20, host compiler) includes this; only
// cuda_kernels.cu is compiled by nvcc. `ct` is the compute-type code (0 fp32, 1 fp16, 2 bf16)
// of buffers declared `void*`; every launch is asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "trainer/kernels_math.h"

namespace stoker::cuda_kernels {

// dst[i] = round(src[i] * scale) for n elements; src uint8 (src_u8) or float32.
void cast_input(const void* src, bool src_u8, float scale, void* dst, int ct, std::int64_t n, cudaStream_t s);
// dst(ct_dst)[i] = src(ct_src)[i].
void convert(const void* src, int ct_src, void* dst, int ct_dst, std::int64_t n, cudaStream_t s);
// y[r, f] = act(y[r, f] + bias[f]) over rows x F (bias fp32 master or compute copy in ct).
void bias_act(void* y, int ct, const void* bias, int bias_ct, std::int64_t rows, int F, bool relu, cudaStream_t s);
// dy = relu_grad(y, dy) in place.
void relu_backward(const void* y, void* dy, int ct, std::int64_t n, cudaStream_t s);
// db[f] += sum over rows of dy[r, f] (fp32 accumulation).
void bias_grad(const void* dy, int ct, float* db, std::int64_t rows, int F, cudaStream_t s);
// Dropout forward (y = x * keep / (1 - rate)) or backward (dx = dy * keep / (1 - rate)), masks
// from kmath::dropout_keep for samples first_sample.. of `per_sample` elements each.
void dropout(const void* in, void* out, int ct, std::int64_t n, std::int64_t per_sample, std::uint64_t seed,
             int layer, std::uint64_t step, std::int64_t first_sample, float rate, cudaStream_t s);
// Softmax cross-entropy on float logits [n, classes]: loss[i], correct[i], dlogits (may be null).
// labels int32/int64 (sparse) or float32 targets (one_hot).
void softmax_xent(const float* logits, int classes, std::int64_t n, const void* labels, int label_kind,
                  float grad_scale, float* dlogits, float* loss, int* correct, int* bad_label, cudaStream_t s);
// grads[i] += src(ct)[i].
void accumulate(const void* src, int ct, float* grads, std::int64_t n, cudaStream_t s);
// *flag = 1 if any grads[i] is not finite (flag zeroed by the caller).
void check_finite(const float* grads, std::int64_t n, int* flag, cudaStream_t s);
void adam(float* w, float* m, float* v, const float* g, std::int64_t n, float inv_scale, const kmath::AdamParams& p,
          cudaStream_t s);
void sgd(float* w, float* vel, const float* g, std::int64_t n, float inv_scale, float lr, float momentum, cudaStream_t s);

}  // namespace stoker::cuda_kernels
