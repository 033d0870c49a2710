// Data-parallel training through the real launcher: `mpirun -np 2 stoker train` on the CPU
// backend against the same training in one process with the same global batch. Skips when the
// build has no MPI or mpirun is not installed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "formats/hdf5_common.h"
#include "formats/hdf5_writer.h"
#include "tests/cli/cli_test_util.h"
#include "trainer/backend.h"
#include "trainer/distributed.h"

#ifndef STOKER_BINARY
#error "tests/CMakeLists.txt defines STOKER_BINARY (the stoker executable)"
#endif

namespace stoker::cli::testing {
namespace {

std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::filesystem::path p = std::filesystem::path(dirs.substr(start, end - start)) / name;
    std::error_code ec;
    if (std::filesystem::exists(p, ec)) return p.string();
    start = end + 1;
  }
  return "";
}

// Runs `cmd` (stderr merged into stdout); rc is the exit status.
CliResult shell(const std::string& cmd) {
  CliResult r;
  std::FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) r.out.append(buf, n);
  const int status = ::pclose(f);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The "loss" of every epoch line of a --log file.
std::vector<double> epoch_losses(const std::string& log) {
  std::vector<double> out;
  const std::regex re("\"loss\":([-0-9.eE+]+)");
  for (std::sregex_iterator it(log.begin(), log.end(), re), end; it != end; ++it) out.push_back(std::stod((*it)[1]));
  return out;
}

class DistributedTrain : public CliTest {};

