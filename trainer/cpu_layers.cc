// The CPU backend's layers (see cpu_layers.h): plain loops and OpenBLAS sgemm on one chunk of
// samples, single-threaded (the backend runs one chunk per TBB task).
#include "trainer/cpu_layers.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "pipeline/error.h"

#include "trainer/cpu_blas.h"
#include "trainer/kernels_math.h"
#include "trainer/planner.h"

namespace stoker::cpu_layers {
namespace {

// im2col of `g` samples starting at x (NHWC) into cols [g*OH*OW, KH*KW*C]. For one kernel row
// the valid kw positions are one contiguous run of (kw range) * C floats in x, copied at once.
void im2col(const Layer& L, const float* x, std::int64_t g, float* cols) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const std::int64_t H = sh.in[0], W = sh.in[1], C = sh.in[2], OH = sh.out[0], OW = sh.out[1], k = ls.kernel;
  const std::int64_t K = k * k * C;
  for (std::int64_t s = 0; s < g; ++s) {
    const float* xs = x + s * H * W * C;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        float* row = cols + ((s * OH + oh) * OW + ow) * K;
        const std::int64_t w0 = ow * ls.stride - sh.pad_left;
        const std::int64_t kw_lo = std::max<std::int64_t>(0, -w0), kw_hi = std::min<std::int64_t>(k, W - w0);
        for (std::int64_t kh = 0; kh < k; ++kh) {
          const std::int64_t h = oh * ls.stride + kh - sh.pad_top;
          float* dst = row + kh * k * C;
          if (h < 0 || h >= H || kw_lo >= kw_hi) {
            std::fill(dst, dst + k * C, 0.f);
            continue;
          }
          std::fill(dst, dst + kw_lo * C, 0.f);
          std::memcpy(dst + kw_lo * C, xs + (h * W + w0 + kw_lo) * C, static_cast<std::size_t>((kw_hi - kw_lo) * C) * 4);
          std::fill(dst + kw_hi * C, dst + k * C, 0.f);
        }
      }
    }
  }
}

void col2im(const Layer& L, const float* cols, std::int64_t g, float* dx) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const std::int64_t H = sh.in[0], W = sh.in[1], C = sh.in[2], OH = sh.out[0], OW = sh.out[1], k = ls.kernel;
  const std::int64_t K = k * k * C;
  std::fill(dx, dx + g * H * W * C, 0.f);
  for (std::int64_t s = 0; s < g; ++s) {
    float* xs = dx + s * H * W * C;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        const float* row = cols + ((s * OH + oh) * OW + ow) * K;
        const std::int64_t w0 = ow * ls.stride - sh.pad_left;
        const std::int64_t kw_lo = std::max<std::int64_t>(0, -w0), kw_hi = std::min<std::int64_t>(k, W - w0);
        if (kw_lo >= kw_hi) continue;
        for (std::int64_t kh = 0; kh < k; ++kh) {
          const std::int64_t h = oh * ls.stride + kh - sh.pad_top;
          if (h < 0 || h >= H) continue;
          const float* __restrict src = row + (kh * k + kw_lo) * C;
          float* __restrict dst = xs + (h * W + w0 + kw_lo) * C;
          const std::int64_t len = (kw_hi - kw_lo) * C;
          for (std::int64_t i = 0; i < len; ++i) dst[i] += src[i];
        }
      }
    }
  }
}

std::int64_t group_of(const Layer& L) {
  const LayerShape& sh = L.shape;
  const std::int64_t k = L.spec.kernel;
  return conv_group_size(sh.out[0] * sh.out[1] * k * k * sh.in[2]);
}

}  // namespace

void cast_input(const BatchView& b, std::int64_t first_sample, std::int64_t n, std::int64_t in_sz, int ct, float scale,
                float* x0) {
  const std::size_t first = static_cast<std::size_t>(first_sample * in_sz);
  const std::size_t total = static_cast<std::size_t>(n * in_sz);
  if (b.x_dtype == DType::kU8) {
    const auto* src = static_cast<const std::uint8_t*>(b.x) + first;
    for (std::size_t i = 0; i < total; ++i) x0[i] = kmath::round_to(ct, kmath::cast_u8(src[i], scale));
  } else if (b.x_dtype == DType::kF32) {
    const auto* src = static_cast<const float*>(b.x) + first;
    for (std::size_t i = 0; i < total; ++i) x0[i] = kmath::round_to(ct, kmath::cast_f32(src[i], scale));
  } else {
    throw Error(ErrorCode::kUnsupported, std::string("trainer: images must be uint8 or float32, got ") + dtype_name(b.x_dtype));
  }
}

