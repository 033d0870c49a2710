// The machine-readable reports: `bench --json` and `inspect --json` print one JSON object holding
// every figure of the text report, and `train --log` writes one JSON object per line. Each is
// parsed with nlohmann::json (a real parser), so a stray comma or an unquoted NaN fails here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"

namespace stoker::cli::testing {
namespace {

using JsonReport = CliTest;

TEST_F(JsonReport, BenchPrintsOneObjectWithEveryFigure) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "300", "--test-n", "0", "--size", "8", "--classes", "3"}).rc, 0);
  CliResult r = run_cli({"bench", "--data", path("s.h5"), "--batch", "64", "--epochs", "2", "--shuffle-buffer", "50",
                         "--threads", "2", "--memory-budget", "64M", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);  // throws on anything but one JSON value
  EXPECT_EQ(j.at("images").get<std::int64_t>(), 600);
  EXPECT_GT(j.at("seconds").get<double>(), 0);
  EXPECT_GT(j.at("images_per_s").get<double>(), 0);
  EXPECT_GT(j.at("delivered_mb_per_s").get<double>(), 0);
  EXPECT_GT(j.at("disk_mb_per_s").get<double>(), 0);
  EXPECT_EQ(j.at("data").at("rows").get<std::int64_t>(), 300);
  EXPECT_EQ(j.at("data").at("kind"), "hdf5");
  EXPECT_EQ(j.at("pipeline").at("batch").get<std::int64_t>(), 64);
  EXPECT_EQ(j.at("pipeline").at("memory_budget").get<std::uint64_t>(), 64u << 20);
  const nlohmann::json& stages = j.at("stats").at("stages");
  ASSERT_GE(stages.size(), 3u);
  EXPECT_EQ(stages.front().at("name").get<std::string>().rfind("prefetch", 0), 0u) << stages;
  for (const auto& s : stages) {
    for (const char* key : {"elements_in", "elements_out", "skipped", "bytes_held", "peak_bytes", "wait_input_s",
                            "blocked_output_s"}) {
      EXPECT_TRUE(s.contains(key)) << key << " in " << s;
    }
  }
  // The batch stage delivered 10 batches (2 x ceil(300/64) = 2 x 5).
  bool saw_batch = false;
  for (const auto& s : stages) {
    if (s.at("name") == "batch") {
      saw_batch = true;
      EXPECT_EQ(s.at("elements_out").get<std::uint64_t>(), 10u);
    }
  }
  EXPECT_TRUE(saw_batch) << stages;
  EXPECT_FALSE(j.at("bottleneck").get<std::string>().empty());
  EXPECT_GT(j.at("peak_pipeline_bytes").get<std::uint64_t>(), 0u);
  EXPECT_LE(j.at("peak_pipeline_bytes").get<std::uint64_t>(), 64u << 20);
  EXPECT_GT(j.at("peak_rss_bytes").get<std::uint64_t>(), 0u);
}

TEST_F(JsonReport, InspectHdf5AndFolder) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "20", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"inspect", path("s.h5"), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("kind"), "hdf5");
  bool saw_images = false;
  for (const auto& d : j.at("datasets")) {
    if (d.at("name") == "/train/images") {
      saw_images = true;
      EXPECT_EQ(d.at("dtype"), "uint8");
      EXPECT_EQ(d.at("shape"), nlohmann::json({20, 8, 8, 3}));
      EXPECT_EQ(d.at("layout"), "chunked");
      EXPECT_GT(d.at("storage_bytes").get<std::uint64_t>(), 0u);
    }
  }
  EXPECT_TRUE(saw_images) << j;
  bool saw_pair = false;
  for (const auto& p : j.at("trainable_pairs")) {
    if (p.at("images") != "/train/images") continue;
    saw_pair = true;
    EXPECT_EQ(p.at("labels"), "/train/labels");
    EXPECT_EQ(p.at("rows").get<std::int64_t>(), 20);
  }
  EXPECT_TRUE(saw_pair) << j;

  ASSERT_EQ(run_cli({"make-dataset", path("jpg"), "--n", "12", "--test-n", "0", "--size", "8x6", "--classes", "3"}).rc, 0);
  r = run_cli({"inspect", path("jpg/train"), "--samples", "2", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("kind"), "image folder");
  EXPECT_EQ(j.at("files").get<std::int64_t>(), 12);
  ASSERT_EQ(j.at("classes").size(), 3u);
  std::int64_t files = 0;
  for (const auto& c : j.at("classes")) files += c.at("files").get<std::int64_t>();
  EXPECT_EQ(files, 12);
  ASSERT_EQ(j.at("sample_images").size(), 2u);
  EXPECT_EQ(j.at("sample_images")[0].at("width").get<int>(), 6);
  EXPECT_EQ(j.at("sample_images")[0].at("height").get<int>(), 8);
}

TEST_F(JsonReport, InspectSeveralHdf5FilesListsEach) {
  ASSERT_EQ(run_cli({"make-dataset", path("a.h5"), "--n", "20", "--size", "8", "--classes", "2"}).rc, 0);
  ASSERT_EQ(run_cli({"make-dataset", path("b.h5"), "--n", "30", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"inspect", path("*.h5"), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("kind"), "hdf5 files");
  ASSERT_EQ(j.at("files").size(), 2u);
  EXPECT_EQ(j.at("files")[0].at("path"), path("a.h5"));
  EXPECT_EQ(j.at("files")[1].at("path"), path("b.h5"));
}

TEST_F(JsonReport, TrainLogLinesParse) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "64", "--test-n", "16", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--val-images", "/test/images", "--val-labels", "/test/labels",
                         "--epochs", "2", "--batch", "16", "--threads", "1", "--log", path("log.jsonl"), "--progress",
                         "line"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::stringstream ss(read_text(path("log.jsonl")));
  int n = 0;
  for (std::string line; std::getline(ss, line); ++n) {
    const nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j.at("epoch").get<int>(), n + 1);
    EXPECT_EQ(j.at("steps").get<int>(), 4);
    EXPECT_EQ(j.at("samples").get<int>(), 64);
    EXPECT_EQ(j.at("val_samples").get<int>(), 16);
    EXPECT_TRUE(j.at("loss").is_number());
    EXPECT_FALSE(j.at("stopped").get<bool>());
  }
  EXPECT_EQ(n, 2);
}

}  // namespace
}  // namespace stoker::cli::testing
