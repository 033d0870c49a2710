// No failure loses a file, and no output overwrites an input: `convert`, `make-dataset` and
// `train --save/--log` run as real processes (the `stoker` binary) under a file size limit (a full
// disk), killed with SIGKILL mid-write, or fed a corrupt input; the old output must stay
// byte-identical and nothing complete-looking may appear.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "tests/cli/cli_test_util.h"
#include "tests/pipeline/fault_util.h"

extern char** environ;

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;
using stoker::testing::file_bytes;

struct Proc {
  int rc = -1;      // exit status, or 128 + signal
  std::string out;  // stdout and stderr together
};

// Runs `script` with bash (STOKER is the binary), output through a pipe (exempt from ulimit -f).
Proc run_bash(const std::string& script) {
  const std::string cmd = "STOKER='" STOKER_BINARY "' bash -c '" + script + "' 2>&1";
  Proc p;
  std::FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return p;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) p.out.append(buf, n);
  const int status = ::pclose(f);
  p.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return p;
}

std::vector<std::string> hidden_temps(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".tmp-") != std::string::npos) out.push_back(name);
  }
  return out;
}

class DataSafety : public CliTest {
 protected:
  // A small JPEG folder (3 classes) and an HDF5 file made by `make-dataset`.
  void make_inputs() {
    ASSERT_EQ(run_cli({"make-dataset", path("imgs"), "--format", "jpeg", "--n", "60", "--test-n", "0", "--size", "16x16",
                       "--classes", "3"}).rc, 0);
    ASSERT_EQ(run_cli({"make-dataset", path("old.h5"), "--n", "100", "--size", "8x8", "--classes", "2"}).rc, 0);
  }
};

// Issue: a failed convert turned an existing 144 KB file into an 800-byte one; a corrupt JPEG late
// in the folder left a valid-looking file with a class missing.
TEST_F(DataSafety, AFailedConvertLeavesTheExistingOutputByteIdentical) {
  make_inputs();
  const std::string out = path("old.h5"), before = file_bytes(out);
  // The last file of the last class is not a JPEG.
  const fs::path last_class = fs::path(path("imgs/train")) / "2";
  std::ofstream(last_class / "zzzz.jpg") << "this is not a JPEG, it only has the name of one";
  const CliResult r = run_cli({"convert", path("imgs/train"), out});
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.err.find("zzzz.jpg"), std::string::npos) << r.err;
  EXPECT_EQ(file_bytes(out), before) << "the existing output was changed by a failed convert";
  EXPECT_TRUE(hidden_temps(dir_).empty());
  // A convert that succeeds replaces it.
  fs::remove(last_class / "zzzz.jpg");
  ASSERT_EQ(run_cli({"convert", path("imgs/train"), out}).rc, 0);
  EXPECT_NE(file_bytes(out), before);
  EXPECT_TRUE(hidden_temps(dir_).empty());
}

// A full disk while writing: `ulimit -f` with SIGXFSZ ignored (write() fails with EFBIG, a clean
// error) and with its default action (the process is killed mid-write, like a crash).
TEST_F(DataSafety, AFullDiskDuringConvertOrMakeDatasetKeepsTheOldFile) {
  make_inputs();
  const std::string out = path("old.h5"), before = file_bytes(out);
  ASSERT_GT(before.size(), 8000u);
  const std::string convert = "\"$STOKER\" convert " + path("imgs/train") + " " + out;
  Proc p = run_bash("trap \"\" XFSZ; ulimit -f 4; exec " + convert);  // 4 KiB
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_NE(p.out.find(out), std::string::npos) << p.out;
  EXPECT_EQ(file_bytes(out), before);
  EXPECT_TRUE(hidden_temps(dir_).empty()) << "temporary not removed after a write error";
  p = run_bash("ulimit -f 4; exec " + convert);
  EXPECT_EQ(p.rc, 128 + SIGXFSZ) << p.out;
  EXPECT_EQ(file_bytes(out), before);
  p = run_bash("trap \"\" XFSZ; ulimit -f 4; exec \"$STOKER\" make-dataset " + out + " --n 200 --size 16x16");
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_EQ(file_bytes(out), before);
}

// Folder outputs (convert HDF5 -> JPEG folder, make-dataset --format jpeg) appear whole or not at
// all: a write error part way leaves no folder at OUTPUT and no staging folder.
TEST_F(DataSafety, AFailedFolderOutputLeavesNoPartialFolder) {
  ASSERT_EQ(run_cli({"make-dataset", path("d.h5"), "--n", "50", "--test-n", "0", "--size", "64x64"}).rc, 0);
  const std::string out = path("jpegs");
  Proc p = run_bash("trap \"\" XFSZ; ulimit -f 2; exec \"$STOKER\" convert " + path("d.h5") + " " + out);  // 2 KiB
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_FALSE(fs::exists(out)) << "a failed convert left a partial folder";
  EXPECT_TRUE(hidden_temps(dir_).empty());
  p = run_bash("trap \"\" XFSZ; ulimit -f 2; exec \"$STOKER\" make-dataset " + out + " --format jpeg --n 50 --size 64x64");
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_TRUE(hidden_temps(dir_).empty());
  // Without the limit both succeed, also into an existing empty folder.
  fs::create_directories(out);
  ASSERT_EQ(run_cli({"convert", path("d.h5"), out}).rc, 0);
  EXPECT_EQ(std::distance(fs::recursive_directory_iterator(out), fs::recursive_directory_iterator()), 50 + 10);
  EXPECT_TRUE(hidden_temps(dir_).empty());
}

