// Learning-rate schedules: Keras' CosineDecay values, and the CPU backend applying the scheduled
// rate to each update (SGD without momentum, so an update is exactly -lr * gradient).
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

TEST(LearningRateSchedule, ConstantIsTheLearningRate) {
  OptimizerConfig o;
  o.learning_rate = 0.01f;
  EXPECT_FLOAT_EQ(learning_rate_at(o, 0), 0.01f);
  EXPECT_FLOAT_EQ(learning_rate_at(o, 123456), 0.01f);
}

TEST(LearningRateSchedule, CosineMatchesKerasCosineDecay) {
  OptimizerConfig o;
  o.learning_rate = 0.01f;
  o.schedule = OptimizerConfig::kCosine;
  o.decay_steps = 100;
  o.final_fraction = 0.1f;
  auto keras = [&](double step) {
    const double t = std::min(step, 100.0) / 100;
    return 0.01 * (0.9 * 0.5 * (1 + std::cos(std::numbers::pi * t)) + 0.1);
  };
  for (std::int64_t s : {0, 1, 25, 50, 99, 100, 1000}) EXPECT_NEAR(learning_rate_at(o, s), keras(double(s)), 1e-9) << s;
  EXPECT_FLOAT_EQ(learning_rate_at(o, 0), 0.01f);
  EXPECT_NEAR(learning_rate_at(o, 50), 0.0055f, 1e-8);
  EXPECT_FLOAT_EQ(learning_rate_at(o, 100), 0.001f);
  EXPECT_FLOAT_EQ(learning_rate_at(o, 5000), 0.001f);  // held after decay_steps
}

TEST(LearningRateSchedule, AdamStepSizeIsTheScheduledRateBiasCorrected) {
  OptimizerConfig o;
  o.schedule = OptimizerConfig::kCosine;
  o.decay_steps = 4;
  for (std::int64_t t : {1, 3, 10}) {
    const kmath::AdamParams p = adam_params(o, t);
    EXPECT_FLOAT_EQ(p.lr, learning_rate_at(o, t - 1));
    const double b1 = o.beta1, b2 = o.beta2;  // Keras defaults 0.9, 0.999 as float
    EXPECT_NEAR(p.alpha, p.lr * std::sqrt(1 - std::pow(b2, double(t))) / (1 - std::pow(b1, double(t))), 1e-9);
  }
}

TEST(LearningRateSchedule, CosineWithoutDecayStepsIsRefused) {
  TrainerConfig cfg{.backend = "cpu"};
  cfg.optimizer.schedule = OptimizerConfig::kCosine;
  try {
    Trainer t(ModelSpec::from_string("flatten dense(3)", 3), {2, 2, 1}, cfg);
    FAIL() << "expected kInvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("decay_steps"), std::string::npos) << e.what();
  }
  Trainer t(ModelSpec::from_string("flatten dense(3)", 3), {2, 2, 1}, {.backend = "cpu"});
  EXPECT_THROW(t.set_optimizer(cfg.optimizer), Error);
  OptimizerConfig sgd;
  sgd.kind = OptimizerConfig::kSgd;
  EXPECT_THROW(t.set_optimizer(sgd), Error) << "Adam state cannot become SGD state";
  EXPECT_EQ(parse_schedule("cosine"), OptimizerConfig::kCosine);
  EXPECT_THROW(parse_schedule("linear"), Error);
}

TEST(LearningRateSchedule, CpuBackendUpdatesWithTheScheduledRate) {
  TrainerConfig cfg{.backend = "cpu", .batch_size = 4, .num_threads = 1, .seed = 2};
  cfg.optimizer.kind = OptimizerConfig::kSgd;
  cfg.optimizer.learning_rate = 0.5f;
  Trainer t(ModelSpec::from_string("flatten dense(3)", 3), {2, 2, 1}, cfg);
  // The schedule is set after construction, as a caller does once the batch size is planned.
  cfg.optimizer.schedule = OptimizerConfig::kCosine;
  cfg.optimizer.decay_steps = 2;
  t.set_optimizer(cfg.optimizer);

  Tensor x(DType::kF32, Shape{4, 2, 2, 1});
  Tensor y(DType::kI32, Shape{4});
  Rng rng(7);
  for (int i = 0; i < 16; ++i) x.mutable_data_as<float>()[i] = static_cast<float>(rng.uniform(-1, 1));
  for (int i = 0; i < 4; ++i) y.mutable_data_as<std::int32_t>()[i] = i % 3;
  const Element batch{x, y};

  for (std::int64_t step = 0; step < 3; ++step) {
    const auto before = t.backend().get_params();
    ASSERT_TRUE(t.train_step(batch).applied);
    const auto grads = t.backend().get_grads();
    const auto after = t.backend().get_params();
    const double lr = learning_rate_at(cfg.optimizer, step);  // 0.5, 0.25, 0 (held at the end)
    double moved = 0;
    for (std::size_t p = 0; p < after.size(); ++p) {
      for (std::size_t i = 0; i < after[p].size(); ++i) {
        EXPECT_NEAR(after[p][i], before[p][i] - lr * grads[p][i], 1e-6) << "step " << step << " tensor " << p;
        moved += std::abs(after[p][i] - before[p][i]);
      }
    }
    if (lr > 0) EXPECT_GT(moved, 0) << "step " << step;
  }
}

}  // namespace
}  // namespace stoker
