// Rounding-error bounds for fp32 results computed in two different orders (another OpenBLAS
// kernel set, micro-batches instead of one batch, another thread split). Tests compare such
// results within these bounds, never within a constant picked to pass on one CPU: SkylakeX,
// Haswell and Prescott kernels block and vectorise sums differently, so the last bits differ.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace stoker::fp32 {

// Unit roundoff of fp32 with round-to-nearest: |fl(x op y) - (x op y)| <= u |x op y|.
inline constexpr double kU = 0x1p-24;

// Higham's gamma_n = n u / (1 - n u): a sum of n terms taken in ANY order satisfies
// |fl(sum) - sum| <= gamma_{n-1} * sum |x_i| (Accuracy and Stability of Numerical Algorithms,
// 2nd ed., eq. 4.4). A dot product of length n: gamma_n * sum |a_i b_i|. Two orders: twice that.
inline double gamma(std::int64_t n) { return double(n) * kU / (1.0 - double(n) * kU); }

// Probabilistic bound (Higham & Mary, SIAM J. Sci. Comput. 41(5), 2019, Thm 3.1): with
// independent rounding errors, |fl(sum) - sum| <= lambda sqrt(n) u sum |x_i| except with
// probability 2 exp(-lambda^2 / 2) (lambda = 6: < 3e-8). Used where the worst case n u is
// vacuous (n in the millions). `scale` stands for sum |x_i| in units of the compared tensor's
// largest magnitude; for sums of same-signed-ish products (gradients of a mean loss over
// non-negative inputs) it is O(1), so the bound is stated relative to the tensor's scale.
inline double probabilistic_sum_rel(std::int64_t n, double lambda = 6.0) { return lambda * std::sqrt(double(n)) * kU; }

// Keras Adam's FIRST update is w -= lr * g / (|g| + eps_hat), eps_hat = eps / sqrt(1 - beta2)
// (alpha = lr sqrt(1 - beta2) / (1 - beta1), m = (1 - beta1) g, sqrt(v) = sqrt(1 - beta2) |g|).
// u(g) = lr g / (|g| + e) is ill-conditioned where |g| ~ e: for two gradients a, b,
//   |u(a) - u(b)| <= lr |a - b| / (min(|a|, |b|) + e)    (same sign: lr e |a-b| / ((|a|+e)(|b|+e));
//                                                        opposite signs: each term <= |x| / (min + e))
// and never more than 2 lr. Add the rounding of computing each side: the update itself takes ~8
// fp32 operations (m, v, sqrt, alpha, divide: <= 8 u relative to lr) and w - u rounds once to
// half an ulp of w, so two computed weights differ by at most 8 u lr + u |w| more.
inline double adam_first_step_bound(double ga, double gb, double lr, double eps_hat, double w) {
  const double from_grads = std::min(2 * lr, lr * std::abs(ga - gb) / (std::min(std::abs(ga), std::abs(gb)) + eps_hat));
  return from_grads + 8 * kU * lr + 2 * kU * std::abs(w);
}

}  // namespace stoker::fp32