// Spawns `stoker convert INPUT OUTPUT` and sends `sig` once OUTPUT's hidden temporary exists (the
// rows of 3000 images follow, so the signal lands mid-write). Returns the wait status.
int convert_and_signal(const fs::path& dir, const std::string& input, const std::string& out, int sig) {
  const std::string bin = STOKER_BINARY;
  std::vector<std::string> args{bin, "convert", input, out, "--threads", "1"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, bin.c_str(), &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  if (pid <= 0) return -1;
  bool writing = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int status = 0;
  while (!writing && std::chrono::steady_clock::now() < deadline) {
    writing = !hidden_temps(dir).empty();
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ADD_FAILURE() << "convert ended before the signal";
      return status;
    }
    std::this_thread::yield();
  }
  EXPECT_TRUE(writing);
  ::kill(pid, sig);
  ::waitpid(pid, &status, 0);
  return status;
}

class Interrupted : public DataSafety {
 protected:
  void SetUp() override {
    DataSafety::SetUp();
    ASSERT_EQ(run_cli({"make-dataset", path("big"), "--format", "jpeg", "--n", "3000", "--test-n", "0", "--size", "48x48"}).rc,
              0);
  }
};

// Killed while writing (SIGKILL: no handler runs): the output path never holds a partial file.
TEST_F(Interrupted, SigkillDuringConvertLeavesNoCompleteLookingOutput) {
  const int status = convert_and_signal(dir_, path("big/train"), path("new.h5"), SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_FALSE(fs::exists(path("new.h5"))) << "a killed convert left a file at the output path";
}

// Ctrl-C: the process dies of SIGINT as before, and its temporary is removed too.
TEST_F(Interrupted, CtrlCDuringConvertLeavesNothing) {
  const int status = convert_and_signal(dir_, path("big/train"), path("new.h5"), SIGINT);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGINT);
  EXPECT_FALSE(fs::exists(path("new.h5")));
  EXPECT_TRUE(hidden_temps(dir_).empty()) << "temporary left after Ctrl-C";
}

// Issue: `train --log data.h5` where data.h5 is --data truncated the dataset.
TEST_F(DataSafety, TrainRefusesAnOutputThatIsAnInput) {
  make_inputs();
  const std::string data = path("old.h5"), before = file_bytes(data);
  fs::create_hard_link(data, path("alias.h5"));
  const std::vector<std::vector<std::string>> cases = {
      {"--log", data}, {"--save", data}, {"--save", path("alias.h5")}, {"--log", path("./sub/../old.h5")}};
  for (const auto& c : cases) {
    const CliResult r = run_cli({"train", "--data", data, "--model", "flatten dense(2)", c[0], c[1]});
    EXPECT_EQ(r.rc, 2) << c[0] << " " << c[1] << ": " << r.err;
    EXPECT_NE(r.err.find(c[0] + " " + c[1] + " is the same file as --data " + data), std::string::npos) << r.err;
    EXPECT_EQ(file_bytes(data), before);
  }
  ASSERT_EQ(run_cli({"train", "--data", data, "--model", "flatten dense(2)", "--save", path("w.stkw")}).rc, 0);
  CliResult r = run_cli({"train", "--data", data, "--model", "flatten dense(2)", "--load", path("w.stkw"), "--save",
                         path("w.stkw"), "--log", path("w.stkw")});
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("--log " + path("w.stkw") + " is the same file as --load"), std::string::npos) << r.err;
  r = run_cli({"train", "--data", data, "--model", "flatten dense(2)", "--save", path("log.txt"), "--log", path("log.txt")});
  EXPECT_EQ(r.rc, 2) << r.err;
  r = run_cli({"convert", data, data});
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(file_bytes(data), before);
}

// Issue: a missing --save folder was found after the last epoch.
TEST_F(DataSafety, TrainChecksTheSaveFolderBeforeTraining) {
  make_inputs();
  const CliResult r =
      run_cli({"train", "--data", path("old.h5"), "--model", "flatten dense(2)", "--save", path("no/such/w.stkw")});
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("no/such"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("epoch 1"), std::string::npos) << "trained before finding the folder missing:\n" << r.out;
}

// Issue: a full disk during --save left a torn weights file that --load then refused.
TEST_F(DataSafety, AFullDiskDuringSaveKeepsThePreviousWeights) {
  make_inputs();
  const std::string w = path("w.stkw");
  const std::string train = "\"$STOKER\" train --data " + path("old.h5") + " --model \"flatten dense(2)\" --save " + w;
  ASSERT_EQ(run_bash(train).rc, 0);
  const std::string before = file_bytes(w);
  ASSERT_GT(before.size(), 1024u);
  const Proc p = run_bash("trap \"\" XFSZ; ulimit -f 1; exec " + train + " --seed 5");  // 1 KiB
  EXPECT_EQ(p.rc, 1) << p.out;
  EXPECT_NE(p.out.find(w), std::string::npos) << p.out;
  EXPECT_EQ(file_bytes(w), before);
  EXPECT_TRUE(hidden_temps(dir_).empty());
  EXPECT_EQ(run_bash(train + " --load " + w + " --epochs 1").rc, 0) << "the kept file loads";
}

}  // namespace
}  // namespace stoker::cli::testing
