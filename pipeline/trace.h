// Trace: a timeline of a running pipeline and its consumer as Chrome trace events, the JSON that
// Perfetto (ui.perfetto.dev) and chrome://tracing open. One track per thread: spans of the work
// each stage does (hdf5 block reads, map/decode chunks, batch assembly, training steps) and of
// the time each thread spends blocked (waiting on its input, on memory, on room downstream).
//
// Off by default and then free: stages hold a null TraceRecorder* and test it once per span.
// On, a span costs a clock read at each end and one short locked append (spans are per chunk,
// per batch or per wait, not per element): measured 130-300 ns per span on one thread, 240-560
// ns with two threads recording at once (loaded 2-core machine). Memory: about 80 bytes per
// span, kept until write(), at most max_spans of them (the first ones; later spans are counted
// as dropped and the count written with the trace).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace stoker {

class TraceRecorder {
 public:
  explicit TraceRecorder(std::size_t max_spans = std::size_t{1} << 20);
  // A span [begin_ns, end_ns) of steady-clock time (detail::now_ns) on the calling thread's
  // track. `category`: a static string ("read", "map", "batch", "wait", "step", ...).
  void span(const char* category, std::string_view name, std::uint64_t begin_ns, std::uint64_t end_ns);
  // Names the calling thread's track (otherwise "worker N": the pool threads).
  void name_thread(std::string name);
  std::size_t num_spans() const;
  std::uint64_t dropped_spans() const;
  // {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {"dropped_spans": N}}: the
  // spans as complete ("X") events with microsecond ts/dur, plus a thread_name metadata event per
  // track. write() throws Error kIo naming the path.
  void write(const std::string& path) const;
  std::string to_json() const;

 private:
  struct Span {
    const char* category;
    std::string name;
    std::uint64_t begin_ns, end_ns;
    int tid;
  };
  int tid_locked();  // the calling thread's track, assigned on first use

  std::uint64_t origin_ns_;
  std::size_t max_spans_;
  std::uint64_t dropped_ = 0;
  mutable std::mutex mu_;
  std::vector<Span> spans_;
  std::map<std::thread::id, int> tids_;
  std::map<int, std::string> names_;
};

// Records the span from construction to destruction when `trace` is not null. Off, it is the
// inline null test and nothing else (under 1 ns per span, measured).
class TraceSpan {
 public:
  TraceSpan(TraceRecorder* trace, const char* category, std::string_view name) : trace_(trace) {
    if (trace_) begin(category, name);
  }
  ~TraceSpan() {
    if (trace_) end();
  }
  TraceSpan(const TraceSpan&) = delete;
  TraceSpan& operator=(const TraceSpan&) = delete;

 private:
  void begin(const char* category, std::string_view name);
  void end();
  TraceRecorder* trace_;
  const char* category_ = nullptr;
  std::string_view name_;  // must outlive the span
  std::uint64_t begin_ns_ = 0;
};

}  // namespace stoker
