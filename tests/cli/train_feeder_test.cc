// `stoker train --feeder auto|on|off`: ring -> DeviceFeeder -> backend, or the serial path. Without
// a device the feeder runs in host mode (the same protocol the CUDA run uses, with memcpy), so
// both paths are compared here; they must train to the same weights.
#include <gtest/gtest.h>

#include <string>

#include "tests/cli/cli_test_util.h"

namespace stoker::cli::testing {
namespace {

class TrainFeeder : public CliTest {};

TEST_F(TrainFeeder, FeederAndSerialPathsTrainTheSame) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "96", "--test-n", "40", "--size", "12", "--classes", "4"}).rc, 0);
  auto train = [&](const std::string& feeder, const std::string& weights) {
    return run_cli({"train", "--data", path("s.h5"), "--val-images", "/test/images", "--val-labels", "/test/labels",
                    "--epochs", "2", "--batch", "16", "--threads", "1", "--device", "cpu", "--feeder", feeder,
                    "--progress", "line", "--save", path(weights), "--log", path(weights + ".jsonl")});
  };
  CliResult fed = train("on", "fed.stkw");
  ASSERT_EQ(fed.rc, 0) << fed.err << fed.out;
  EXPECT_NE(fed.out.find("input: device feeder in host mode"), std::string::npos) << fed.out;
  EXPECT_NE(fed.out.find("feeder (host mode): 6 batches"), std::string::npos) << fed.out;
  // The JSON log carries the feeder's figures per epoch (bench/gpu_check.sh reads them).
  EXPECT_NE(read_text(path("fed.stkw.jsonl")).find("\"feeder\":{\"host_mode\":true,\"batches\":6,"), std::string::npos)
      << read_text(path("fed.stkw.jsonl"));
  CliResult serial = train("auto", "serial.stkw");  // auto without a GPU backend: serial
  ASSERT_EQ(serial.rc, 0) << serial.err << serial.out;
  EXPECT_NE(serial.out.find("input: serial"), std::string::npos) << serial.out;
  EXPECT_EQ(read_text(path("serial.stkw.jsonl")).find("\"feeder\""), std::string::npos);
  EXPECT_EQ(read_text(path("fed.stkw")), read_text(path("serial.stkw")));
  EXPECT_EQ(number_after(fed.out, "test accuracy "), number_after(serial.out, "test accuracy "));
}

TEST_F(TrainFeeder, BadValueIsAUsageError) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "16", "--size", "8"}).rc, 0);
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--feeder", "sometimes"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--feeder expects one of auto|on|off, got 'sometimes'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stoker::cli::testing
