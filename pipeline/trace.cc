// Chrome trace recorder (see trace.h).
#include "pipeline/trace.h"

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "pipeline/error.h"

namespace stoker {
namespace {

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

}  // namespace

TraceRecorder::TraceRecorder(std::size_t max_spans) : origin_ns_(steady_ns()), max_spans_(max_spans) {}

int TraceRecorder::tid_locked() {
  auto [it, inserted] = tids_.try_emplace(std::this_thread::get_id(), static_cast<int>(tids_.size()) + 1);
  return it->second;
}

void TraceRecorder::span(const char* category, std::string_view name, std::uint64_t begin_ns, std::uint64_t end_ns) {
  std::lock_guard lock(mu_);
  if (spans_.size() >= max_spans_) {
    ++dropped_;
    return;
  }
  spans_.push_back(Span{category, std::string(name), begin_ns, end_ns, tid_locked()});
}

std::uint64_t TraceRecorder::dropped_spans() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void TraceRecorder::name_thread(std::string name) {
  std::lock_guard lock(mu_);
  names_[tid_locked()] = std::move(name);
}

std::size_t TraceRecorder::num_spans() const {
  std::lock_guard lock(mu_);
  return spans_.size();
}

std::string TraceRecorder::to_json() const {
  std::lock_guard lock(mu_);
  nlohmann::json events = nlohmann::json::array();
  for (const auto& [id, tid] : tids_) {
    auto named = names_.find(tid);
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", 1}, {"tid", tid},
                      {"args", {{"name", named != names_.end() ? named->second : "worker " + std::to_string(tid)}}}});
  }
  for (const Span& s : spans_) {
    const double ts = static_cast<double>(static_cast<std::int64_t>(s.begin_ns - origin_ns_)) / 1e3;
    events.push_back({{"ph", "X"}, {"cat", s.category}, {"name", s.name}, {"pid", 1}, {"tid", s.tid},
                      {"ts", ts}, {"dur", static_cast<double>(s.end_ns - s.begin_ns) / 1e3}});
  }
  return nlohmann::json{{"traceEvents", std::move(events)},
                        {"displayTimeUnit", "ms"},
                        {"otherData", {{"dropped_spans", dropped_}}}}
      .dump();
}

void TraceRecorder::write(const std::string& path) const {
  const std::string text = to_json();
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text << '\n';
  f.flush();
  if (!f) throw Error(ErrorCode::kIo, "cannot write the trace file", {"trace", path});
}

void TraceSpan::begin(const char* category, std::string_view name) {
  category_ = category;
  name_ = name;
  begin_ns_ = steady_ns();
}

void TraceSpan::end() { trace_->span(category_, name_, begin_ns_, steady_ns()); }

}  // namespace stoker
