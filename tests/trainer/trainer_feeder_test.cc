// The Trainer fed by a DeviceFeeder (ring -> feeder -> backend) against the serial path: the same
// batches in the same order give the same weights, micro-batches are slices of the one device
// batch, and each batch is released once its step is queued. Host-mode feeder + CPU backend here;
// the CUDA cases skip without a device.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "device/cuda_check.h"
#include "device/device_feeder.h"
#include "device/pinned_ring.h"
#include "pipeline/rng.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

std::vector<Element> random_rows(int n, int hw, int classes, std::uint64_t seed) {
  std::vector<Element> out;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    Tensor x(DType::kU8, Shape{hw, hw, 1});
    for (std::int64_t k = 0; k < x.shape().num_elements(); ++k) {
      x.mutable_data_as<std::uint8_t>()[k] = static_cast<std::uint8_t>(rng.uniform_int(256));
    }
    out.push_back(Element{x, Tensor::scalar<std::int32_t>(static_cast<std::int32_t>(rng.uniform_int(classes)))});
  }
  return out;
}

// A config whose planner splits a batch of 32 into micro-batches of 10 (10, 10, 10, 2).
TrainerConfig micro_config(const std::string& backend, const ModelSpec& spec, const Hwc& in) {
  TrainerConfig cfg{.backend = backend, .batch_size = 32, .num_threads = 1, .input_scale = 1.f / 255, .seed = 3};
  Trainer probe(spec, in, cfg);
  const MemoryEstimate est =
      estimate_memory(spec, in, cfg.precision, cfg.optimizer.kind, probe.backend().plan_target());
  cfg.memory_limit = est.fixed_bytes + 10 * est.bytes_per_sample + est.bytes_per_sample / 2;
  return cfg;
}

std::vector<std::vector<float>> train(const std::string& backend, bool feeder, std::vector<EpochReport>* reports) {
  const ModelSpec spec = ModelSpec::preset("seed", 4);
  const Hwc in{12, 12, 1};
  Trainer t(spec, in, micro_config(backend, spec, in));
  EXPECT_EQ(t.plan().micro_batch, 10);
  EXPECT_EQ(t.plan().batch, 32);
  const Dataset ds = Dataset::from_vector(random_rows(100, 12, 4, 7)).batch(32).prefetch(2);
  FitOptions fo;
  fo.epochs = 2;
  fo.pipeline_options.num_threads = 1;
  fo.device_feeder = feeder;
  const Element row{Tensor(DType::kU8, Shape{12, 12, 1}), Tensor(DType::kI64, Shape{})};
  fo.pipeline_options.batch_allocator =
      std::make_shared<PinnedRing>(PinnedRing::slot_bytes_for(row, 32), 4, RingMemory::kAuto);
  *reports = t.fit(ds, fo);
  return t.backend().get_params();
}

TEST(TrainerFeeder, HostModeFeederGivesTheSameWeightsAsTheSerialPath) {
  std::vector<EpochReport> fed, serial;
  const auto a = train("cpu", true, &fed);
  const auto b = train("cpu", false, &serial);
  // Same bytes through the same CPU arithmetic in the same order: bit-identical.
  ASSERT_EQ(a, b);
  ASSERT_EQ(fed.size(), 2u);
  for (const EpochReport& r : fed) {
    ASSERT_TRUE(r.feeder.has_value());
    EXPECT_TRUE(r.feeder->host_mode);
    EXPECT_EQ(r.feeder->batches, 4u);  // 100 rows / 32 -> 4 batches (the last of 4 rows)
    EXPECT_EQ(r.steps, 4);
    EXPECT_EQ(r.samples, 100);
  }
  for (const EpochReport& r : serial) EXPECT_FALSE(r.feeder.has_value());
}

