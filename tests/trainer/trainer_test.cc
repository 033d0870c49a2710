// Trainer end to end on the CPU backend: the planner's micro-batches (same update as the full
// batch), refusals that state the numbers, fit/evaluate through a real pipeline, stop flag,
// weights files, mixed precision against fp32 and loss-scale overflow handling.
#include "trainer/trainer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "tests/trainer/fp32_bounds.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;

// Class c lights up quadrant c of an HxW image (plus noise): learnable in a few epochs.
std::vector<Element> quadrant_data(int n, int hw, std::uint64_t seed, bool u8 = false, int ch = 1) {
  std::vector<Element> out;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng.uniform_int(4));
    Tensor x(u8 ? DType::kU8 : DType::kF32, Shape{hw, hw, ch});
    for (int r = 0; r < hw; ++r) {
      for (int c = 0; c < hw; ++c) {
        const bool on = (r < hw / 2) == (label / 2 == 0) && (c < hw / 2) == (label % 2 == 0);
        for (int k = 0; k < ch; ++k) {
          const double v = std::clamp((on ? 0.7 : 0.2) + 0.2 * rng.uniform(-1, 1), 0.0, 1.0);
          const int at = (r * hw + c) * ch + k;
          if (u8) x.mutable_data_as<std::uint8_t>()[at] = static_cast<std::uint8_t>(v * 255);
          else x.mutable_data_as<float>()[at] = static_cast<float>(v);
        }
      }
    }
    out.push_back(Element{x, Tensor::scalar<std::int32_t>(label)});
  }
  return out;
}

Element stack(const std::vector<Element>& elems) {
  auto it = Dataset::from_vector(elems).batch(static_cast<std::int64_t>(elems.size())).iterator({.num_threads = 1});
  return *it.next();
}

// Largest |a - b| in each tensor relative to that tensor's largest |b|: fp32 sums taken in another
// order (micro-batches, another GEMM kernel) differ by rounding that scales with the tensor, not
// with each element, so an element near zero may differ by more than its own size.
double max_tensor_rel_diff(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  double worst = 0;
  for (std::size_t p = 0; p < a.size(); ++p) {
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a[p].size(); ++i) {
      scale = std::max(scale, std::abs(double(b[p][i])));
      diff = std::max(diff, std::abs(double(a[p][i]) - b[p][i]));
    }
    worst = std::max(worst, diff / std::max(scale, 1e-30));
  }
  return worst;
}

// Two trainers that started from `before` and took one default Adam step with gradients ga and
// gb: every weight within what that step's arithmetic allows for those gradients (fp32_bounds.h).
void expect_same_first_adam_step(const std::vector<std::vector<float>>& before,
                                 const std::vector<std::vector<float>>& ga, const std::vector<std::vector<float>>& gb,
                                 const std::vector<std::vector<float>>& pa, const std::vector<std::vector<float>>& pb) {
  const OptimizerConfig opt;
  const double eps_hat = opt.epsilon / std::sqrt(1.0 - opt.beta2);
  ASSERT_EQ(pa.size(), pb.size());
  for (std::size_t p = 0; p < pa.size(); ++p) {
    for (std::size_t i = 0; i < pa[p].size(); ++i) {
      const double bound = fp32::adam_first_step_bound(ga[p][i], gb[p][i], opt.learning_rate, eps_hat, before[p][i]);
      ASSERT_NEAR(pa[p][i], pb[p][i], bound) << "tensor " << p << " [" << i << "], gradients " << ga[p][i] << " vs " << gb[p][i];
    }
  }
}

