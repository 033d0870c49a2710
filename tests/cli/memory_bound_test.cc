// The memory bound, measured as the kernel sees it: `stoker bench` over a generated file larger
// than the budget, as a real process, for several shuffle sizes and thread counts. Its peak RSS
// above the idle process (VmRSS at start) must stay within the budget plus 64 MiB (allocator
// slack, thread stacks, libhdf5's caches). The accounting alone (stats().peak_bytes) is not
// enough: freed memory an allocator keeps is resident all the same.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

std::string run(const std::string& args) {
  const std::string cmd = std::string("'") + STOKER_BINARY + "' " + args + " 2>&1";
  std::string out;
  std::FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  ::pclose(f);
  return out;
}

double number_after(const std::string& text, const std::string& key) {
  const auto p = text.find(key);
  return p == std::string::npos ? -1 : std::stod(text.substr(p + key.size()));
}

class MemoryBound : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = std::filesystem::temp_directory_path() / ("stoker_memory_bound_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    // 12,000 rows of 128x128x3 uint8: 563 MiB, over twice the largest budget below.
    const std::string out = run("make-dataset '" + file() + "' --n 12000 --test-n 0 --size 128x128 --channels 3");
    ASSERT_TRUE(std::filesystem::exists(file())) << out;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }
  static std::string file() { return (dir_ / "big.h5").string(); }
  static std::filesystem::path dir_;
};
std::filesystem::path MemoryBound::dir_;

TEST_F(MemoryBound, PeakRssAboveIdleIsAccountedAndWithinTheBudgetPlus64MiB) {
  struct Case {
    int budget_mib;
    const char* shuffle;
    int threads;
  };
  // A shuffle buffer larger than the budget allows fills three quarters of it (memory_budget.h).
  for (const Case& c : {Case{256, "100000", 2}, Case{256, "0", 1}, Case{64, "100000", 2}, Case{64, "100000", 1}}) {
    const std::string out = run("bench --data '" + file() + "' --batch 64 --memory-budget " + std::to_string(c.budget_mib) +
                                "M --shuffle-buffer " + c.shuffle + " --threads " + std::to_string(c.threads));
    const double accounted = number_after(out, "peak bytes: pipeline ");
    const double above = number_after(out, "process rss above idle ");
    ASSERT_GE(above, 0) << out;
    const std::string what = "budget " + std::to_string(c.budget_mib) + " MiB, shuffle " + c.shuffle + ", " +
                             std::to_string(c.threads) + " threads: " + std::to_string(above / 1048576) +
                             " MiB above idle, " + std::to_string(accounted / 1048576) + " MiB accounted\n";
    constexpr double kSlack = 64 * 1048576.0;
    EXPECT_LE(accounted, c.budget_mib * 1048576.0) << what << out;
    // Everything resident beyond the slack is accounted: so the budget bounds RSS.
    EXPECT_LE(above, accounted + kSlack) << what << out;
    EXPECT_LE(above, c.budget_mib * 1048576.0 + kSlack) << what << out;
  }
}

}  // namespace
