// Launch detection for data-parallel training: which environment means "rank r of N", and that a
// build without MPI refuses to run as one of several ranks instead of training alone.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/error.h"
#include "trainer/distributed.h"

namespace stoker {
namespace {

// Sets environment variables for one test and restores them.
class Env {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    ::setenv(name, value, 1);
  }
  ~Env() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) ::setenv(it->first.c_str(), it->second->c_str(), 1);
      else ::unsetenv(it->first.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(LaunchInfo, ReadsOpenMpiAndPmiVariables) {
  {
    Env env;
    env.set("OMPI_COMM_WORLD_SIZE", "4");
    env.set("OMPI_COMM_WORLD_RANK", "3");
    const LaunchInfo l = launch_info_from_environment();
    EXPECT_EQ(l.size, 4);
    EXPECT_EQ(l.rank, 3);
    EXPECT_EQ(l.launcher, "Open MPI");
  }
  {
    Env env;
    env.set("OMPI_COMM_WORLD_SIZE", "");
    env.set("PMI_SIZE", "2");
    env.set("PMI_RANK", "1");
    const LaunchInfo l = launch_info_from_environment();
    EXPECT_EQ(l.size, 2);
    EXPECT_EQ(l.rank, 1);
  }
  {
    Env env;
    env.set("OMPI_COMM_WORLD_SIZE", "not a number");
    env.set("PMI_SIZE", "");
    EXPECT_EQ(launch_info_from_environment().size, 1);
  }
}

TEST(LaunchInfo, AloneMeansNoCommunicator) {
  Env env;
  env.set("OMPI_COMM_WORLD_SIZE", "1");
  env.set("PMI_SIZE", "");
  EXPECT_EQ(join_mpi_job(), nullptr);
}

TEST(LaunchInfo, ABuildWithoutMpiRefusesSeveralRanks) {
  if (mpi_available()) GTEST_SKIP() << "built with MPI (tests/cli/distributed_train_test runs the real job)";
  Env env;
  env.set("OMPI_COMM_WORLD_SIZE", "2");
  env.set("OMPI_COMM_WORLD_RANK", "0");
  try {
    join_mpi_job();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("built without MPI"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stoker
