// CUDA backend against the CPU backend on the same inputs and weights (ggml-style). Skips
// without a CUDA device; compiles in every build (it uses only the Backend interface).
//
// Tolerances: fp32 on the GPU runs cuDNN with FMA math (no TF32) and cuBLAS in fp32, so only the
// summation order differs: loss within 1e-5 relative, gradients within 1e-3 relative + 1e-5.
// Mixed precision on both sides rounds at the same places but accumulates in different orders:
// gradients within 3e-2 relative + 1e-3 of the CPU's emulation.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "trainer/backend.h"
#include "trainer/cpu_backend.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_backend_available()) GTEST_SKIP() << "no CUDA device"

struct Data {
  std::vector<std::uint8_t> x;
  std::vector<std::int64_t> y;
  BatchView view() const {
    return BatchView{DType::kU8, x.data(), DType::kI64, y.data(), false, static_cast<std::int64_t>(y.size())};
  }
};

Data make_data(std::int64_t n, const Hwc& in, int classes) {
  Data d;
  Rng rng(42);
  d.x.resize(static_cast<std::size_t>(n * in[0] * in[1] * in[2]));
  for (auto& v : d.x) v = static_cast<std::uint8_t>(rng.uniform_int(256));
  for (std::int64_t i = 0; i < n; ++i) d.y.push_back(static_cast<std::int64_t>(rng.uniform_int(static_cast<std::uint64_t>(classes))));
  return d;
}

void expect_close(const std::vector<std::vector<float>>& got, const std::vector<std::vector<float>>& want, double rel,
                  double abs, const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t p = 0; p < got.size(); ++p) {
    ASSERT_EQ(got[p].size(), want[p].size());
    for (std::size_t i = 0; i < got[p].size(); ++i) {
      ASSERT_NEAR(got[p][i], want[p][i], abs + rel * std::abs(want[p][i])) << what << " tensor " << p << " [" << i << "]";
    }
  }
}

struct Case {
  std::string name;  // the test's name suffix
  std::string spec;
  Hwc input;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.spec; }

class CudaVsCpu : public ::testing::TestWithParam<Case> {};

TEST_P(CudaVsCpu, SameLossGradientsAndUpdates) {
  SKIP_WITHOUT_GPU();
  const ModelSpec spec = ModelSpec::parse(GetParam().spec);
  const Hwc in = GetParam().input;
  for (Precision prec : {Precision::kFloat32, Precision::kMixedFloat16, Precision::kMixedBFloat16}) {
    BackendConfig cfg{prec, {}, 2, 1.f / 255, 9};
    auto cpu = make_backend("cpu", spec, in, cfg);
    auto gpu = make_backend("cuda", spec, in, cfg);
    ASSERT_EQ(gpu->name(), "cuda");
    gpu->set_params(cpu->get_params());
    expect_close(gpu->get_params(), cpu->get_params(), 0, 0, "set/get round trip");
    const Data d = make_data(12, in, spec.classes());
    const BatchView v = d.view();
    const bool fp32 = prec == Precision::kFloat32;
    const double grel = fp32 ? 1e-3 : 3e-2, gabs = fp32 ? 1e-5 : 1e-3;
    for (int step = 0; step < 3; ++step) {
      cpu->zero_grads();
      gpu->zero_grads();
      // Two micro-batches of 7 and 5: accumulation on both sides.
      StepStats a = cpu->forward_backward(v, 0, 7, 1.f / 12, step);
      a += cpu->forward_backward(v, 7, 5, 1.f / 12, step);
      StepStats b = gpu->forward_backward(v, 0, 7, 1.f / 12, step);
      b += gpu->forward_backward(v, 7, 5, 1.f / 12, step);
      EXPECT_EQ(a.count, b.count);
      EXPECT_NEAR(b.loss_sum, a.loss_sum, (fp32 ? 1e-5 : 1e-2) * std::abs(a.loss_sum)) << precision_name(prec);
      expect_close(gpu->get_grads(), cpu->get_grads(), grel, gabs, std::string("grads ") + precision_name(prec));
      EXPECT_TRUE(cpu->apply_gradients());
      EXPECT_TRUE(gpu->apply_gradients());
      expect_close(gpu->get_params(), cpu->get_params(), fp32 ? 1e-4 : 1e-2, fp32 ? 1e-6 : 1e-3,
                   std::string("params ") + precision_name(prec));
    }
    const StepStats ea = cpu->evaluate(v, 0, 12), eb = gpu->evaluate(v, 0, 12);
    EXPECT_NEAR(eb.loss_sum, ea.loss_sum, (fp32 ? 1e-5 : 1e-2) * std::abs(ea.loss_sum));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Models, CudaVsCpu,
    ::testing::Values(Case{"Seed", "conv2d(8,3,relu) maxpool(2) flatten dense(5,softmax)", {10, 10, 1}},
                      Case{"Convnet", "conv2d(4,5,same,relu) maxpool(2) conv2d(8,5,same,relu) maxpool(2) flatten dense(32,relu) "
                           "dropout(0.4) dense(10)", {12, 12, 3}},
                      Case{"StridedOverlappingPool", "conv2d(4,3,2) relu maxpool(2,1) flatten dense(6)", {9, 9, 2}}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(CudaBackend, LossScalingSkipsOverflowingSteps) {
  SKIP_WITHOUT_GPU();
  const ModelSpec spec = ModelSpec::parse("flatten dense(8,relu) dense(4)");
  auto gpu = make_backend("cuda", spec, {4, 4, 1}, BackendConfig{Precision::kMixedFloat16});
  LossScaler s = gpu->loss_scaler();
  EXPECT_EQ(s.scale, 32768.f);
  s.scale = 1e30f;
  gpu->set_loss_scaler(s);
  const Data d = make_data(8, {4, 4, 1}, 4);
  const auto before = gpu->get_params();
  gpu->zero_grads();
  gpu->forward_backward(d.view(), 0, 8, 1.f / 8, 0);
  EXPECT_FALSE(gpu->apply_gradients());
  EXPECT_EQ(gpu->loss_scaler().scale, 5e29f);
  EXPECT_EQ(gpu->get_params(), before);
}

TEST(CudaBackend, TrainerPlansFromFreeDeviceMemoryAndRefusesWithNumbers) {
  SKIP_WITHOUT_GPU();
  Trainer t(ModelSpec::preset("seed", 10), {28, 28, 1}, {.backend = "cuda", .batch_size = 256});
  EXPECT_EQ(t.backend().name(), "cuda");
  EXPECT_EQ(t.plan().micro_batch, 256);
  EXPECT_GT(t.plan().available, std::size_t{1} << 30);
  try {
    Trainer u(ModelSpec::preset("seed", 4), {128, 128, 3}, {.backend = "cuda", .memory_limit = 1 << 20});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
  }
}

TEST(CudaBackend, ReportsWhenNoDeviceIsPresent) {
  if (cuda_backend_available()) GTEST_SKIP() << "a device is present";
  EXPECT_EQ(make_backend("auto", ModelSpec::parse("flatten dense(2)"), {2, 2, 1}, {})->name(), "cpu");
  EXPECT_THROW(make_backend("cuda", ModelSpec::parse("flatten dense(2)"), {2, 2, 1}, {}), Error);
}

}  // namespace
}  // namespace stoker
