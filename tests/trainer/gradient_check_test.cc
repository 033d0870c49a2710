// CPU backend gradients against central differences (in double, on small tensors), for every
// layer kind, both label forms, and across micro-batch splits and thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "pipeline/rng.h"
#include "trainer/backend.h"
#include "trainer/cpu_backend.h"

namespace stoker {
namespace {

struct Batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  std::vector<float> onehot;
  BatchView view(bool one_hot) const {
    BatchView v;
    v.x_dtype = DType::kF32;
    v.x = x.data();
    v.one_hot = one_hot;
    v.y_dtype = one_hot ? DType::kF32 : DType::kI32;
    v.y = one_hot ? static_cast<const void*>(onehot.data()) : y.data();
    v.n = static_cast<std::int64_t>(y.size());
    return v;
  }
};

Batch random_batch(std::int64_t n, const Hwc& in, int classes, std::uint64_t seed) {
  Batch b;
  Rng rng(seed);
  b.x.resize(static_cast<std::size_t>(n * in[0] * in[1] * in[2]));
  for (float& v : b.x) v = static_cast<float>(rng.uniform(-1, 1));
  for (std::int64_t i = 0; i < n; ++i) {
    b.y.push_back(static_cast<std::int32_t>(rng.uniform_int(static_cast<std::uint64_t>(classes))));
    for (int c = 0; c < classes; ++c) b.onehot.push_back(c == b.y.back() ? 1.f : 0.f);
  }
  return b;
}

// Mean loss over the batch in training mode (dropout masks drawn for `step`), without changing
// the weights; gradients are accumulated with weight 0 and ignored.
double mean_loss(Backend& be, const BatchView& v) {
  return be.forward_backward(v, 0, v.n, 0.f, /*step=*/7).loss_sum / static_cast<double>(v.n);
}

struct Case {
  std::string spec;
  Hwc input;
};

class GradientCheck : public ::testing::TestWithParam<Case> {};

TEST_P(GradientCheck, MatchesCentralDifferences) {
  const Case& c = GetParam();
  ModelSpec spec = ModelSpec::parse(c.spec);
  for (bool one_hot : {false, true}) {
    BackendConfig cfg;
    cfg.num_threads = 2;
    cfg.seed = 3;
    auto be = make_cpu_backend(spec, c.input, cfg);
    Batch b = random_batch(3, c.input, spec.classes(), 11);
    BatchView v = b.view(one_hot);
    // Random biases: with zero biases a patch of zeros (after relu) sits exactly on a relu kink
    // or a max-pool tie, where central differences see half a gradient.
    auto init = be->get_params();
    Rng brng(99);
    for (std::size_t p = 1; p < init.size(); p += 2)
      for (float& x : init[p]) x = static_cast<float>(brng.uniform(-0.2, 0.2));
    be->set_params(init);
    be->zero_grads();
    be->forward_backward(v, 0, v.n, 1.f / static_cast<float>(v.n), 7);
    const auto grads = be->get_grads();
    auto params = be->get_params();
    const double h = 1e-3;
    int checked = 0;
    for (std::size_t p = 0; p < params.size(); ++p) {
      // Every element of small tensors; a spread of 40 elements of larger ones.
      const std::size_t n = params[p].size();
      const std::size_t stride = n <= 40 ? 1 : n / 40;
      for (std::size_t i = 0; i < n; i += stride) {
        const float orig = params[p][i];
        params[p][i] = static_cast<float>(orig + h);
        be->set_params(params);
        const double up = mean_loss(*be, v);
        params[p][i] = static_cast<float>(orig - h);
        be->set_params(params);
        const double down = mean_loss(*be, v);
        params[p][i] = orig;
        be->set_params(params);
        // The perturbation actually applied (float rounding of orig ± h).
        const double applied = (double(static_cast<float>(orig + h)) - double(static_cast<float>(orig - h)));
        const double numeric = (up - down) / applied;
        EXPECT_NEAR(grads[p][i], numeric, 2e-3 + 2e-2 * std::abs(numeric))
            << c.spec << " param " << p << "[" << i << "] one_hot=" << one_hot;
        ++checked;
      }
    }
    EXPECT_GT(checked, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(
    EveryLayer, GradientCheck,
    ::testing::Values(Case{"conv2d(3,3,relu) flatten dense(4)", {5, 5, 2}},
                      Case{"conv2d(4,3,2,same) maxpool(2) flatten dense(3)", {7, 7, 3}},
                      Case{"conv2d(2,3,same) relu maxpool(2,1) conv2d(3,2,relu) flatten dense(3,softmax)", {6, 6, 1}},
                      Case{"flatten dense(6,relu) dropout(0.3) dense(3)", {2, 2, 2}},
                      Case{"conv2d(3,5,same,relu) maxpool(2) flatten dense(8,relu) dropout(0.4) dense(4)", {6, 6, 1}}));

// Accumulating micro-batches gives the full batch's gradient, whatever the split and threads.
TEST(CpuBackend, MicroBatchesAccumulateToTheFullBatchGradient) {
  ModelSpec spec = ModelSpec::parse("conv2d(4,3,relu) maxpool(2) flatten dense(8,relu) dropout(0.2) dense(3)");
  const Hwc in{8, 8, 2};
  Batch b = random_batch(10, in, 3, 5);
  BatchView v = b.view(false);
  auto grads_for = [&](int threads, std::int64_t micro) {
    BackendConfig cfg;
    cfg.num_threads = threads;
    auto be = make_cpu_backend(spec, in, cfg);
    be->zero_grads();
    StepStats st;
    for (std::int64_t s = 0; s < v.n; s += micro) st += be->forward_backward(v, s, std::min(micro, v.n - s), 0.1f, 1);
    EXPECT_EQ(st.count, 10);
    return be->get_grads();
  };
  const auto full = grads_for(1, 10);
  for (auto [threads, micro] : {std::pair{1, 3}, std::pair{2, 10}, std::pair{2, 4}, std::pair{3, 1}}) {
    const auto g = grads_for(threads, micro);
    for (std::size_t p = 0; p < full.size(); ++p)
      for (std::size_t i = 0; i < full[p].size(); ++i)
        ASSERT_NEAR(g[p][i], full[p][i], 1e-5 + 1e-4 * std::abs(full[p][i])) << threads << " threads, micro " << micro;
  }
}

// The optimizer's arithmetic runs with denormals flushed: a weight of 1e-40 (below float32's
// normal range) updated by SGD with learning rate 0 comes out as exactly 0, not 1e-40. Without
// the flush, moments decaying through that range slow every Adam step (see cpu_backend.cc).
TEST(CpuBackend, FlushesDenormalsInItsArithmetic) {
  ModelSpec spec = ModelSpec::parse("flatten dense(3)");
  const Hwc in{2, 2, 1};
  Batch b = random_batch(4, in, 3, 9);
  BatchView v = b.view(false);
  BackendConfig cfg;
  cfg.num_threads = 2;
  cfg.optimizer.kind = OptimizerConfig::kSgd;
  cfg.optimizer.learning_rate = 0.f;
  auto be = make_cpu_backend(spec, in, cfg);
  auto params = be->get_params();
  for (auto& t : params) std::fill(t.begin(), t.end(), 1e-40f);
  ASSERT_NE(params[0][0], 0.f) << "this compiler flushes constants already";
  be->set_params(params);
  be->zero_grads();
  be->forward_backward(v, 0, v.n, 1.f / static_cast<float>(v.n), 1);
  ASSERT_TRUE(be->apply_gradients());
  for (const auto& t : be->get_params())
    for (float w : t) EXPECT_EQ(w, 0.f);
}

}  // namespace
}  // namespace stoker
