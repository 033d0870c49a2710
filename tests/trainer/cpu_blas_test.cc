// cpu_blas: the OpenBLAS kernel choice by CPU features, and sgemm against a naive product for
// every transpose combination.
#include "trainer/cpu_blas.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "pipeline/rng.h"
#include "tests/trainer/fp32_bounds.h"

namespace stoker::cpu_blas {
namespace {

TEST(CpuBlasCore, ChosenFromFeatures) {
  CpuFeatures none;
  EXPECT_EQ(core_for(none), "");
  CpuFeatures avx2;
  avx2.avx2 = true;
  EXPECT_EQ(core_for(avx2), "") << "AVX2 without FMA has no Haswell kernels";
  avx2.fma = true;
  EXPECT_EQ(core_for(avx2), "Haswell");
  CpuFeatures skx = avx2;
  skx.avx512f = skx.avx512bw = skx.avx512dq = skx.avx512vl = skx.avx512cd = true;
  EXPECT_EQ(core_for(skx), "SkylakeX");
  CpuFeatures partial = skx;
  partial.avx512bw = false;  // AVX-512F without BW (Knights Landing) must not get SkylakeX kernels
  EXPECT_EQ(core_for(partial), "Haswell");
}

// Each TEST runs in its own process under CTest, so this is the first load of OpenBLAS here.
TEST(CpuBlasCore, RunsTheKernelsThisCpuSupports) {
  if (std::getenv("OPENBLAS_CORETYPE")) GTEST_SKIP() << "OPENBLAS_CORETYPE is set: the user's choice is kept";
  const std::string want = core_for(CpuFeatures::of_this_cpu());
  if (want.empty()) GTEST_SKIP() << "this CPU has neither AVX2+FMA nor AVX-512: OpenBLAS decides";
  EXPECT_EQ(core_name(), want) << note();
  EXPECT_NE(note().find(want), std::string::npos) << note();
}

std::vector<float> random_matrix(std::int64_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& x : v) x = static_cast<float>(rng.uniform() * 2 - 1);
  return v;
}

TEST(CpuBlasSgemm, MatchesNaiveProductForEveryTranspose) {
  const std::int64_t M = 7, N = 13, K = 29;  // odd sizes: kernel edges
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.f, 1.f}) {
        const auto a = random_matrix(M * K, 1), b = random_matrix(K * N, 2), c0 = random_matrix(M * N, 3);
        std::vector<float> c = c0;
        sgemm(ta, tb, M, N, K, a.data(), b.data(), c.data(), beta);
        for (std::int64_t i = 0; i < M; ++i) {
          for (std::int64_t j = 0; j < N; ++j) {
            double want = beta * c0[static_cast<std::size_t>(i * N + j)];
            double magnitude = std::abs(want);
            for (std::int64_t p = 0; p < K; ++p) {
              const float av = ta ? a[static_cast<std::size_t>(p * M + i)] : a[static_cast<std::size_t>(i * K + p)];
              const float bv = tb ? b[static_cast<std::size_t>(j * K + p)] : b[static_cast<std::size_t>(p * N + j)];
              want += static_cast<double>(av) * bv;
              magnitude += std::abs(static_cast<double>(av) * bv);
            }
            // Any kernel's order: a dot product of K terms plus beta * c is within gamma_{K+1} of
            // the sum of |terms| (fp32_bounds.h); the double reference is exact to far less.
            ASSERT_NEAR(c[static_cast<std::size_t>(i * N + j)], want, fp32::gamma(K + 1) * magnitude)
                << "ta " << ta << " tb " << tb << " beta " << beta << " at " << i << "," << j;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace stoker::cpu_blas
