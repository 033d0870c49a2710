// The elementwise and per-row arithmetic of training, written once for both backends.
//
// Every function here is `__host__ __device__` under nvcc and plain inline C++ otherwise: the
// CPU backend calls them in its loops and the CUDA kernels call them per thread, so the CPU
// tests exercise exactly the arithmetic the GPU runs (softmax cross-entropy, bias gradients,
// Adam and SGD updates, dtype casts, fp16/bf16 rounding, loss scaling). No allocation, no
// exceptions, no std:: calls that device code lacks.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define STOKER_HD __host__ __device__ __forceinline__
#else
#define STOKER_HD inline
#endif

namespace stoker::kmath {

STOKER_HD std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
STOKER_HD float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}
// True for every value except ±inf and NaN (bit test: immune to -ffast-math).
STOKER_HD bool is_finite(float x) { return (float_bits(x) & 0x7f800000u) != 0x7f800000u; }

// ---- Reduced precision. ----------------------------------------------------------------------
// IEEE binary16 from float, round to nearest even; overflow gives ±inf, tiny values become
// subnormals or ±0, NaN stays NaN. The exact conversion __float2half_rn performs.
STOKER_HD std::uint16_t float_to_half_bits(float f) {
  std::uint32_t x = float_bits(f);
  std::uint32_t sign = (x >> 16) & 0x8000u;
  std::uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504
  if (abs < 0x38800000u) {                                                    // below 2^-14: subnormal
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);           // below 2^-25: zero
    std::uint32_t e = abs >> 23;
    std::uint32_t m = (abs & 0x7fffffu) | 0x800000u;
    std::uint32_t shift = 126u - e;  // 14..24 (result mantissa = m >> (shift - ... ))
    std::uint32_t r = m >> shift;
    std::uint32_t rem = m & ((1u << shift) - 1u);
    std::uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<std::uint16_t>(sign | r);
  }
  std::uint32_t r = ((abs - 0x38000000u) >> 13);  // rebias exponent 127 -> 15
  std::uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) ++r;
  return static_cast<std::uint16_t>(sign | r);
}
STOKER_HD float half_bits_to_float(std::uint16_t h) {
  std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t e = (h >> 10) & 0x1fu;
  std::uint32_t m = h & 0x3ffu;
  if (e == 0x1f) return bits_float(sign | 0x7f800000u | (m << 13));
  if (e == 0) {
    // Subnormal: m * 2^-24.
    float v = static_cast<float>(m) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}
// bfloat16 from float, round to nearest even; NaN stays NaN.
STOKER_HD std::uint16_t float_to_bf16_bits(float f) {
  std::uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}
STOKER_HD float bf16_bits_to_float(std::uint16_t b) { return bits_float(static_cast<std::uint32_t>(b) << 16); }

// What a value becomes after a round trip through the compute type (0: fp32, 1: fp16, 2: bf16).
STOKER_HD float round_to(int compute_type, float x) {
  if (compute_type == 1) return half_bits_to_float(float_to_half_bits(x));
  if (compute_type == 2) return bf16_bits_to_float(float_to_bf16_bits(x));
  return x;
}

// Load/store of one element of a buffer in the compute type (float, or fp16/bf16 bits), so the
// kernels and the CPU emulation convert the same way.
STOKER_HD float load_ct(int compute_type, const void* p, std::int64_t i) {
  if (compute_type == 0) return static_cast<const float*>(p)[i];
  const std::uint16_t b = static_cast<const std::uint16_t*>(p)[i];
  return compute_type == 1 ? half_bits_to_float(b) : bf16_bits_to_float(b);
}
STOKER_HD void store_ct(int compute_type, void* p, std::int64_t i, float v) {
  if (compute_type == 0) {
    static_cast<float*>(p)[i] = v;
    return;
  }
  static_cast<std::uint16_t*>(p)[i] = compute_type == 1 ? float_to_half_bits(v) : float_to_bf16_bits(v);
}

// ---- Dropout. --------------------------------------------------------------------------------
// Whether element `j` of sample `sample` is kept at training step `step` by dropout layer
// `layer`: a counter-based hash, so the mask is the same on every backend, for any micro-batch
// split or thread count, and the backward pass recomputes it instead of storing it.
STOKER_HD std::uint64_t mix64_hd(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
STOKER_HD bool dropout_keep(std::uint64_t seed, int layer, std::uint64_t step, std::int64_t sample, std::int64_t j,
                            float keep_prob) {
  std::uint64_t h = mix64_hd(seed ^ (0xd50bULL << 48) ^ static_cast<std::uint64_t>(layer));
  h = mix64_hd(h ^ step);
  h = mix64_hd(h ^ static_cast<std::uint64_t>(sample));
  h = mix64_hd(h + static_cast<std::uint64_t>(j) * 0x9e3779b97f4a7c15ULL);
  return static_cast<float>(h >> 40) * (1.f / 16777216.f) < keep_prob;
}

// ---- Input casts. ----------------------------------------------------------------------------
STOKER_HD float cast_u8(std::uint8_t v, float scale) { return static_cast<float>(v) * scale; }
STOKER_HD float cast_f32(float v, float scale) { return v * scale; }

// ---- Softmax cross-entropy, one row of `classes` logits. --------------------------------------
// Stable: shifts by the row maximum, so logits of ±1e30 give finite loss and gradient.
// `label` >= 0: sparse target; otherwise `target` holds one row of (one-hot or soft) targets.
// Writes dlogits = grad_scale * d(loss)/d(logits) when dlogits is non-null; returns the loss and
// sets *correct to whether argmax(logits) equals the label (or argmax(target)).
STOKER_HD float softmax_xent_row(const float* logits, int classes, int label, const float* target,
                                 float grad_scale, float* dlogits, bool* correct) {
  float mx = logits[0];
  int arg = 0;
  for (int c = 1; c < classes; ++c) {
    if (logits[c] > mx) {
      mx = logits[c];
      arg = c;
    }
  }
  float sum = 0.f;
  for (int c = 0; c < classes; ++c) sum += expf(logits[c] - mx);
  const float log_sum = logf(sum);
  float loss = 0.f;
  float tsum = 0.f;
  int truth = label;
  if (label >= 0) {
    loss = log_sum - (logits[label] - mx);
    tsum = 1.f;
  } else {
    float tmax = -1.f;
    for (int c = 0; c < classes; ++c) {
      float t = target[c];
      if (t != 0.f) loss += t * (log_sum - (logits[c] - mx));
      tsum += t;
      if (t > tmax) {
        tmax = t;
        truth = c;
      }
    }
  }
  if (correct) *correct = (arg == truth);
  if (dlogits) {
    for (int c = 0; c < classes; ++c) {
      float p = expf(logits[c] - mx - log_sum);
      float t = label >= 0 ? (c == label ? 1.f : 0.f) : target[c];
      dlogits[c] = grad_scale * (p * tsum - t);
    }
  }
  return loss;
}

// ---- Activations. ----------------------------------------------------------------------------
STOKER_HD float relu(float x) { return x > 0.f ? x : 0.f; }
// Gradient through relu given its output y (y > 0 exactly where the input was > 0).
STOKER_HD float relu_grad(float y, float dy) { return y > 0.f ? dy : 0.f; }

// ---- Optimizers. -----------------------------------------------------------------------------
struct AdamParams {
  float lr, beta1, beta2, epsilon;
  float alpha;  // lr * sqrt(1 - beta2^t) / (1 - beta1^t), computed once per step on the host
};
// Keras' Adam (tf.keras.optimizers.Adam): m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
// w -= alpha * m / (sqrt(v) + eps). `g` is already unscaled.
STOKER_HD void adam_update(float* w, float* m, float* v, float g, const AdamParams& p) {
  *m += (g - *m) * (1.f - p.beta1);
  *v += (g * g - *v) * (1.f - p.beta2);
  *w -= p.alpha * *m / (sqrtf(*v) + p.epsilon);
}
// Keras' SGD with momentum (not Nesterov): velocity = momentum * velocity - lr * g; w += velocity.
// momentum 0 is plain SGD.
STOKER_HD void sgd_update(float* w, float* velocity, float g, float lr, float momentum) {
  *velocity = momentum * *velocity - lr * g;
  *w += *velocity;
}

// ---- Loss scaling. ---------------------------------------------------------------------------
// Gradients are computed for loss * scale; the update uses g * inv_scale.
STOKER_HD float unscale(float g, float inv_scale) { return g * inv_scale; }

}  // namespace stoker::kmath
