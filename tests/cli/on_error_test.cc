// --on-error fail|skip on `train`, `bench` and `convert`, run in-process on an image folder made at
// test time that holds one truncated JPEG (cut inside its scan) among good ones: fail ends the
// command with exit code 1 naming the file; skip completes and reports the count and the file.
// A JPEG that lacks only its EOI marker is not bad: it decodes, with a counted warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli_test_util.h"
#include "formats/hdf5_source.h"
#include "formats/jpeg_encode.h"

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

class OnError : public CliTest {
 protected:
  // root/a: 6 good JPEGs; root/b: 5 good, then b/9_cut.jpg cut at half its size. With
  // `missing_eoi`, b/5_no_eoi.jpg (a good JPEG minus its last 2 bytes) too.
  std::string make_folder(bool missing_eoi = false) {
    const std::string root = path("imgs");
    for (int k = 0; k < 2; ++k) {
      fs::create_directories(fs::path(root) / (k ? "b" : "a"));
      for (int i = 0; i < (k ? 5 : 6); ++i) write(root + (k ? "/b/" : "/a/") + std::to_string(i) + ".jpg", jpeg(k * 10 + i));
    }
    const auto good = jpeg(99);
    cut_ = root + "/b/9_cut.jpg";
    write(cut_, {good.begin(), good.begin() + static_cast<long>(good.size() / 2)});
    if (missing_eoi) write(root + "/b/5_no_eoi.jpg", {good.begin(), good.end() - 2});
    return root;
  }
  static std::vector<std::uint8_t> jpeg(int seed) {
    std::vector<std::uint8_t> px(24 * 32 * 3);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>((i * 7 + seed * 31) % 251);
    return encode_jpeg(px.data(), 24, 32, 3);
  }
  static void write(const std::string& p, const std::vector<std::uint8_t>& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  }
  std::vector<std::string> train_args(const std::string& data) const {
    return {"train", "--data", data, "--size", "16x16", "--epochs", "2", "--batch", "4", "--device", "cpu",
            "--model", "conv2d(4,3,relu) flatten dense(2,softmax)", "--threads", "2", "--progress", "line"};
  }
  std::string cut_;
};

TEST_F(OnError, TrainFailsOnATruncatedJpegByDefaultNamingIt) {
  const std::string root = make_folder();
  for (bool explicit_fail : {false, true}) {
    auto a = train_args(root);
    if (explicit_fail) a.insert(a.end(), {"--on-error", "fail"});
    CliResult r = run_cli(a);
    EXPECT_EQ(r.rc, 1) << r.out << r.err;
    EXPECT_NE(r.err.find(cut_), std::string::npos) << r.err;
  }
}

TEST_F(OnError, TrainSkipsCountsInEveryEpochLineAndTheSummary) {
  const std::string root = make_folder();
  auto a = train_args(root);
  a.insert(a.end(), {"--on-error", "skip", "--log", path("log.jsonl")});
  CliResult r = run_cli(a);
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_EQ(count(r.out, "1 bad elements skipped"), 2u) << r.out;  // one per epoch line
  EXPECT_NE(r.out.find("skipped 2 bad elements (--on-error skip)"), std::string::npos) << r.out;
  // One message per epoch (the shuffled record index differs), each naming the file.
  EXPECT_EQ(count(r.out, "  skipped: "), 2u) << r.out;
  EXPECT_EQ(count(r.out, cut_), 2u) << r.out;
  EXPECT_EQ(count(read_text(path("log.jsonl")), "\"skipped_elements\":1"), 2u);
  EXPECT_EQ(count(read_text(path("log.jsonl")), "\"samples\":11"), 2u);  // 12 files, 1 skipped
}

TEST_F(OnError, BenchFailsOrSkipsAndDecodesAFileMissingOnlyItsEoi) {
  const std::string root = make_folder(/*missing_eoi=*/true);
  CliResult r = run_cli({"bench", "--data", root, "--size", "16x16", "--batch", "4", "--threads", "2"});
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.err.find(cut_), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("no_eoi"), std::string::npos) << r.err;

  r = run_cli({"bench", "--data", root, "--size", "16x16", "--batch", "4", "--threads", "2", "--on-error", "skip"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("12 images in"), std::string::npos) << r.out;  // 13 files, 1 skipped
  EXPECT_NE(r.out.find("skipped 1 bad element (--on-error skip)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  skipped: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(cut_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: 1 JPEG decode of files without an EOI marker"), std::string::npos) << r.out;
}

TEST_F(OnError, ConvertListsTheFilesItSkipped) {
  const std::string root = make_folder();
  CliResult r = run_cli({"convert", root, path("fail.h5"), "--size", "16x16"});
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.err.find(cut_), std::string::npos) << r.err;

  r = run_cli({"convert", root, path("skip.h5"), "--size", "16x16", "--on-error", "skip"});
  ASSERT_EQ(r.rc, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("/train/images: 11 rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped 1 bad element"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  skipped: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(cut_), std::string::npos) << r.out;
  std::int64_t rows = 0;
  Iterator it = hdf5(path("skip.h5"), {"/train/labels"}).iterator({.num_threads = 1});
  while (it.next()) ++rows;
  EXPECT_EQ(rows, 11);
}

TEST_F(OnError, AnythingButFailOrSkipIsAUsageError) {
  const std::string root = make_folder();
  for (const std::vector<std::string>& a :
       {std::vector<std::string>{"bench", "--data", root, "--on-error", "ignore"},
        std::vector<std::string>{"convert", root, path("x.h5"), "--on-error", "Skip"},
        std::vector<std::string>{"train", "--data", root, "--on-error", ""}}) {
    CliResult r = run_cli(a);
    EXPECT_EQ(r.rc, 2) << a[0] << ": " << r.err;
    EXPECT_NE(r.err.find("on-error"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace stoker::cli::testing
