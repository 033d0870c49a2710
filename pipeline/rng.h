// Rng: a counter-based random generator keyed by (seed, epoch, index).
//
// Determinism rule: every random draw in a pipeline comes from an Rng whose key names *what*
// is being randomised (this stage, this epoch, this element), never from thread-local state, so
// the output is identical for any num_threads. The stream is SplitMix64 over a hashed key:
// cheap to create per element and statistically good enough for shuffling and augmentation.
#pragma once

#include <cmath>
#include <cstdint>

namespace stoker {

constexpr std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Rng {
 public:
  constexpr Rng(std::uint64_t seed, std::uint64_t epoch = 0, std::uint64_t index = 0)
      : state_(mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ULL) ^ epoch) + index)) {}

  constexpr std::uint64_t next_u64() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias below 2^-32 for n < 2^32).
  std::uint64_t uniform_int(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
  }
  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  bool bernoulli(double p) { return uniform() < p; }
  double normal() {  // Box-Muller
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::uint64_t state_;
};

}  // namespace stoker
