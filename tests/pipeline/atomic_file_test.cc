// AtomicFile: an output path holds the old file or a complete new one, never a torn one; and the
// same-file and writability checks used before long runs.
#include "pipeline/atomic_file.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>

#include <filesystem>
#include <fstream>

#include "pipeline/error.h"
#include "tests/pipeline/fault_util.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using testing::count_files;
using testing::file_bytes;
using testing::FileSizeLimit;

class AtomicFileTest : public testing::TestFolder {
 protected:
  void SetUp() override {
    TestFolder::SetUp();
    path_ = (dir_ / "out.bin").string();
    std::ofstream(path_, std::ios::binary) << "old contents";
  }
  std::string path_;
};

TEST_F(AtomicFileTest, CommitReplacesTheFileWhole) {
  AtomicFile f(path_, "test");
  f.write("new", 3);
  EXPECT_EQ(file_bytes(path_), "old contents") << "untouched until commit";
  EXPECT_EQ(fs::path(f.temp_path()).parent_path(), dir_) << "temporary in the same folder (rename is atomic)";
  f.commit();
  EXPECT_EQ(file_bytes(path_), "new");
  EXPECT_EQ(count_files(dir_), 1u);
}

TEST_F(AtomicFileTest, DestroyedWithoutCommitLeavesTheOldFileAndNoTemporary) {
  {
    AtomicFile f(path_, "test");
    f.write("half", 4);
  }
  EXPECT_EQ(file_bytes(path_), "old contents");
  EXPECT_EQ(count_files(dir_), 1u);
}

TEST_F(AtomicFileTest, AWriteErrorIsStickyAndNamesThePath) {
  AtomicFile f(path_, "test");
  const std::string block(64 << 10, 'x');
  {
    FileSizeLimit limit(16 << 10);
    try {
      f.write(block.data(), block.size());
      FAIL() << "a write past RLIMIT_FSIZE succeeded";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      EXPECT_EQ(e.context().source, path_);
      EXPECT_NE(std::string(e.what()).find("disk full"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(f.write("x", 1), Error) << "later writes refuse (no torn file)";
  EXPECT_THROW(f.commit(), Error);
  EXPECT_EQ(file_bytes(path_), "old contents");
  EXPECT_EQ(count_files(dir_), 1u);
}

TEST_F(AtomicFileTest, SameFileSeesLinksAndSpellings) {
  const std::string data = (dir_ / "data.h5").string();
  std::ofstream(data) << "x";
  fs::create_hard_link(data, dir_ / "hard.h5");
  fs::create_symlink(data, dir_ / "soft.h5");
  EXPECT_TRUE(same_file(data, (dir_ / "hard.h5").string()));
  EXPECT_TRUE(same_file(data, (dir_ / "soft.h5").string()));
  EXPECT_TRUE(same_file(data, (dir_ / "sub" / ".." / "data.h5").string()));
  EXPECT_TRUE(same_file((dir_ / "new.h5").string(), (dir_ / "." / "new.h5").string())) << "neither exists yet";
  EXPECT_FALSE(same_file(data, path_));
  EXPECT_FALSE(same_file(data, ""));
}

TEST_F(AtomicFileTest, CheckWritableRefusesAMissingFolderAndLeavesNothing) {
  EXPECT_NO_THROW(check_writable((dir_ / "w.stkw").string(), "--save"));
  EXPECT_EQ(count_files(dir_), 1u) << "the probe file was removed";
  try {
    check_writable((dir_ / "no" / "such" / "w.stkw").string(), "--save");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kIo);
    EXPECT_NE(std::string(e.what()).find("no/such"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_writable(dir_.string(), "--save"), Error) << "a folder is not a file path";
}

TEST_F(AtomicFileTest, SignalCleanupIsScopedAndRemovesLiveTemporaries) {
  struct sigaction before {};
  sigaction(SIGTERM, nullptr, &before);
  const pid_t pid = ::fork();  // the child dies of SIGTERM; the parent checks what it left
  if (pid == 0) {
    RemoveTemporariesOnSignals cleanup;
    AtomicFile f(path_, "test");
    f.write("half", 4);
    ::raise(SIGTERM);
    ::_exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_EQ(file_bytes(path_), "old contents");
  EXPECT_EQ(count_files(dir_), 1u) << "the temporary survived SIGTERM";
  {
    RemoveTemporariesOnSignals cleanup;
  }
  struct sigaction after {};
  sigaction(SIGTERM, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler) << "the previous disposition is restored";
}

}  // namespace
}  // namespace stoker