StepStats softmax_xent(const BatchView& b, std::int64_t first, std::int64_t n, int classes, const float* logits,
                       float grad_scale, float* dy) {
  StepStats st;
  st.count = n;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t s = first + i;
    int label = -1;
    const float* target = nullptr;
    if (b.one_hot) {
      target = static_cast<const float*>(b.y) + s * classes;
    } else {
      const std::int64_t v = b.y_dtype == DType::kI64 ? static_cast<const std::int64_t*>(b.y)[s]
                                                      : static_cast<const std::int32_t*>(b.y)[s];
      if (v < 0 || v >= classes) {
        throw Error(ErrorCode::kInvalidArgument, "label " + std::to_string(v) + " outside [0, " + std::to_string(classes) +
                                                     ") for a model with " + std::to_string(classes) + " classes",
                    {"trainer", "", s});
      }
      label = static_cast<int>(v);
    }
    bool ok = false;
    st.loss_sum += kmath::softmax_xent_row(logits + i * classes, classes, label, target, grad_scale,
                                           dy ? dy + i * classes : nullptr, &ok);
    st.correct += ok;
  }
  return st;
}

void dense_forward(const Layer& L, const float* x, float* y, std::int64_t n) {
  const LayerShape& sh = L.shape;
  const std::int64_t isz = numel(sh.in), osz = numel(sh.out);
  for (std::int64_t i = 0; i < n; ++i) std::memcpy(y + i * osz, L.b, static_cast<std::size_t>(osz) * 4);
  cpu_blas::sgemm(false, false, n, osz, isz, x, L.w, y, 1.f);
  if (L.spec.activation == Activation::kReLU) for (std::int64_t i = 0; i < n * osz; ++i) y[i] = kmath::relu(y[i]);
}

void dense_backward(const Layer& L, const float* x, const float* y, float* dy, float* dx, std::int64_t n) {
  const LayerShape& sh = L.shape;
  const std::int64_t isz = numel(sh.in), osz = numel(sh.out);
  if (L.spec.activation == Activation::kReLU) for (std::int64_t i = 0; i < n * osz; ++i) dy[i] = kmath::relu_grad(y[i], dy[i]);
  float* db = L.db;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < osz; ++j) db[j] += dy[i * osz + j];
  cpu_blas::sgemm(true, false, isz, osz, n, x, dy, L.dw, 1.f);
  if (dx) cpu_blas::sgemm(false, true, n, isz, osz, dy, L.w, dx, 0.f);
}

void dropout_forward(const Layer& L, std::uint64_t seed, int layer, const float* x, float* y, std::uint8_t* mask,
                     std::int64_t n, std::int64_t first, std::uint64_t step) {
  const std::int64_t osz = numel(L.shape.out);
  const float keep = 1.f - L.spec.rate, inv_keep = 1.f / keep;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < osz; ++j) {
      const bool k = kmath::dropout_keep(seed, layer, step, first + i, j, keep);
      mask[i * osz + j] = k;
      y[i * osz + j] = k ? x[i * osz + j] * inv_keep : 0.f;
    }
  }
}

void dropout_backward(const Layer& L, const float* dy, const std::uint8_t* mask, float* dx, std::int64_t n) {
  const std::int64_t osz = numel(L.shape.out);
  const float inv_keep = 1.f / (1.f - L.spec.rate);
  for (std::int64_t i = 0; i < n * osz; ++i) dx[i] = mask[i] ? dy[i] * inv_keep : 0.f;
}

void relu_forward(const float* x, float* y, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) y[i] = kmath::relu(x[i]);
}

void relu_backward(const float* y, const float* dy, float* dx, std::int64_t count) {
  for (std::int64_t i = 0; i < count; ++i) dx[i] = kmath::relu_grad(y[i], dy[i]);
}