TEST_F(DistributedTrain, TwoRanksHoldIdenticalWeightsAndMatchOneProcessWithTheSameGlobalBatch) {
  if (!mpi_available()) GTEST_SKIP() << "stoker built without MPI";
  const std::string mpirun = on_path("mpirun");
  if (mpirun.empty()) GTEST_SKIP() << "mpirun not installed";

  // 256 rows of 8x8 uint8 images, 4 classes that depend on the pixels (so the loss moves).
  const std::int64_t n = 256;
  Tensor x(DType::kU8, Shape{n, 8, 8, 1});
  Tensor y(DType::kI32, Shape{n});
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>((i * 7) % 4);
    y.mutable_data_as<std::int32_t>()[i] = label;
    for (int p = 0; p < 64; ++p) {
      x.mutable_data_as<std::uint8_t>()[i * 64 + p] = static_cast<std::uint8_t>((p % 4 == label ? 160 : 20) + (i * 13 + p * 7) % 61);
    }
  }
  {
    // Chunks of 8 rows: a rank's block of one batch (16 rows) is exactly two chunks.
    Hdf5Writer w(path("d.h5"));
    w.write("/train/images", x, {.chunk_rows = 8});
    w.write("/train/labels", y, {.chunk_rows = 8});
  }
  // File order (no shuffle), so global step k is rows [32k, 32k + 32) in both runs: one process
  // reads them as one batch of 32; rank 0 reads block 2k (rows 32k..32k+15) and rank 1 block 2k+1.
  const std::string common = " train --data " + path("d.h5") +
                             " --model 'flatten dense(16,relu) dense(4,softmax)' --epochs 2 --shuffle-buffer 0"
                             " --device cpu --threads 1 --seed 3 --lr 0.01 --progress line";
  const CliResult one = shell(std::string(STOKER_BINARY) + common + " --batch 32 --log " + path("one.jsonl"));
  ASSERT_EQ(one.rc, 0) << one.out;
  EXPECT_EQ(one.out.find("distributed:"), std::string::npos) << "one process must not join a job";
  const CliResult two = shell(mpirun + " --allow-run-as-root --oversubscribe -np 2 " + STOKER_BINARY + common +
                              " --batch 16 --log " + path("two.jsonl"));
  ASSERT_EQ(two.rc, 0) << two.out;
  EXPECT_NE(two.out.find("distributed: rank 0 of 2 (mpi)"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("distributed: rank 1 of 2 (mpi)"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("global batch 32"), std::string::npos) << two.out;

  // Both ranks end with bit-identical weights (the same reduced gradient, the same update).
  std::set<std::string> sums;
  const std::regex re("rank ([01]) weights fnv1a ([0-9a-f]{16})");
  int ranks = 0;
  for (std::sregex_iterator it(two.out.begin(), two.out.end(), re), end; it != end; ++it, ++ranks) sums.insert((*it)[2]);
  EXPECT_EQ(ranks, 2) << two.out;
  EXPECT_EQ(sums.size(), 1u) << "ranks hold different weights:\n" << two.out;

  // Only rank 0 logs: one line per epoch, not two.
  const std::vector<double> a = epoch_losses(read_text(path("one.jsonl")));
  const std::vector<double> b = epoch_losses(read_text(path("two.jsonl")));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u) << read_text(path("two.jsonl"));
  // Tolerance. The two runs compute the same global step on the same samples; they differ only
  // in the order fp32 sums are formed: a weight gradient is a sum over the 32 samples of a step,
  // taken as one GEMM over K = 32 (one process) or two GEMMs over K = 16 plus one MPI sum. Each
  // order satisfies |fl(S) - S| <= gamma_32 * sum|s_i|, gamma_n = n u / (1 - n u), u = 2^-24, so
  // the two gradients differ by at most 2 gamma_32 ~= 3.8e-6 of sum|s_i| per element.
  // Adam divides by sqrt(v): the update changes by at most lr * (relative gradient change), i.e.
  // <= 0.01 * 3.8e-6 * kappa per weight and step, kappa = sum|s_i| / |S| (cancellation; taken
  // <= 100 here, loose for 32 samples of one-sided ReLU-layer gradients). Over 16 steps that is
  // |dw| <= 16 * 0.01 * 3.8e-6 * 100 = 6.1e-5 per weight, and the mean loss, whose gradient in
  // each of the ~1100 weights is below 1 for inputs in [0,1], moves by at most
  // sum_j |dL/dw_j| |dw_j| <= 1100 * 6.1e-5 = 6.7e-2 in the worst case where every error adds
  // up; errors of either sign cancel as a random walk, sqrt(1100 * 16) ~ 130 instead of
  // 1100 * 16, giving ~ 1e-3. We assert 2e-3 absolute, plus the log's 6 significant digits
  // (5e-6 relative). Without the gradient all-reduce the ranks' weights differ (checked above)
  // and the loss moves by ~1e-1 per epoch here, far outside this.
  std::printf("epoch losses: one process %.6g %.6g, two ranks %.6g %.6g\n", a[0], a[1], b[0], b[1]);
  for (std::size_t e = 0; e < 2; ++e) {
    const double tol = 2e-3 + 5e-6 * std::abs(a[e]);
    EXPECT_NEAR(b[e], a[e], tol) << "epoch " << e + 1;
  }
  EXPECT_LT(a[1], a[0]) << "the loss should fall, or the comparison says little";
}

