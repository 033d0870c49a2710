// The proof that a killed training resumes exactly: `stoker` runs as a real child process, is
// SIGKILLed mid-epoch once a mid-epoch checkpoint exists, and `--resume` finishes the run. With
// the same --threads the final weights are bit-identical to an uninterrupted run's and every
// epoch's log line (steps, samples, loss, accuracy, validation) matches. With another --threads
// the data position is still exact; the weights differ only by the CPU backend's summation order
// and stay within the bound derived below.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_test_util.h"
#include "trainer/checkpoint.h"
#include "trainer/trainer.h"

extern char** environ;

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;

// A running `stoker` process; stdout and stderr go to `log`.
class Child {
 public:
  Child(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> all{STOKER_BINARY};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ > 0 && !waited_) {
      kill(pid_, SIGKILL);
      wait();
    }
  }
  pid_t pid() const { return pid_; }
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    waited_ = true;
    return status;
  }
  bool running() {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == 0) return true;
    waited_ = true;
    return false;
  }

 private:
  pid_t pid_ = -1;
  bool waited_ = false;
};

int run_to_end(const std::vector<std::string>& args, const std::string& log) {
  Child c(args, log);
  const int status = c.wait();
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The last log line of each epoch (a resumed run appends; an epoch redone after a kill appears again).
std::map<int, nlohmann::json> epochs_of(const std::string& log_text) {
  std::map<int, nlohmann::json> out;
  std::stringstream ss(log_text);
  for (std::string line; std::getline(ss, line);) {
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line);
    if (!j.at("stopped").get<bool>()) out[j.at("epoch").get<int>()] = j;
  }
  return out;
}