TEST(Planner, SeedModelAt128SplitsABatchOf256IntoMicroBatchesWithTheSameUpdate) {
  const ModelSpec spec = ModelSpec::preset("seed", 4);
  const Hwc in{128, 128, 3};
  TrainerConfig cfg{.backend = "cpu", .batch_size = 256, .num_threads = 2, .seed = 1};
  PlanTarget target{false, 2};
  const MemoryEstimate est = estimate_memory(spec, in, cfg.precision, cfg.optimizer.kind, target);
  cfg.memory_limit = est.fixed_bytes + 64 * est.bytes_per_sample + est.bytes_per_sample / 2;  // fits 64, not 65

  Trainer limited(spec, in, cfg);
  EXPECT_EQ(limited.plan().micro_batch, 64);
  EXPECT_EQ(limited.plan().accumulation, 4);
  cfg.memory_limit = std::size_t{64} << 30;
  Trainer full(spec, in, cfg);
  EXPECT_EQ(full.plan().micro_batch, 256);

  const Element batch = stack(quadrant_data(256, 128, 3, false, 3));
  const auto before = full.backend().get_params();
  ASSERT_EQ(before, limited.backend().get_params());  // same seed, same initial weights
  const StepReport a = limited.train_step(batch);
  const StepReport b = full.train_step(batch);
  // The loss is a mean of 256 per-sample losses. Splitting the batch changes only the GEMMs' row
  // count, not the order of each logit's dot product, so each sample's loss is the same; the sum
  // of the 256 non-negative terms is taken in two orders (4 x 64 vs 256): 2 gamma_256 of the sum,
  // plus a few ulps for the division into a mean and the conversion to double.
  EXPECT_NEAR(a.loss, b.loss, 2 * fp32::gamma(256) * std::abs(b.loss) + 8 * fp32::kU * std::abs(b.loss));
  EXPECT_EQ(a.accuracy, b.accuracy);
  // The longest accumulation is the conv kernel's gradient: batch x output positions terms
  // (256 x 126 x 126 = 4.1M), summed in another order by the micro-batches and by each OpenBLAS
  // kernel set; the worst case (n u = 0.24) is vacuous, so the probabilistic bound applies.
  const auto ga = limited.backend().get_grads(), gb = full.backend().get_grads();
  EXPECT_LT(max_tensor_rel_diff(ga, gb), 2 * fp32::probabilistic_sum_rel(std::int64_t{256} * 126 * 126));
  // Adam's first step maps g to lr g / (|g| + eps_hat): where |g| is near eps_hat the update
  // amplifies the gradients' rounding difference, so each weight is compared within the bound
  // that step's arithmetic gives for the two gradients actually computed (fp32_bounds.h).
  expect_same_first_adam_step(before, ga, gb, limited.backend().get_params(), full.backend().get_params());
  // The planner's estimate bounds what the backend really allocated.
  EXPECT_LE(limited.backend().bytes_allocated(), cfg.memory_limit);
  EXPECT_LE(limited.backend().bytes_allocated(), est.fixed_bytes + 64 * est.bytes_per_sample);
}

