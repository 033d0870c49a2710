// Training checkpoints: the file round-trips every field; a truncated, corrupt or foreign file
// is refused naming the file; and Trainer::fit resumed from a checkpoint taken mid-epoch (with a
// shuffling, dropout-using pipeline) ends with exactly the weights and epoch figures of an
// uninterrupted fit.
#include "trainer/checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;

std::vector<Element> random_data(int n, int hw, std::uint64_t seed) {
  std::vector<Element> out;
  Rng rng(seed);
  for (int i = 0; i < n; ++i) {
    const int label = static_cast<int>(rng.uniform_int(3));
    Tensor x(DType::kF32, Shape{hw, hw, 1});
    for (int k = 0; k < hw * hw; ++k) x.mutable_data_as<float>()[k] = static_cast<float>(rng.uniform() + 0.3 * label);
    out.push_back(Element{x, Tensor::scalar<std::int32_t>(label)});
  }
  return out;
}

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stoker_ckpt_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& n) const { return (dir_ / n).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static void dump(const std::string& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  }
  fs::path dir_;
};

TEST_F(Checkpoint, RoundTripsEveryField) {
  TrainingCheckpoint c;
  c.model = "flatten dense(3,softmax)";
  c.input = {4, 5, 1};
  c.precision = Precision::kMixedFloat16;
  c.optimizer.learning_rate = 0.01f;
  c.optimizer.schedule = OptimizerConfig::kCosine;
  c.optimizer.decay_steps = 77;
  c.seed = 123456789012345ULL;
  c.steps = 41;
  c.params = {{1.f, -2.5f, 3e-30f}, {}, {7.f}};
  c.optimizer_state = {40, {{0.1f, 0.2f, 0.3f}, {}, {0.4f}}, {{1e-8f, 2e-8f, 3e-8f}, {}, {5e-9f}},
                       {.dynamic = true, .scale = 1024.f, .good_steps = 17}};
  c.position = {.epoch = 2, .batches = 9, .steps = 8, .samples = 250, .skipped_steps = 1, .loss_sum = 123.456789,
                .correct = 201};
  c.run_key = "batch 32";
  write_checkpoint(path("c.ckpt"), c);
  for (const auto& f : fs::directory_iterator(dir_)) EXPECT_EQ(f.path().filename(), "c.ckpt");  // no temp left
  const TrainingCheckpoint r = read_checkpoint(path("c.ckpt"));
  EXPECT_EQ(r.model, c.model);
  EXPECT_EQ(r.input, c.input);
  EXPECT_EQ(r.precision, c.precision);
  EXPECT_EQ(r.optimizer.schedule, c.optimizer.schedule);
  EXPECT_EQ(r.optimizer.decay_steps, 77);
  EXPECT_EQ(r.optimizer.learning_rate, 0.01f);
  EXPECT_EQ(r.seed, c.seed);
  EXPECT_EQ(r.steps, 41);
  EXPECT_EQ(r.params, c.params);
  EXPECT_EQ(r.optimizer_state.applied, 40);
  EXPECT_EQ(r.optimizer_state.m, c.optimizer_state.m);
  EXPECT_EQ(r.optimizer_state.v, c.optimizer_state.v);
  EXPECT_TRUE(r.optimizer_state.scaler.dynamic);
  EXPECT_EQ(r.optimizer_state.scaler.scale, 1024.f);
  EXPECT_EQ(r.optimizer_state.scaler.good_steps, 17);
  EXPECT_EQ(r.position.epoch, 2);
  EXPECT_EQ(r.position.batches, 9);
  EXPECT_EQ(r.position.samples, 250);
  EXPECT_EQ(r.position.loss_sum, 123.456789);
  EXPECT_EQ(r.run_key, "batch 32");
}

TEST_F(Checkpoint, TruncatedCorruptOrForeignFilesAreRefusedNamingTheFile) {
  TrainingCheckpoint c;
  c.model = "flatten dense(3)";
  c.params = {std::vector<float>(1000, 0.5f)};
  write_checkpoint(path("c.ckpt"), c);
  const std::string good = slurp(path("c.ckpt"));
  auto code_of = [&](const std::string& bytes, const std::string& expect) {
    dump(path("bad.ckpt"), bytes);
    try {
      read_checkpoint(path("bad.ckpt"));
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path("bad.ckpt")), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
      return e.code();
    }
    ADD_FAILURE() << "accepted a bad file (" << expect << ")";
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of(good.substr(0, good.size() - 1), "truncated or appended"), ErrorCode::kDataLoss);
  EXPECT_EQ(code_of(good.substr(0, 10), "truncated while reading the header"), ErrorCode::kDataLoss);
  std::string flipped = good;
  flipped[good.size() - 100] ^= 0x10;
  EXPECT_EQ(code_of(flipped, "checksum mismatch"), ErrorCode::kDataLoss);
  std::string version = good;
  version[8] = 9;
  EXPECT_EQ(code_of(version, "format version 9"), ErrorCode::kUnsupported);
  EXPECT_EQ(code_of("STKWGT01 and more bytes than a header", "bad magic"), ErrorCode::kDataLoss);
  EXPECT_THROW(read_checkpoint(path("missing.ckpt")), Error);
}

