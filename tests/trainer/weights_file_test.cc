// Weights files: a format version and a CRC-32, so a flipped byte or an old format is refused
// with a message naming the file; saved atomically, so a full disk keeps the previous file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "pipeline/error.h"
#include "tests/pipeline/fault_util.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using testing::count_files;
using testing::file_bytes;
using testing::FileSizeLimit;

class WeightsFile : public testing::TestFolder {
 protected:
  void SetUp() override {
    TestFolder::SetUp();
    path_ = (dir_ / "w.stkw").string();
  }
  Error load_error(Trainer& t) {
    try {
      t.load_weights(path_);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "loaded " << path_;
    return Error(ErrorCode::kInvalidArgument, "none");
  }
  void overwrite(std::size_t at, char c) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(&c, 1);
  }
  std::string path_;
  ModelSpec spec_ = ModelSpec::parse("flatten dense(4)");
};

TEST_F(WeightsFile, EveryFlippedByteIsRefused) {
  Trainer t(spec_, {4, 4, 1}, {.backend = "cpu"});
  t.save_weights(path_);
  const std::string good = file_bytes(path_);
  // Every byte position, one bit each: the magic, the model text, a shape, the floats, the CRC.
  for (std::size_t at = 0; at < good.size(); at += 7) {
    overwrite(at, static_cast<char>(good[at] ^ 0x04));
    Trainer u(spec_, {4, 4, 1}, {.backend = "cpu"});
    const Error e = load_error(u);
    EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    overwrite(at, good[at]);
  }
  // A flipped bit inside the float data (which parses fine) says why.
  overwrite(good.size() - 12, static_cast<char>(good[good.size() - 12] ^ 0x01));
  Trainer u(spec_, {4, 4, 1}, {.backend = "cpu"});
  const Error e = load_error(u);
  EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
  EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
}

TEST_F(WeightsFile, AnOlderFormatVersionIsRefusedClearly) {
  Trainer t(spec_, {4, 4, 1}, {.backend = "cpu"});
  t.save_weights(path_);
  overwrite(7, '1');  // "STKWGT01": the format before checksums
  const Error e = load_error(t);
  EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  EXPECT_NE(std::string(e.what()).find("version 01"), std::string::npos) << e.what();
}

TEST_F(WeightsFile, AFullDiskDuringSaveKeepsThePreviousFile) {
  // A model whose weights (64x64x3 -> 100: 4.9 MB) exceed the limit below.
  const ModelSpec big = ModelSpec::parse("flatten dense(100)");
  Trainer t(big, {64, 64, 3}, {.backend = "cpu", .seed = 1});
  t.save_weights(path_);
  const std::string before = file_bytes(path_);
  Trainer u(big, {64, 64, 3}, {.backend = "cpu", .seed = 2});
  {
    FileSizeLimit limit(1 << 20);
    try {
      u.save_weights(path_);
      FAIL() << "saved past RLIMIT_FSIZE";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(file_bytes(path_), before) << "the previous weights were damaged";
  EXPECT_EQ(count_files(dir_), 1u) << "a temporary file was left behind";
  Trainer v(big, {64, 64, 3}, {.backend = "cpu"});
  v.load_weights(path_);
  EXPECT_EQ(v.backend().get_params(), t.backend().get_params());
}

}  // namespace
}  // namespace stoker
