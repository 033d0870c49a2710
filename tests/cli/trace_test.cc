// --trace: `stoker bench` on a JPEG folder and `stoker train` write Chrome trace JSON (what
// Perfetto and chrome://tracing open): a traceEvents array of complete ("X") events with
// pid/tid/ts/dur, one named track per thread, the decode work on the pool's worker tracks, and
// spans that nest properly within each track (Perfetto draws a track as a stack of spans).
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_test_util.h"

namespace stoker::cli::testing {
namespace {

using Trace = CliTest;

struct Parsed {
  std::map<int, std::string> names;                                // tid -> thread_name
  std::map<int, std::vector<std::pair<double, double>>> spans;     // tid -> (ts, end)
  std::map<std::string, std::set<int>> tids_of;                    // span name -> tids
  std::map<std::string, int> count;                                // span name -> spans
};

Parsed parse_trace(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text);
  Parsed p;
  for (const auto& e : j.at("traceEvents")) {
    const int tid = e.at("tid").get<int>();
    EXPECT_EQ(e.at("pid").get<int>(), 1);
    if (e.at("ph") == "M") {
      EXPECT_EQ(e.at("name"), "thread_name");
      p.names[tid] = e.at("args").at("name").get<std::string>();
      continue;
    }
    EXPECT_EQ(e.at("ph"), "X") << e;
    const double ts = e.at("ts").get<double>(), dur = e.at("dur").get<double>();
    EXPECT_GE(ts, 0);
    EXPECT_GE(dur, 0);
    p.spans[tid].push_back({ts, ts + dur});
    const std::string name = e.at("name").get<std::string>();
    p.tids_of[name].insert(tid);
    ++p.count[name];
  }
  return p;
}

// Within one track, two spans are disjoint or one contains the other.
void expect_nested(const Parsed& p) {
  for (auto [tid, spans] : p.spans) {
    std::sort(spans.begin(), spans.end(), [](auto a, auto b) { return a.first < b.first || (a.first == b.first && a.second > b.second); });
    std::vector<double> open_ends;
    for (const auto& [b, e] : spans) {
      while (!open_ends.empty() && open_ends.back() <= b) open_ends.pop_back();
      if (!open_ends.empty()) EXPECT_LE(e, open_ends.back() + 1e-3) << "span [" << b << ", " << e << ") overlaps on track " << tid;
      open_ends.push_back(e);
    }
  }
}

TEST_F(Trace, BenchOnAJpegFolderHasOneTrackPerWorkerThread) {
  ASSERT_EQ(run_cli({"make-dataset", path("jpg"), "--n", "300", "--test-n", "0", "--size", "32", "--classes", "3"}).rc, 0);
  CliResult r = run_cli({"bench", "--data", path("jpg/train"), "--size", "24", "--batch", "32", "--threads", "2",
                         "--shuffle-buffer", "64", "--trace", path("t.json")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("written to " + path("t.json")), std::string::npos) << r.out;
  const Parsed p = parse_trace(read_text(path("t.json")));
  expect_nested(p);
  // Every track is named; the consumer and the prefetch thread have their names.
  for (const auto& [tid, spans] : p.spans) EXPECT_TRUE(p.names.count(tid)) << "track " << tid << " has no name";
  std::set<std::string> names;
  for (const auto& [tid, n] : p.names) names.insert(n);
  EXPECT_TRUE(names.count("main (consumer)"));
  EXPECT_TRUE(names.count("prefetch"));
  // 300 images in batches of 32: 10 batches and the call that finds the end, on the prefetch thread.
  EXPECT_EQ(p.count.at("batch"), 11);
  ASSERT_EQ(p.tids_of.at("batch").size(), 1u);
  // Decode ran as map chunks on the pool: on at most --threads worker tracks, each its own tid,
  // none of them the consumer's; the decoded images add up to 300 chunks' worth of work.
  ASSERT_TRUE(p.tids_of.count("decode_jpeg")) << "no decode spans";
  const std::set<int>& decoders = p.tids_of.at("decode_jpeg");
  EXPECT_GE(decoders.size(), 1u);
  EXPECT_LE(decoders.size(), 3u);  // 2 arena threads, or the prefetch thread joining in
  int consumer = -1;
  for (const auto& [tid, n] : p.names) if (n == "main (consumer)") consumer = tid;
  EXPECT_FALSE(decoders.count(consumer));
  EXPECT_TRUE(p.tids_of.count("wait: prefetch queue") == 0 || p.tids_of.at("wait: prefetch queue") == std::set<int>{consumer});
}

TEST_F(Trace, TrainTracesStepsAndInputWaits) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "96", "--test-n", "32", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"train", "--data", path("s.h5"), "--val-images", "/test/images", "--val-labels", "/test/labels",
                         "--epochs", "2", "--batch", "16", "--threads", "2", "--progress", "line", "--trace", path("t.json")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Parsed p = parse_trace(read_text(path("t.json")));
  expect_nested(p);
  EXPECT_EQ(p.count.at("train step"), 12);  // 2 epochs x 96 / 16
  EXPECT_EQ(p.count.at("validation"), 2);
  EXPECT_EQ(p.count.at("wait: input batch"), 14);  // each step's batch and each epoch's end
  EXPECT_GE(p.count.at("hdf5 block"), 2);
  EXPECT_EQ(p.tids_of.at("train step").size(), 1u);
}

TEST_F(Trace, AnUnwritableTracePathIsAUsageErrorBeforeTheRun) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "32", "--test-n", "0", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"bench", "--data", path("s.h5"), "--batch", "8", "--trace", path("no/such/dir/t.json")});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--trace: cannot write " + path("no/such/dir/t.json")), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "") << "started before refusing";
  r = run_cli({"train", "--data", path("s.h5"), "--trace", path("no/such/dir/t.json")});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_EQ(r.out, "") << "started before refusing";
}

}  // namespace
}  // namespace stoker::cli::testing
