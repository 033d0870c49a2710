// `stoker train` end to end on tiny synthetic data (HDF5 and JPEG folders): it learns, logs one
// JSON object per epoch, splits a batch that does not fit into micro-batches, stops cleanly on
// SIGINT (saving weights), and rejects bad flags and bad files with the documented exit codes.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "cli_test_util.h"
#include "trainer/backend.h"

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;

class Train : public CliTest {
 protected:
  void make(const std::string& name, const std::string& n, const std::string& size = "16") {
    CliResult r = run_cli({"make-dataset", path(name), "--n", n, "--test-n", "200", "--size", size, "--classes", "4"});
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::stringstream ss(text);
    for (std::string l; std::getline(ss, l);) out.push_back(l);
    return out;
  }
};

TEST_F(Train, LearnsSyntheticHdf5InOneEpochAndLogsJsonLines) {
  make("s.h5", "400");
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--val-images", "/test/images", "--val-labels", "/test/labels",
                         "--epochs", "1", "--batch", "8", "--lr", "0.003", "--threads", "2", "--log", path("log.jsonl"),
                         "--save", path("w.stkw"), "--progress", "line"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  // 4 classes: chance is 0.25.
  const double acc = number_after(r.out, "test accuracy ");
  EXPECT_GT(acc, 0.6) << r.out;
  EXPECT_NE(r.out.find("throughput "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("samples/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("input stall"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("blas: OpenBLAS core "), std::string::npos) << r.out;  // the CPU backend's kernels
  EXPECT_TRUE(fs::exists(path("w.stkw")));
  const std::vector<std::string> log = lines(read_text(path("log.jsonl")));
  ASSERT_EQ(log.size(), 1u);
  for (const char* key : {"\"epoch\":1", "\"steps\":50", "\"samples\":400", "\"val_accuracy\":", "\"samples_per_s\":",
                          "\"stall_pct\":", "\"peak_pipeline_bytes\":", "\"stopped\":false"}) {
    EXPECT_NE(log[0].find(key), std::string::npos) << key << " in " << log[0];
  }
  EXPECT_EQ(log[0].front(), '{');
  EXPECT_EQ(log[0].back(), '}');
  // The saved weights load into the same model (and a second run starts from them).
  // The second run also decays the learning rate to 0 over its steps.
  r = run_cli({"train", "--data", path("s.h5"), "--epochs", "1", "--batch", "8", "--load", path("w.stkw"),
               "--lr-schedule", "cosine", "--progress", "line"});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("lr 0.001 (cosine)"), std::string::npos) << r.out;
  EXPECT_GT(number_after(r.out, "train accuracy "), 0.6) << r.out;
}

TEST_F(Train, FromAJpegFolderWithValidationFolder) {
  CliResult m = run_cli({"make-dataset", path("jpg"), "--n", "200", "--test-n", "60", "--size", "20", "--classes", "4"});
  ASSERT_EQ(m.rc, 0) << m.err;
  CliResult r = run_cli({"train", "--data", path("jpg/train"), "--val-data", path("jpg/test"), "--size", "16",
                         "--epochs", "1", "--batch", "8", "--lr", "0.003", "--progress", "line"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("200 JPEGs in 4 classes, decoded to 16x16x3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("(loss"), std::string::npos);
  EXPECT_NE(r.out.find("60 samples)"), std::string::npos) << r.out;
}

TEST_F(Train, BatchThatDoesNotFitRunsAsMicroBatches) {
  make("s.h5", "256");
  // The seed model on 16x16x3 needs ~16 MiB fixed (weights, Adam state, workspaces) + ~90 KB per
  // sample: 20 MiB of model memory holds a few dozen samples per pass.
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--epochs", "1", "--batch", "256", "--model-memory", "20M",
                         "--progress", "line"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("batch 256 = "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("batch 256 = 1 x"), std::string::npos) << r.out;
}

TEST_F(Train, BatchesInARingOfSlots) {
  make("s.h5", "100");
  // Without a device the ring holds host memory; the path (slot sizing, leasing, validation
  // batches through the same ring) is the one a CUDA run takes with pinned slots.
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--val-images", "/test/images", "--val-labels", "/test/labels",
                         "--epochs", "2", "--batch", "16", "--pinned-ring", "on", "--progress", "line"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("batches: 4 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("200 samples)"), std::string::npos) << r.out;
}

TEST_F(Train, AutoBatchUsesThePlanner) {
  make("s.h5", "64");
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--epochs", "1", "--batch", "auto", "--model-memory", "20M",
                         "--progress", "line"});
  ASSERT_EQ(r.rc, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("(auto)"), std::string::npos) << r.out;
}

TEST_F(Train, TooLittleModelMemoryIsARuntimeErrorWithNumbers) {
  make("s.h5", "16");
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--model-memory", "1K"});
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("stoker train: error:"), std::string::npos) << r.err;
}

TEST_F(Train, SigintStopsAfterTheCurrentStepAndSavesWeights) {
  make("s.h5", "256");
  int rc = -1;
  std::thread t([&] {
    rc = run([this] {
      return std::vector<std::string>{"train", "--data", path("s.h5"), "--epochs", "100000", "--batch", "16",
                                      "--log", path("log.jsonl"), "--save", path("w.stkw"), "--progress", "line"};
    }());
  });
  // Once an epoch is logged, training runs under the SIGINT handler.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (read_text(path("log.jsonl")).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(read_text(path("log.jsonl")).empty());
  std::raise(SIGINT);
  t.join();
  EXPECT_EQ(rc, kExitInterrupted);
  EXPECT_TRUE(fs::exists(path("w.stkw")));
  const std::string log = read_text(path("log.jsonl"));
  EXPECT_NE(log.find("\"stopped\":true"), std::string::npos) << log;
  // The handler is gone again: SIGINT's disposition is back to what it was.
  struct sigaction now {};
  sigaction(SIGINT, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST_F(Train, BadFlagsAndFilesGiveTheDocumentedExitCodes) {
  make("s.h5", "16");
  fs::create_directories(path("idx"));
  std::ofstream(path("idx/train-images-idx3-ubyte.gz")) << "x";
  fs::create_directories(path("empty"));
  struct Case {
    std::vector<std::string> args;
    int rc;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"train"}, kExitUsage, "missing --data"},
      {{"train", "--data", path("none.h5")}, kExitUsage, "no such file or folder"},
      {{"train", "--data", path("s.h5"), "--epoch", "2"}, kExitUsage, "unknown flag --epoch"},
      {{"train", "--data", path("s.h5"), "--batch", "many"}, kExitUsage, "--batch expects an integer, got 'many'"},
      {{"train", "--data", path("s.h5"), "--batch", "0"}, kExitUsage, "--batch expects a positive integer"},
      {{"train", "--data", path("s.h5"), "--precision", "fp8"}, kExitUsage,
       "--precision expects one of float32|mixed_float16|mixed_bfloat16, got 'fp8'"},
      {{"train", "--data", path("s.h5"), "--device", "tpu"}, kExitUsage, "--device expects one of cpu|cuda|auto"},
      {{"train", "--data", path("s.h5"), "--lr-schedule", "linear"}, kExitUsage,
       "--lr-schedule expects one of constant|cosine, got 'linear'"},
      {{"train", "--data", path("s.h5"), "--model", "conv2d(8,3) wobble"}, kExitUsage, "--model: "},
      {{"train", "--data", path("s.h5"), "--images", "/train/pixels"}, kExitUsage, "no dataset '/train/pixels'"},
      {{"train", "--data", path("s.h5"), "--load", path("none.stkw")}, kExitUsage, "--load: cannot read"},
      {{"train", "--data", path("idx")}, kExitUsage, "convert them to HDF5 first: stoker convert"},
      {{"train", "--data", path("empty")}, kExitRuntimeError, "empty"},
      {{"train", "--data", path("s.h5"), "--val-data", path("s.h5"), "--val-images", "/train/labels"}, kExitRuntimeError,
       "[N,H,W], [N,H,W,C] or flat [N,D]"},
  };
  for (const Case& c : cases) {
    CliResult r = run_cli(c.args);
    EXPECT_EQ(r.rc, c.rc) << c.args.back() << ": " << r.err;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << "expected '" << c.message << "' in: " << r.err;
  }
}

TEST_F(Train, CudaWithoutADeviceIsARuntimeErrorNamingTheFlag) {
  if (cuda_backend_available()) GTEST_SKIP() << "a CUDA device is present";
  make("s.h5", "16");
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--device", "cuda"});
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("cuda"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("--backend"), std::string::npos) << r.err;
}

TEST_F(Train, CorruptOrTruncatedHdf5IsARuntimeErrorNamingTheFile) {
  make("s.h5", "300");
  const auto size = fs::file_size(path("s.h5"));
  fs::copy_file(path("s.h5"), path("cut.h5"));
  fs::resize_file(path("cut.h5"), size / 2);  // an interrupted copy
  CliResult r = run_cli({"train", "--data", path("cut.h5"), "--epochs", "1"});
  EXPECT_EQ(r.rc, kExitRuntimeError) << r.out;
  EXPECT_NE(r.err.find("cut.h5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;
  // Keep the superblock, overwrite the rest.
  {
    std::fstream f(path("s.h5"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(512);
    const std::string junk(static_cast<std::size_t>(size) - 512, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  r = run_cli({"train", "--data", path("s.h5"), "--epochs", "1"});
  EXPECT_EQ(r.rc, kExitRuntimeError) << r.out;
  EXPECT_NE(r.err.find("s.h5"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stoker::cli::testing
