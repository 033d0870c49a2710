// The `stoker` executable run as its own process: peak resident memory of CPU-only commands.
//
// CUDA libraries must cost nothing until a command uses the GPU (trainer/cuda_blas.h): linking
// cuBLAS alone (it drags in cublasLt) made every command, even `inspect`, peak at ~230 MB. The
// peak is the child's ru_maxrss from wait4(), i.e. what `/usr/bin/time -v` reports.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/cli/cli_test_util.h"

namespace stoker::cli::testing {
namespace {

struct ProcessResult {
  int rc = -1;
  long peak_rss_kb = 0;
};

// Runs STOKER_BINARY with `args`, stdout/stderr to /dev/null; exit status and peak RSS.
ProcessResult run_binary(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s{STOKER_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
    execv(argv[0], argv.data());
    _exit(127);
  }
  ProcessResult r;
  if (pid < 0) return r;
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) return r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.peak_rss_kb = ru.ru_maxrss;
  return r;
}

constexpr long kLimitKb = 60 * 1024;

class ProcessRss : public CliTest {};

TEST_F(ProcessRss, CpuOnlyCommandsStayUnder60MB) {
  const std::string h5 = path("tiny.h5");
  ProcessResult made = run_binary({"make-dataset", h5, "--n", "64", "--size", "8x8", "--threads", "1"});
  ASSERT_EQ(made.rc, 0);
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--help"}, {"inspect", h5}}) {
    ProcessResult r = run_binary(args);
    EXPECT_EQ(r.rc, 0) << args.back();
    EXPECT_GT(r.peak_rss_kb, 0) << args.back();
    EXPECT_LT(r.peak_rss_kb, kLimitKb) << "stoker " << args.back() << " peaked at " << r.peak_rss_kb / 1024
                                       << " MB: is a CUDA library (cuBLAS/cublasLt) linked instead of loaded on use?";
  }
}

TEST_F(ProcessRss, CpuTrainingStaysUnder60MBOnTinyData) {
  const std::string h5 = path("tiny.h5");
  ASSERT_EQ(run_binary({"make-dataset", h5, "--n", "64", "--size", "8x8", "--channels", "1", "--threads", "1"}).rc, 0);
  ProcessResult r = run_binary({"train", "--data", h5, "--device", "cpu", "--epochs", "1", "--batch", "16", "--threads", "1",
                                "--memory-budget", "16M", "--progress", "line"});
  EXPECT_EQ(r.rc, 0);
  EXPECT_LT(r.peak_rss_kb, kLimitKb) << "stoker train --device cpu peaked at " << r.peak_rss_kb / 1024 << " MB";
}

}  // namespace
}  // namespace stoker::cli::testing