class Resume : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    CliResult r = run_cli({"make-dataset", path("s.h5"), "--n", "600", "--test-n", "100", "--size", "28", "--classes", "4"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  // Three epochs of 38 steps (600 / 16, the last batch of 8), validated after each; `over`
  // replaces flags (a flag may be given once).
  std::vector<std::string> train_args(const std::string& threads, std::map<std::string, std::string> over = {}) const {
    std::map<std::string, std::string> f = {{"epochs", std::to_string(kEpochs)}, {"batch", "16"}, {"lr", "0.003"},
                                            {"seed", "7"}, {"shuffle-buffer", "200"}, {"memory-budget", "64M"},
                                            {"progress", "line"}, {"device", "cpu"}, {"val-images", "/test/images"},
                                            {"val-labels", "/test/labels"}, {"data", path("s.h5")}};
    f["threads"] = threads;
    for (auto& [k, v] : over) f[k] = v;
    std::vector<std::string> out{"train"};
    for (auto& [k, v] : f) out.insert(out.end(), {"--" + k, v});
    return out;
  }
  static std::vector<std::string> plus(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
  // Starts a checkpointing run and SIGKILLs it once its checkpoint is mid-way through epoch 2.
  FitPosition run_and_kill(const std::string& ckpt, const std::string& log) {
    Child child(plus(train_args("2"), {"--checkpoint", ckpt, "--checkpoint-every", "5", "--log", log}), path("killed.out"));
    EXPECT_GT(child.pid(), 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (std::chrono::steady_clock::now() < deadline && child.running()) {
      if (fs::exists(ckpt)) {
        const FitPosition p = read_checkpoint(ckpt).position;  // atomic rename: always a whole file
        if (p.epoch == 1 && p.batches > 0) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_TRUE(child.running()) << "the run ended before it could be killed mid-epoch:\n" << read_text(path("killed.out"));
    kill(child.pid(), SIGKILL);
    const int status = child.wait();
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    return read_checkpoint(ckpt).position;
  }

  static constexpr int kEpochs = 3;
};

TEST_F(Resume, KilledMidEpochThenResumedGivesBitIdenticalWeightsAndLogs) {
  ASSERT_EQ(run_to_end(plus(train_args("2"), {"--save", path("a.stkw"), "--log", path("a.jsonl")}), path("a.out")), 0)
      << read_text(path("a.out"));

  const FitPosition at = run_and_kill(path("b.ckpt"), path("b.jsonl"));
  EXPECT_GE(at.epoch, 1);
  fs::copy_file(path("b.ckpt"), path("c.ckpt"));  // for the other thread count below
  ASSERT_EQ(run_to_end(plus(train_args("2"), {"--resume", path("b.ckpt"), "--save", path("b.stkw"), "--log", path("b.jsonl")}),
                       path("b.out")), 0)
      << read_text(path("b.out"));
  EXPECT_NE(read_text(path("b.out")).find("resumed from"), std::string::npos) << read_text(path("b.out"));

  // Bit-identical weights: the same bytes on disk.
  const std::string wa = read_text(path("a.stkw")), wb = read_text(path("b.stkw"));
  ASSERT_FALSE(wa.empty());
  EXPECT_TRUE(wa == wb) << "the resumed run's weights differ from the uninterrupted run's";
  // Every epoch's figures match exactly (JSON numbers round-trip doubles).
  const auto ea = epochs_of(read_text(path("a.jsonl"))), eb = epochs_of(read_text(path("b.jsonl")));
  ASSERT_EQ(ea.size(), static_cast<std::size_t>(kEpochs));
  ASSERT_EQ(eb.size(), ea.size()) << read_text(path("b.jsonl"));
  for (const auto& [epoch, a] : ea) {
    for (const char* key : {"steps", "samples", "loss", "accuracy", "val_loss", "val_accuracy", "skipped_steps"}) {
      EXPECT_EQ(a.at(key), eb.at(epoch).at(key)) << "epoch " << epoch << " " << key;
    }
  }

  // Another thread count (1 instead of 2) from the same checkpoint. The pipeline's order does not
  // depend on threads, so the steps and samples match exactly. The CPU backend splits each batch
  // into one chunk per thread and sums the chunks' gradients in chunk order, so the gradients
  // differ in rounding and the weights drift apart. Bound on that drift, whatever the gradients:
  // one Keras Adam update moves a weight by lr * sqrt(1-b2^t)/(1-b1^t) * |m|/(sqrt(v)+eps), and
  // Cauchy-Schwarz over m's geometric sum gives |m| <= (1-b1) sqrt(v / ((1-b2)(1-b1^2/b2)))
  // = 7.27 sqrt(v) for b1 0.9, b2 0.999. Both runs start from the checkpoint's weights, so after
  // the K updates left they differ by at most 2 * sum over those updates of that step bound.
  const TrainingCheckpoint ck = read_checkpoint(path("c.ckpt"));  // before the run below overwrites it
  ASSERT_EQ(run_to_end(plus(train_args("1"), {"--resume", path("c.ckpt"), "--save", path("c.stkw"), "--log", path("c.jsonl")}),
                       path("c.out")), 0)
      << read_text(path("c.out"));
  const std::int64_t total_steps = kEpochs * 38;
  const double lr = 0.003, b1 = 0.9, b2 = 0.999;
  const double mv = (1 - b1) / std::sqrt((1 - b2) * (1 - b1 * b1 / b2));
  double bound = 0;
  for (std::int64_t t = ck.optimizer_state.applied + 1; t <= total_steps; ++t) {
    bound += 2 * lr * std::sqrt(1 - std::pow(b2, t)) / (1 - std::pow(b1, t)) * mv;
  }
  const ModelSpec spec = ModelSpec::from_string("seed", 4);
  const auto pa = load_weights_file(path("a.stkw"), spec, {28, 28, 3});
  const auto pc = load_weights_file(path("c.stkw"), spec, {28, 28, 3});
  double worst = 0;
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (std::size_t k = 0; k < pa[i].size(); ++k) worst = std::max(worst, std::abs(double(pa[i][k]) - pc[i][k]));
  EXPECT_LE(worst, bound);
  std::printf("other --threads: largest weight difference %.3g (bound %.3g over %lld updates)\n", worst, bound,
              static_cast<long long>(total_steps - ck.optimizer_state.applied));
  const auto ec = epochs_of(read_text(path("c.jsonl")));
  for (const auto& [epoch, c] : ec) {
    EXPECT_EQ(c.at("steps"), ea.at(epoch).at("steps")) << "epoch " << epoch;
    EXPECT_EQ(c.at("samples"), ea.at(epoch).at("samples")) << "epoch " << epoch;
  }
  EXPECT_EQ(ec.rbegin()->first, kEpochs);
}

// Ctrl-C (SIGINT) stops after the current step and writes a checkpoint at that step (exit 130);
// resuming from it ends with the uninterrupted run's weights.
TEST_F(Resume, CtrlCWritesACheckpointToResumeFrom) {
  ASSERT_EQ(run_to_end(plus(train_args("2"), {"--save", path("a.stkw")}), path("a.out")), 0) << read_text(path("a.out"));
  {
    Child child(plus(train_args("2"), {"--checkpoint", path("i.ckpt"), "--log", path("i.jsonl")}), path("i.out"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    while (read_text(path("i.jsonl")).empty() && std::chrono::steady_clock::now() < deadline && child.running()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ASSERT_TRUE(child.running()) << read_text(path("i.out"));
    kill(child.pid(), SIGINT);
    const int status = child.wait();
    ASSERT_TRUE(WIFEXITED(status)) << read_text(path("i.out"));
    EXPECT_EQ(WEXITSTATUS(status), kExitInterrupted) << read_text(path("i.out"));
  }
  EXPECT_NE(read_text(path("i.out")).find("checkpoint written to " + path("i.ckpt")), std::string::npos)
      << read_text(path("i.out"));
  const FitPosition p = read_checkpoint(path("i.ckpt")).position;
  EXPECT_GE(p.epoch, 1);
  EXPECT_GT(p.batches, 0);  // the step Ctrl-C interrupted, not an epoch boundary
  ASSERT_EQ(run_to_end(plus(train_args("2"), {"--resume", path("i.ckpt"), "--save", path("i.stkw")}), path("r.out")), 0)
      << read_text(path("r.out"));
  EXPECT_TRUE(read_text(path("a.stkw")) == read_text(path("i.stkw")));
}

TEST_F(Resume, CheckpointOfAnotherRunOrACorruptOneIsRefused) {
  ASSERT_EQ(run_to_end(plus(train_args("2", {{"epochs", "1"}}), {"--checkpoint", path("x.ckpt")}), path("x.out")), 0)
      << read_text(path("x.out"));
  // Another batch size: the position would count other batches.
  CliResult r = run_cli(plus(train_args("2", {{"batch", "32"}}), {"--resume", path("x.ckpt")}));
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("batch 16"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(path("x.ckpt")), std::string::npos) << r.err;
  // Another seed.
  r = run_cli(plus(train_args("2", {{"seed", "8"}}), {"--resume", path("x.ckpt")}));
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("seed 7"), std::string::npos) << r.err;
  // One flipped byte: the checksum says so.
  std::string bytes = read_text(path("x.ckpt"));
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(path("x.ckpt"), std::ios::binary | std::ios::trunc) << bytes;
  r = run_cli(plus(train_args("2"), {"--resume", path("x.ckpt")}));
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("checksum mismatch"), std::string::npos) << r.err;
  // Missing file and a stray --checkpoint-every are usage errors.
  EXPECT_EQ(run_cli(plus(train_args("2"), {"--resume", path("nope.ckpt")})).rc, kExitUsage);
  EXPECT_EQ(run_cli(plus(train_args("2"), {"--checkpoint-every", "3"})).rc, kExitUsage);
}

}  // namespace
}  // namespace stoker::cli::testing