// A mid-epoch checkpoint, restored into a fresh Trainer, continues bit for bit: same weights,
// same epoch figures as the fit that was never interrupted. The pipeline shuffles (seeded from
// Options, so each epoch differs) and the model has dropout keyed by the step, so the position,
// the seed and the step count all have to be right.
// Run plain (host batches) and through a DeviceFeeder (host mode on the CPU backend), which reads
// batches ahead of the step: the checkpoint's position must count the trained batches.
class CheckpointFit : public Checkpoint, public ::testing::WithParamInterface<bool> {};
INSTANTIATE_TEST_SUITE_P(Paths, CheckpointFit, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "DeviceFeeder" : "HostBatches"; });

TEST_P(CheckpointFit, FitResumedMidEpochMatchesAnUninterruptedFitExactly) {
  const ModelSpec spec = ModelSpec::parse("conv2d(4,3,relu) flatten dropout(0.3) dense(3,softmax)");
  const TrainerConfig cfg{.backend = "cpu", .num_threads = 2, .seed = 5};
  const Dataset train = Dataset::from_vector(random_data(100, 6, 1)).shuffle(40).batch(8).prefetch(2);
  FitOptions fo{.epochs = 3, .pipeline_options = {.num_threads = 2, .seed = 11}};
  fo.device_feeder = GetParam();

  Trainer full(spec, {6, 6, 1}, cfg);
  const auto want = full.fit(train, fo);

  // Stop in epoch 2 at step 20 (13 steps per epoch), keeping the checkpoint taken there.
  std::optional<TrainingCheckpoint> saved;
  std::atomic<bool> stop{false};
  Trainer first(spec, {6, 6, 1}, cfg);
  FitOptions fo1 = fo;
  fo1.checkpoint_every = 4;
  fo1.stop = &stop;
  fo1.on_step = [&](const StepReport& s) { stop.store(s.step == 22); };
  fo1.on_checkpoint = [&](const FitPosition& p) {
    if (!saved || first.steps() == 20) saved = first.checkpoint(p);
  };
  first.fit(train, fo1);
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->steps, 20);
  EXPECT_EQ(saved->position.epoch, 1);
  EXPECT_EQ(saved->position.batches, 7);
  write_checkpoint(path("mid.ckpt"), *saved);

  Trainer resumed(spec, {6, 6, 1}, cfg);
  FitOptions fo2 = fo;
  fo2.resume = resumed.restore(read_checkpoint(path("mid.ckpt")));
  const auto got = resumed.fit(train, fo2);
  ASSERT_EQ(got.size(), 2u);  // epochs 2 and 3
  EXPECT_EQ(resumed.steps(), full.steps());
  EXPECT_EQ(resumed.backend().get_params(), full.backend().get_params());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].epoch, want[i + 1].epoch);
    EXPECT_EQ(got[i].steps, want[i + 1].steps);
    EXPECT_EQ(got[i].samples, want[i + 1].samples);
    EXPECT_EQ(got[i].loss, want[i + 1].loss);
    EXPECT_EQ(got[i].accuracy, want[i + 1].accuracy);
  }
  // Without the position (weights and optimizer only) the run is different: the test can fail.
  Trainer naive(spec, {6, 6, 1}, cfg);
  naive.restore(*saved);
  FitOptions fo3 = fo;
  fo3.resume = FitPosition{.epoch = 1};
  naive.fit(train, fo3);
  EXPECT_NE(naive.backend().get_params(), full.backend().get_params());
}

// A pipeline whose position cannot be saved (a user generator) is refused when the first
// mid-epoch checkpoint is taken, naming the stage, instead of writing a checkpoint that would
// resume somewhere else.
TEST_F(Checkpoint, MidEpochCheckpointOfAGeneratorPipelineIsRefusedNamingTheStage) {
  const ModelSpec spec = ModelSpec::parse("flatten dense(3,softmax)");
  Trainer t(spec, {6, 6, 1}, {.backend = "cpu", .num_threads = 1});
  const std::vector<Element> data = random_data(32, 6, 3);
  const Dataset gen = Dataset::from_generator([&data] {
    return Generator([&data, i = std::size_t{0}]() mutable -> std::optional<Element> {
      if (i == data.size()) return std::nullopt;
      return data[i++];
    });
  }, "my_records").batch(8);
  FitOptions fo{.epochs = 1, .pipeline_options = {.num_threads = 1}};
  fo.checkpoint_every = 2;
  fo.on_checkpoint = [](const FitPosition&) { ADD_FAILURE() << "checkpoint taken"; };
  try {
    t.fit(gen, fo);
    ADD_FAILURE() << "fit checkpointed a generator pipeline";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("stage 'my_records': a user generator"), std::string::npos) << e.what();
  }
}

TEST_F(Checkpoint, RestoreRefusesAnotherModelOrSeed) {
  const ModelSpec spec = ModelSpec::parse("flatten dense(3,softmax)");
  Trainer t(spec, {4, 4, 1}, {.backend = "cpu", .num_threads = 1, .seed = 1});
  const TrainingCheckpoint c = t.checkpoint({});
  Trainer other_seed(spec, {4, 4, 1}, {.backend = "cpu", .num_threads = 1, .seed = 2});
  EXPECT_THROW(other_seed.restore(c), Error);
  Trainer other_input(spec, {4, 5, 1}, {.backend = "cpu", .num_threads = 1, .seed = 1});
  try {
    other_input.restore(c);
    ADD_FAILURE() << "restored onto another input";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 4x4x1, not 4x5x1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stoker