// Channels innermost so the compare loop runs over contiguous memory.
void pool_forward(const Layer& L, const float* x, float* y, std::int32_t* am, std::int64_t n) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const std::int64_t W = sh.in[1], C = sh.in[2], OH = sh.out[0], OW = sh.out[1];
  const std::int64_t isz = numel(sh.in), osz = numel(sh.out), k = ls.kernel, st = ls.stride;
  for (std::int64_t s = 0; s < n; ++s) {
    const float* xs = x + s * isz;
    for (std::int64_t oh = 0; oh < OH; ++oh) {
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        float* __restrict yo = y + s * osz + (oh * OW + ow) * C;
        std::int32_t* __restrict ao = am + s * osz + (oh * OW + ow) * C;
        const std::int32_t base = static_cast<std::int32_t>((oh * st * W + ow * st) * C);
        for (std::int64_t c = 0; c < C; ++c) {
          yo[c] = xs[base + c];
          ao[c] = base + static_cast<std::int32_t>(c);
        }
        for (std::int64_t kh = 0; kh < k; ++kh) {
          for (std::int64_t kw = (kh == 0 ? 1 : 0); kw < k; ++kw) {
            const std::int32_t at = static_cast<std::int32_t>(((oh * st + kh) * W + ow * st + kw) * C);
            const float* __restrict xp = xs + at;
            for (std::int64_t c = 0; c < C; ++c) {  // branch-free so it vectorises
              const float v = xp[c], cur = yo[c];
              const std::int32_t m = -static_cast<std::int32_t>(v > cur);
              yo[c] = v > cur ? v : cur;
              ao[c] = (ao[c] & ~m) | ((at + static_cast<std::int32_t>(c)) & m);
            }
          }
        }
      }
    }
  }
}

void pool_backward(const Layer& L, const float* dy, const std::int32_t* argmax, float* dx, std::int64_t n) {
  const std::int64_t isz = numel(L.shape.in), osz = numel(L.shape.out);
  std::fill(dx, dx + n * isz, 0.f);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < osz; ++j) dx[i * isz + argmax[i * osz + j]] += dy[i * osz + j];
}

void conv_forward(const Layer& L, const float* x, float* y, std::int64_t n, float* cols) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const std::int64_t P = sh.out[0] * sh.out[1], F = ls.units, K = ls.kernel * ls.kernel * sh.in[2];
  const std::int64_t isz = numel(sh.in), G = group_of(L);
  const float* bias = L.b;
  for (std::int64_t s = 0; s < n; s += G) {
    const std::int64_t g = std::min(G, n - s);
    im2col(L, x + s * isz, g, cols);
    float* ys = y + s * P * F;
    for (std::int64_t r = 0; r < g * P; ++r) std::memcpy(ys + r * F, bias, static_cast<std::size_t>(F) * 4);
    cpu_blas::sgemm(false, false, g * P, F, K, cols, L.w, ys, 1.f);
    if (ls.activation == Activation::kReLU) for (std::int64_t i = 0; i < g * P * F; ++i) ys[i] = kmath::relu(ys[i]);
  }
}

void conv_backward(const Layer& L, const float* x, const float* y, float* dy, float* dx, std::int64_t n, float* cols,
                   float* dcols) {
  const LayerSpec& ls = L.spec;
  const LayerShape& sh = L.shape;
  const std::int64_t P = sh.out[0] * sh.out[1], F = ls.units, K = ls.kernel * ls.kernel * sh.in[2];
  const std::int64_t isz = numel(sh.in), G = group_of(L);
  if (ls.activation == Activation::kReLU) for (std::int64_t i = 0; i < n * P * F; ++i) dy[i] = kmath::relu_grad(y[i], dy[i]);
  float* db = L.db;
  for (std::int64_t r = 0; r < n * P; ++r)
    for (std::int64_t f = 0; f < F; ++f) db[f] += dy[r * F + f];
  for (std::int64_t s = 0; s < n; s += G) {
    const std::int64_t g = std::min(G, n - s);
    im2col(L, x + s * isz, g, cols);  // recomputed: cheaper than keeping it
    const float* dys = dy + s * P * F;
    cpu_blas::sgemm(true, false, K, F, g * P, cols, dys, L.dw, 1.f);
    if (dx) {
      cpu_blas::sgemm(false, true, g * P, K, F, dys, L.w, dcols, 0.f);
      col2im(L, dcols, g, dx + s * isz);
    }
  }
}

}  // namespace stoker::cpu_layers
