// The CUDA backend's own kernels (see cuda_kernels.h): grid-stride loops over kernels_math.h.
#include "trainer/cuda_kernels.h"
#include "trainer/kernels_math.h"

namespace stoker::cuda_kernels {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(std::int64_t n) {
  std::int64_t b = (n + kThreads - 1) / kThreads;
  if (b > 65535 * 8) b = 65535 * 8;
  return static_cast<unsigned>(b < 1 ? 1 : b);
}
#define STOKER_GRID_LOOP(i, n) \
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < (n); i += std::int64_t{blockDim.x} * gridDim.x)

__global__ void k_cast_input(const void* src, bool u8, float scale, void* dst, int ct, std::int64_t n) {
  STOKER_GRID_LOOP(i, n) {
    const float v = u8 ? kmath::cast_u8(static_cast<const std::uint8_t*>(src)[i], scale)
                       : kmath::cast_f32(static_cast<const float*>(src)[i], scale);
    kmath::store_ct(ct, dst, i, v);
  }
}
__global__ void k_convert(const void* src, int cs, void* dst, int cd, std::int64_t n) {
  STOKER_GRID_LOOP(i, n) kmath::store_ct(cd, dst, i, kmath::load_ct(cs, src, i));
}
__global__ void k_bias_act(void* y, int ct, const void* bias, int bct, std::int64_t rows, int F, bool relu) {
  STOKER_GRID_LOOP(i, rows * F) {
    float v = kmath::load_ct(ct, y, i) + kmath::load_ct(bct, bias, i % F);
    kmath::store_ct(ct, y, i, relu ? kmath::relu(v) : v);
  }
}
__global__ void k_relu_backward(const void* y, void* dy, int ct, std::int64_t n) {
  STOKER_GRID_LOOP(i, n) kmath::store_ct(ct, dy, i, kmath::relu_grad(kmath::load_ct(ct, y, i), kmath::load_ct(ct, dy, i)));
}
// Block (x: row chunk) sums 256 rows for each f in its thread slice, then one atomicAdd per f.
__global__ void k_bias_grad(const void* dy, int ct, float* db, std::int64_t rows, int F) {
  const std::int64_t r0 = static_cast<std::int64_t>(blockIdx.x) * 256;
  const std::int64_t r1 = r0 + 256 < rows ? r0 + 256 : rows;
  for (int f = threadIdx.x; f < F; f += blockDim.x) {
    float sum = 0.f;
    for (std::int64_t r = r0; r < r1; ++r) sum += kmath::load_ct(ct, dy, r * F + f);
    atomicAdd(db + f, sum);
  }
}
__global__ void k_dropout(const void* in, void* out, int ct, std::int64_t n, std::int64_t per, std::uint64_t seed,
                          int layer, std::uint64_t step, std::int64_t first, float rate) {
  const float keep = 1.f - rate, inv = 1.f / keep;
  STOKER_GRID_LOOP(i, n) {
    const bool k = kmath::dropout_keep(seed, layer, step, first + i / per, i % per, keep);
    kmath::store_ct(ct, out, i, k ? kmath::load_ct(ct, in, i) * inv : 0.f);
  }
}
__global__ void k_softmax_xent(const float* logits, int classes, std::int64_t n, const void* labels, int kind,
                               float grad_scale, float* dlogits, float* loss, int* correct, int* bad_label) {
  STOKER_GRID_LOOP(i, n) {
    int label = -1;
    const float* target = nullptr;
    if (kind == 2) {
      target = static_cast<const float*>(labels) + i * classes;
    } else {
      const std::int64_t v = kind == 1 ? static_cast<const std::int64_t*>(labels)[i] : static_cast<const std::int32_t*>(labels)[i];
      if (v < 0 || v >= classes) {
        atomicExch(bad_label, static_cast<int>(i) + 1);
        label = 0;
      } else {
        label = static_cast<int>(v);
      }
    }
    bool ok = false;
    loss[i] = kmath::softmax_xent_row(logits + i * classes, classes, label, target, grad_scale,
                                      dlogits ? dlogits + i * classes : nullptr, &ok);
    correct[i] = ok;
  }
}
__global__ void k_accumulate(const void* src, int ct, float* g, std::int64_t n) {
  STOKER_GRID_LOOP(i, n) g[i] += kmath::load_ct(ct, src, i);
}
__global__ void k_check_finite(const float* g, std::int64_t n, int* flag) {
  STOKER_GRID_LOOP(i, n) {
    if (!kmath::is_finite(g[i])) *flag = 1;
  }
}
__global__ void k_adam(float* w, float* m, float* v, const float* g, std::int64_t n, float inv, kmath::AdamParams p) {
  STOKER_GRID_LOOP(i, n) kmath::adam_update(w + i, m + i, v + i, kmath::unscale(g[i], inv), p);
}
__global__ void k_sgd(float* w, float* vel, const float* g, std::int64_t n, float inv, float lr, float mom) {
  STOKER_GRID_LOOP(i, n) kmath::sgd_update(w + i, vel + i, kmath::unscale(g[i], inv), lr, mom);
}

}  // namespace