TEST(TrainerFeeder, ReleasesTheBatchOnceItsStepIsQueuedAndRefusesAReleasedOne) {
  const ModelSpec spec = ModelSpec::preset("seed", 4);
  const Hwc in{12, 12, 1};
  Trainer t(spec, in, micro_config("cpu", spec, in));
  // One buffer: the next batch can only be copied after the trainer released the previous one.
  DeviceFeeder feeder(Dataset::from_vector(random_rows(64, 12, 4, 1)).batch(32).iterator({.num_threads = 1}),
                      {.num_buffers = 1, .backend = FeederBackend::kHost});
  for (int i = 0; i < 2; ++i) {
    std::optional<DeviceBatch> b = feeder.next();
    ASSERT_TRUE(b.has_value());
    EXPECT_EQ(b->tensors[0].device, DeviceTensor::kHostDevice);
    const StepReport s = t.train_step(*b);
    EXPECT_EQ(s.samples, 32);
    EXPECT_TRUE(b->released()) << "step " << i;
    try {
      t.train_step(*b);
      ADD_FAILURE() << "a released batch was trained on";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
      EXPECT_NE(e.message().find("already released"), std::string::npos) << e.message();
    }
  }
  EXPECT_FALSE(feeder.next().has_value());
}

TEST(TrainerFeeder, ThePlannerReservesTheFeederBuffers) {
  const ModelSpec spec = ModelSpec::preset("seed", 4);
  const Hwc in{12, 12, 1};
  const std::size_t per_sample = 12 * 12 * 1 * 4 + 8;  // float32 images + int64 label
  TrainerConfig cfg{.backend = "cpu", .batch_size = 32, .num_threads = 1};
  const MemoryPlan alone = Trainer(spec, in, cfg).plan();
  cfg.device_batch_buffers = 2;
  const MemoryPlan fed = Trainer(spec, in, cfg).plan();
  EXPECT_EQ(fed.estimate.fixed_bytes, alone.estimate.fixed_bytes + 2 * 32 * per_sample);
  EXPECT_EQ(fed.estimate.bytes_per_sample, alone.estimate.bytes_per_sample);
  // Auto batch: the buffers hold one batch = one micro-batch each, so they scale per sample.
  cfg.batch_size = 0;
  cfg.memory_limit = alone.estimate.fixed_bytes + 1000 * alone.estimate.bytes_per_sample;
  const MemoryPlan auto_alone = Trainer(spec, in, TrainerConfig{cfg.backend, cfg.precision, cfg.optimizer, 0,
                                                                cfg.memory_limit, 1}).plan();
  const MemoryPlan auto_fed = Trainer(spec, in, cfg).plan();
  EXPECT_EQ(auto_alone.batch, 1000);
  EXPECT_EQ(auto_fed.estimate.bytes_per_sample, auto_alone.estimate.bytes_per_sample + 2 * per_sample);
  EXPECT_LT(auto_fed.batch, auto_alone.batch);
}

TEST(TrainerFeeder, CudaFeederPathMatchesTheSerialPath) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  std::vector<EpochReport> fed, serial;
  const auto a = train("cuda", true, &fed);
  const auto b = train("cuda", false, &serial);
  // Same kernels on the same bytes; only cuDNN's choice of algorithm (and its summation order)
  // may differ between runs: within the fp32 tolerance of cuda_backend_test (1e-3 rel + 1e-5).
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t p = 0; p < a.size(); ++p) {
    for (std::size_t i = 0; i < a[p].size(); ++i) ASSERT_NEAR(a[p][i], b[p][i], 1e-5 + 1e-3 * std::abs(b[p][i]));
  }
  for (const EpochReport& r : fed) {
    ASSERT_TRUE(r.feeder.has_value());
    EXPECT_FALSE(r.feeder->host_mode);
    EXPECT_EQ(r.feeder->batches, 4u);
    std::printf("feeder (trainer, seed model 12x12): %s\n", r.feeder->to_string().c_str());
  }
}

}  // namespace
}  // namespace stoker