// A rank that fails (here: a corrupt chunk only rank 1 reads) ends the whole job with its error,
// instead of finalizing MPI while the other rank waits in a collective forever.
TEST_F(DistributedTrain, ARankThatFailsEndsTheJobNamingTheError) {
  if (!mpi_available()) GTEST_SKIP() << "stoker built without MPI";
  const std::string mpirun = on_path("mpirun");
  if (mpirun.empty()) GTEST_SKIP() << "mpirun not installed";
  const std::string file = path("d.h5");
  {
    Tensor x(DType::kU8, Shape{64, 8, 8, 1});
    Tensor y(DType::kI32, Shape{64});
    for (std::int64_t i = 0; i < 64 * 64; ++i) x.mutable_data_as<std::uint8_t>()[i] = static_cast<std::uint8_t>((i * 37) % 251);
    for (std::int64_t i = 0; i < 64; ++i) y.mutable_data_as<std::int32_t>()[i] = static_cast<std::int32_t>(i % 4);
    Hdf5Writer w(file);
    w.write("/train/images", x, {.chunk_rows = 8, .deflate_level = 6});
    w.write("/train/labels", y, {.chunk_rows = 8});
  }
  // Chunk 3 (rows 24..31) lies in block 1 (rows 16..31, batch 16): rank 1's first block.
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/train/images", H5P_DEFAULT);
    hid_t space = H5Dget_space(d);
    hsize_t offset[4] = {};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info(d, space, 3, offset, &mask, &addr, &size), 0);
    EXPECT_EQ(offset[0], 24u);
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
  }
  ASSERT_GT(size, 32u);
  {
    std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(static_cast<std::streamoff>(addr + size / 2 - 8));
    io.write(std::string(16, '\x55').data(), 16);
  }
  // `timeout` turns a hang into exit code 124.
  const CliResult r = shell("timeout 60 " + mpirun + " --allow-run-as-root --oversubscribe -np 2 " + STOKER_BINARY +
                            " train --data " + file + " --model 'flatten dense(4,softmax)' --batch 16 --epochs 2"
                            " --shuffle-buffer 0 --device cpu --threads 1 --progress line");
  EXPECT_NE(r.rc, 124) << "the job hung:\n" << r.out;
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("DataLoss"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(file), std::string::npos) << r.out;
}

// The CUDA backend under mpirun all-reduces with NCCL: runs where a machine has two GPUs
// (bench/gpu_check.sh runs every test there), skips elsewhere (NCCL refuses two ranks on one GPU).
TEST_F(DistributedTrain, TwoRanksOnTwoGpusAllReduceWithNccl) {
  if (!mpi_available()) GTEST_SKIP() << "stoker built without MPI";
  const std::string mpirun = on_path("mpirun");
  if (mpirun.empty()) GTEST_SKIP() << "mpirun not installed";
  if (!cuda_backend_available()) GTEST_SKIP() << "no CUDA device (or built without CUDA)";
  const CliResult gpus = shell("nvidia-smi -L");
  std::size_t count = 0;
  for (std::size_t p = 0; (p = gpus.out.find("GPU ", p)) != std::string::npos; ++p) ++count;
  if (count < 2) GTEST_SKIP() << "needs two GPUs, found " << count;
  Tensor x(DType::kU8, Shape{128, 8, 8, 1});
  Tensor y(DType::kI32, Shape{128});
  for (std::int64_t i = 0; i < 128; ++i) {
    y.mutable_data_as<std::int32_t>()[i] = static_cast<std::int32_t>(i % 4);
    for (int p = 0; p < 64; ++p) x.mutable_data_as<std::uint8_t>()[i * 64 + p] = static_cast<std::uint8_t>(p % 4 == i % 4 ? 200 : 10);
  }
  {
    Hdf5Writer w(path("d.h5"));
    w.write("/train/images", x, {.chunk_rows = 8});
    w.write("/train/labels", y, {.chunk_rows = 8});
  }
  const CliResult two = shell(mpirun + " --allow-run-as-root --oversubscribe -np 2 " + STOKER_BINARY + " train --data " +
                              path("d.h5") + " --model 'flatten dense(4,softmax)' --batch 16 --device cuda --progress line");
  ASSERT_EQ(two.rc, 0) << two.out;
  EXPECT_NE(two.out.find("distributed: rank 0 of 2 (nccl)"), std::string::npos) << two.out;
  std::set<std::string> sums;
  const std::regex re("rank [01] weights fnv1a ([0-9a-f]{16})");
  for (std::sregex_iterator it(two.out.begin(), two.out.end(), re), end; it != end; ++it) sums.insert((*it)[1]);
  EXPECT_EQ(sums.size(), 1u) << two.out;
}

}  // namespace
}  // namespace stoker::cli::testing