TEST(Planner, RefusalStatesNeededAndAvailableAndTheFix) {
  const ModelSpec spec = ModelSpec::preset("seed", 4);
  try {
    Trainer t(spec, {128, 128, 3}, {.backend = "cpu", .memory_limit = 1 << 20});
    FAIL() << "expected kOutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory);
    const std::string msg = e.what();
    EXPECT_NE(msg.find("needs"), std::string::npos) << msg;
    EXPECT_NE(msg.find("1 MiB is available"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mixed precision"), std::string::npos) << msg;
  }
}

TEST(Planner, AutoPicksTheLargestThatFits) {
  const ModelSpec spec = ModelSpec::preset("seed", 10);
  const MemoryEstimate est = estimate_memory(spec, {28, 28, 1}, Precision::kFloat32, OptimizerConfig::kAdam, {});
  const MemoryPlan p = plan_batch(est, est.fixed_bytes + 100 * est.bytes_per_sample, 0);
  EXPECT_EQ(p.batch, 100);
  EXPECT_EQ(p.micro_batch, 100);
  EXPECT_EQ(plan_batch(est, std::size_t{1} << 40, 0).batch, 4096);  // capped
  const MemoryPlan q = plan_batch(est, est.fixed_bytes + 30 * est.bytes_per_sample, 100);
  EXPECT_EQ(q.micro_batch, 30);
  EXPECT_EQ(q.accumulation, 4);
  // Mixed precision halves activations on the GPU, not on the CPU (which emulates it in fp32).
  PlanTarget gpu{true};
  EXPECT_LT(estimate_memory(spec, {28, 28, 1}, Precision::kMixedFloat16, OptimizerConfig::kAdam, gpu).bytes_per_sample,
            estimate_memory(spec, {28, 28, 1}, Precision::kFloat32, OptimizerConfig::kAdam, gpu).bytes_per_sample * 6 / 10);
}

TEST(Trainer, FitsThroughAPipelineAndEvaluates) {
  const ModelSpec spec = ModelSpec::parse("conv2d(8,3,relu) maxpool(2) flatten dense(4,softmax)");
  TrainerConfig cfg{.backend = "cpu", .num_threads = 2, .seed = 4};
  cfg.optimizer.learning_rate = 1e-2f;
  Trainer t(spec, {8, 8, 1}, cfg);
  auto train = Dataset::from_vector(quadrant_data(512, 8, 1)).shuffle(512, 9).batch(32).prefetch(2);
  auto test = Dataset::from_vector(quadrant_data(200, 8, 2)).batch(64);
  std::vector<StepReport> steps;
  FitOptions fo{.epochs = 3, .validation = test, .pipeline_options = {.num_threads = 2}};
  fo.on_step = [&](const StepReport& s) { steps.push_back(s); };
  auto reports = t.fit(train, fo);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(steps.size(), 3u * 16);
  EXPECT_EQ(reports[0].samples, 512);
  EXPECT_GE(reports[0].stall_pct, 0.0);
  EXPECT_LE(reports[0].stall_pct, 100.0);
  EXPECT_GT(reports[0].samples_per_s, 0.0);
  EXPECT_GT(reports[2].peak_rss_bytes, 0u);
  EXPECT_LT(reports[2].loss, reports[0].loss);
  ASSERT_TRUE(reports[2].validation.has_value());
  EXPECT_EQ(reports[2].validation->samples, 200);
  EXPECT_GT(reports[2].validation->accuracy, 0.9) << reports[2].to_string();
}

TEST(Trainer, FitEpochConsumesAnyIteratorAndStepsPerEpoch) {
  const ModelSpec spec = ModelSpec::parse("flatten dense(4)");
  Trainer t(spec, {4, 4, 1}, {.backend = "cpu", .num_threads = 1});
  // An iterator whose batches come from a generator, not from batch(): the trainer only sees Elements.
  const auto data = quadrant_data(40, 4, 8);
  int made = 0;
  auto gen = Dataset::from_generator([&] {
    return Generator([&, i = 0]() mutable -> std::optional<Element> {
      if (i >= 4) return std::nullopt;
      ++made;
      const auto first = data.begin() + i * 10;
      ++i;
      return stack({first, first + 10});
    });
  });
  Iterator it = gen.repeat().iterator({.num_threads = 1});
  FitOptions fo;
  fo.steps_per_epoch = 6;
  const EpochReport r = t.fit_epoch(it, fo, 0);
  EXPECT_EQ(r.steps, 6);
  EXPECT_EQ(r.samples, 60);
  EXPECT_EQ(t.steps(), 6);
  EXPECT_GE(made, 6);
  // Three more epochs of 6 steps from the same running iterator.
  fo.epochs = 3;
  const auto reports = t.fit(it, fo);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[2].epoch, 2);
  EXPECT_EQ(t.steps(), 24);
}

TEST(Trainer, Uint8ImagesWithInputScaleTrainLikeFloats) {
  const ModelSpec spec = ModelSpec::parse("flatten dense(4)");
  const auto u8 = quadrant_data(16, 4, 5, true);
  std::vector<Element> f;
  for (const auto& e : u8) {
    Tensor x(DType::kF32, e[0].shape());
    for (int i = 0; i < 16; ++i) x.mutable_data_as<float>()[i] = e[0].data_as<std::uint8_t>()[i] / 255.f;
    f.push_back(Element{x, e[1]});
  }
  Trainer a(spec, {4, 4, 1}, {.backend = "cpu", .num_threads = 1, .input_scale = 1.f / 255, .seed = 2});
  Trainer b(spec, {4, 4, 1}, {.backend = "cpu", .num_threads = 1, .seed = 2});
  const auto before = a.backend().get_params();
  ASSERT_EQ(before, b.backend().get_params());
  // x * (1/255) and x / 255 differ by at most one rounding (u relative); through a 16-term dot
  // product and a 4-way softmax the per-sample loss moves by at most gamma_17 of sum |w x| (< 1
  // here: |w| < 1, x <= 1); the mean of 16 such losses keeps that bound.
  EXPECT_NEAR(a.train_step(stack(u8)).loss, b.train_step(stack(f)).loss, 16 * fp32::gamma(17));
  expect_same_first_adam_step(before, a.backend().get_grads(), b.backend().get_grads(), a.backend().get_params(),
                              b.backend().get_params());
}

TEST(Trainer, BadBatchesAreRefusedWithTheShapes) {
  Trainer t(ModelSpec::parse("flatten dense(4)"), {4, 4, 1}, {.backend = "cpu"});
  Element wrong_image{Tensor(DType::kF32, Shape{2, 5, 4, 1}), Tensor(DType::kI32, Shape{2})};
  EXPECT_THROW(t.train_step(wrong_image), Error);
  Element wrong_labels{Tensor(DType::kF32, Shape{2, 4, 4, 1}), Tensor(DType::kF32, Shape{2, 3})};
  EXPECT_THROW(t.train_step(wrong_labels), Error);
  Element bad_label = stack(quadrant_data(2, 4, 1));
  bad_label[1].mutable_data_as<std::int32_t>()[1] = 7;
  try {
    t.train_step(bad_label);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("label 7"), std::string::npos) << e.what();
  }
  // A failed step leaves no partial gradient behind: the next step equals a fresh trainer's.
  Trainer fresh(ModelSpec::parse("flatten dense(4)"), {4, 4, 1}, {.backend = "cpu"});
  const Element good = stack(quadrant_data(2, 4, 1));
  t.train_step(good);
  fresh.train_step(good);
  EXPECT_EQ(t.backend().get_params(), fresh.backend().get_params());
}

class TrainerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stoker_trainer_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TrainerFiles, StopFlagEndsAfterTheCurrentStepAndSavesWeights) {
  const ModelSpec spec = ModelSpec::parse("conv2d(4,3,relu) flatten dense(4)");
  Trainer t(spec, {8, 8, 1}, {.backend = "cpu", .num_threads = 2});
  std::atomic<bool> stop{false};
  const std::string path = (dir_ / "stopped.stkw").string();
  FitOptions fo{.epochs = 5};
  fo.stop = &stop;
  fo.save_on_stop = path;
  int steps = 0;
  fo.on_step = [&](const StepReport&) {
    if (++steps == 2) stop = true;  // as a SIGINT handler would
  };
  auto reports = t.fit(Dataset::from_vector(quadrant_data(64, 8, 1)).batch(8), fo);
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(reports[0].stopped);
  EXPECT_EQ(reports[0].steps, 2);
  ASSERT_TRUE(fs::exists(path));
  Trainer u(spec, {8, 8, 1}, {.backend = "cpu", .seed = 77});
  u.load_weights(path);
  EXPECT_EQ(u.backend().get_params(), t.backend().get_params());
}

TEST_F(TrainerFiles, WeightsFromAnotherModelOrACutFileAreRefused) {
  const std::string path = (dir_ / "w.stkw").string();
  Trainer t(ModelSpec::parse("flatten dense(4)"), {4, 4, 1}, {.backend = "cpu"});
  t.save_weights(path);
  Trainer other(ModelSpec::parse("flatten dense(3)"), {4, 4, 1}, {.backend = "cpu"});
  try {
    other.load_weights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("w.stkw"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dense(4)"), std::string::npos) << e.what();
  }
  Trainer wrong_input(ModelSpec::parse("flatten dense(4)"), {2, 8, 1}, {.backend = "cpu"});
  EXPECT_THROW(wrong_input.load_weights(path), Error);
  fs::resize_file(path, fs::file_size(path) - 3);
  try {
    t.load_weights(path);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
  }
  std::ofstream((dir_ / "junk").string()) << "definitely not weights";
  EXPECT_THROW(t.load_weights((dir_ / "junk").string()), Error);
}

TEST(MixedPrecision, TracksFloat32WithinTolerance) {
  const ModelSpec spec = ModelSpec::parse("conv2d(8,3,relu) maxpool(2) flatten dense(16,relu) dense(4)");
  const auto data = quadrant_data(64, 8, 3);
  std::vector<Element> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(stack({data.begin() + i * 16, data.begin() + (i + 1) * 16}));
  auto run = [&](Precision p) {
    Trainer t(spec, {8, 8, 1}, {.backend = "cpu", .precision = p, .num_threads = 2, .seed = 6});
    std::vector<double> losses;
    for (int epoch = 0; epoch < 3; ++epoch)
      for (const auto& b : batches) {
        StepReport r = t.train_step(b);
        EXPECT_TRUE(r.applied);
        losses.push_back(r.loss);
      }
    return std::pair{losses, t.backend().get_params()};
  };
  const auto [l32, p32] = run(Precision::kFloat32);
  const auto [l16, p16] = run(Precision::kMixedFloat16);
  const auto [lbf, pbf] = run(Precision::kMixedBFloat16);
  for (std::size_t i = 0; i < l32.size(); ++i) {
    EXPECT_NEAR(l16[i], l32[i], 5e-3 * l32[i] + 1e-3) << "step " << i;
    EXPECT_NEAR(lbf[i], l32[i], 3e-2 * l32[i] + 1e-2) << "step " << i;
  }
  // Weights stay within a few fp16 / bf16 ulps of a step (lr 1e-3) of the fp32 run.
  double worst16 = 0, worstbf = 0;
  for (std::size_t p = 0; p < p32.size(); ++p)
    for (std::size_t i = 0; i < p32[p].size(); ++i) {
      worst16 = std::max(worst16, double(std::abs(p16[p][i] - p32[p][i])));
      worstbf = std::max(worstbf, double(std::abs(pbf[p][i] - p32[p][i])));
    }
  EXPECT_LT(worst16, 4e-3);
  EXPECT_LT(worstbf, 1.2e-2);
}

TEST(MixedPrecision, OverflowingGradientsSkipTheStepAndHalveTheScale) {
  const ModelSpec spec = ModelSpec::parse("flatten dense(8,relu) dense(4)");
  Trainer t(spec, {4, 4, 1}, {.backend = "cpu", .precision = Precision::kMixedFloat16, .seed = 1});
  EXPECT_EQ(t.backend().loss_scaler().scale, 32768.f);
  LossScaler huge = t.backend().loss_scaler();
  huge.scale = 1e30f;  // loss * scale overflows fp16 in the first activation gradient
  t.backend().set_loss_scaler(huge);
  const auto before = t.backend().get_params();
  const Element batch = stack(quadrant_data(8, 4, 2));
  StepReport r = t.train_step(batch);
  EXPECT_FALSE(r.applied);
  EXPECT_EQ(r.loss_scale, 5e29f);
  EXPECT_EQ(t.backend().get_params(), before);
  LossScaler ok = t.backend().loss_scaler();
  ok.scale = 1024.f;
  t.backend().set_loss_scaler(ok);
  r = t.train_step(batch);
  EXPECT_TRUE(r.applied);
  EXPECT_NE(t.backend().get_params(), before);
}

}  // namespace
}  // namespace stoker
