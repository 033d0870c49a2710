// TraceRecorder: spans land on one track per recording thread, names and tracks are written as
// Chrome trace JSON, and a recorder past its span limit counts what it dropped instead of
// growing.
#include "pipeline/trace.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>

namespace stoker {
namespace {

TEST(TraceRecorder, OneTrackPerThreadAndABoundedSpanCount) {
  TraceRecorder t(/*max_spans=*/5);
  t.name_thread("main");
  { TraceSpan s(&t, "step", "outer"); TraceSpan inner(&t, "wait", "inner"); }
  std::thread other([&] { for (int i = 0; i < 5; ++i) TraceSpan s(&t, "map", "work"); });
  other.join();
  EXPECT_EQ(t.num_spans(), 5u);
  EXPECT_EQ(t.dropped_spans(), 2u);
  const nlohmann::json j = nlohmann::json::parse(t.to_json());
  std::set<int> tids;
  std::map<int, std::string> names;
  for (const auto& e : j.at("traceEvents")) {
    if (e.at("ph") == "M") names[e.at("tid").get<int>()] = e.at("args").at("name");
    else tids.insert(e.at("tid").get<int>());
  }
  EXPECT_EQ(tids.size(), 2u);
  EXPECT_EQ(names.size(), 2u);
  EXPECT_EQ(names.at(1), "main");
  EXPECT_EQ(names.at(2), "worker 2");
  EXPECT_EQ(j.at("otherData").at("dropped_spans").get<int>(), 2);
  TraceSpan off(nullptr, "map", "never recorded");  // off: nothing to record into
}

}  // namespace
}  // namespace stoker