void cast_input(const void* src, bool u8, float scale, void* dst, int ct, std::int64_t n, cudaStream_t s) {
  k_cast_input<<<blocks_for(n), kThreads, 0, s>>>(src, u8, scale, dst, ct, n);
}
void convert(const void* src, int cs, void* dst, int cd, std::int64_t n, cudaStream_t s) {
  k_convert<<<blocks_for(n), kThreads, 0, s>>>(src, cs, dst, cd, n);
}
void bias_act(void* y, int ct, const void* bias, int bct, std::int64_t rows, int F, bool relu, cudaStream_t s) {
  k_bias_act<<<blocks_for(rows * F), kThreads, 0, s>>>(y, ct, bias, bct, rows, F, relu);
}
void relu_backward(const void* y, void* dy, int ct, std::int64_t n, cudaStream_t s) {
  k_relu_backward<<<blocks_for(n), kThreads, 0, s>>>(y, dy, ct, n);
}
void bias_grad(const void* dy, int ct, float* db, std::int64_t rows, int F, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((rows + 255) / 256);
  if (blocks) k_bias_grad<<<blocks, F < 256 ? ((F + 31) / 32) * 32 : 256, 0, s>>>(dy, ct, db, rows, F);
}
void dropout(const void* in, void* out, int ct, std::int64_t n, std::int64_t per, std::uint64_t seed, int layer,
             std::uint64_t step, std::int64_t first, float rate, cudaStream_t s) {
  k_dropout<<<blocks_for(n), kThreads, 0, s>>>(in, out, ct, n, per, seed, layer, step, first, rate);
}
void softmax_xent(const float* logits, int classes, std::int64_t n, const void* labels, int kind, float grad_scale,
                  float* dlogits, float* loss, int* correct, int* bad_label, cudaStream_t s) {
  k_softmax_xent<<<blocks_for(n), kThreads, 0, s>>>(logits, classes, n, labels, kind, grad_scale, dlogits, loss, correct,
                                                    bad_label);
}
void accumulate(const void* src, int ct, float* g, std::int64_t n, cudaStream_t s) {
  k_accumulate<<<blocks_for(n), kThreads, 0, s>>>(src, ct, g, n);
}
void check_finite(const float* g, std::int64_t n, int* flag, cudaStream_t s) {
  k_check_finite<<<blocks_for(n), kThreads, 0, s>>>(g, n, flag);
}
void adam(float* w, float* m, float* v, const float* g, std::int64_t n, float inv, const kmath::AdamParams& p,
          cudaStream_t s) {
  k_adam<<<blocks_for(n), kThreads, 0, s>>>(w, m, v, g, n, inv, p);
}
void sgd(float* w, float* vel, const float* g, std::int64_t n, float inv, float lr, float mom, cudaStream_t s) {
  k_sgd<<<blocks_for(n), kThreads, 0, s>>>(w, vel, g, n, inv, lr, mom);
}

}  // namespace stoker::cuda_kernels
