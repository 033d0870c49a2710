// `stoker bench`: runs the input pipeline alone on real data (an HDF5 file, or an image folder
// with JPEG decode + resize) and reports images/s, MB/s, the per-stage stats of
// Iterator::stats(), the stage that bounds throughput, and the pipeline's peak memory.
//
// Bottleneck: each asynchronous stage records the time it was blocked on its input: prefetch, the
// consumer waiting for a ready batch; map, waiting for its workers; hdf5, waiting for block reads.
// The deepest stage (closest to the source) that waited for at least half the run names the
// bottleneck: its own parallel work (map, hdf5), or for prefetch the serial stages that run on its
// thread (batch, shuffle, row copies). The table is printed too, so the verdict can be checked.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/data_source.h"
#include "cli/json_report.h"
#include "cli/on_error.h"
#include "pipeline/error.h"

namespace stoker::cli {
namespace {

std::string bottleneck(const PipelineStats& st, double wall) {
  // stats.stages: outermost (prefetch) first, source last.
  std::size_t starved = st.stages.size();
  for (std::size_t i = 0; i < st.stages.size(); ++i) {
    if (st.stages[i].wait_input_s >= 0.5 * wall) starved = i;
  }
  if (starved == st.stages.size()) {
    return "none of the asynchronous stages waited for half the run: the serial stages on the consumer "
           "thread, or the consumer itself";
  }
  const StageStats& s = st.stages[starved];
  const double pct = wall > 0 ? 100.0 * s.wait_input_s / wall : 0;
  char buf[512];
  if (s.name.rfind("prefetch", 0) == 0) {
    std::string below;
    for (std::size_t i = starved + 1; i < st.stages.size(); ++i) {
      if (!below.empty()) below += ", ";
      below += st.stages[i].name;
    }
    std::snprintf(buf, sizeof buf,
                  "the serial work on the prefetch thread (%s): the consumer waited on '%s' %.0f%% of the run "
                  "while no stage below it waited on its input for half the run",
                  below.c_str(), s.name.c_str(), pct);
  } else {
    std::snprintf(buf, sizeof buf,
                  "'%s': it waited %.0f%% of the run for its own parallel work (reads, decode or the mapped "
                  "function); more --threads would help",
                  s.name.c_str(), pct);
  }
  return buf;
}

// Resident bytes of this process now (VmRSS), 0 where /proc is unavailable.
std::size_t current_rss() {
  long pages = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

int bench_command(const Args& args) {
  // The process before any data is opened: what the pipeline's memory is measured against.
  const std::size_t idle_rss = current_rss();
  DataSpec spec = data_spec_from(args);
  const std::int64_t batch = args.get_count("batch", 256, false, kMaxBatch);
  const std::int64_t epochs = args.get_count("epochs", 1, false, kMaxEpochs);
  const std::int64_t limit = args.get_count("limit", 0, true);
  const auto shuffle = static_cast<std::size_t>(args.get_count("shuffle-buffer", 0, true));
  const int threads = static_cast<int>(args.get_count("threads", 0, true, kMaxThreads));
  const std::size_t budget = args.get_bytes("memory-budget", std::size_t{512} << 20);
  if (budget < (std::size_t{1} << 20)) throw UsageError("--memory-budget must be at least 1M");
  const bool json = args.get_bool("json");
  const std::string trace_path = args.get("trace", "");
  const ErrorPolicy on_error = error_policy_from(args);
  args.reject_unknown();
  std::shared_ptr<TraceRecorder> trace = trace_path.empty() ? nullptr : start_trace(trace_path, "main (consumer)");

  LabeledData data = open_labeled(spec);
  check_batch_fits(data, spec.path, batch, budget);
  Dataset ds = data.make(shuffle);
  if (epochs > 1) ds = ds.repeat(epochs);
  if (limit > 0) ds = ds.take(limit);
  ds = ds.batch(batch).prefetch(2);
  const std::string pipeline_text = data.kind + (shuffle ? " -> shuffle(" + std::to_string(shuffle) + ")" : "") +
                                    " -> batch(" + std::to_string(batch) + ") -> prefetch(2)";
  if (!json) {
    std::printf("data: %s\n", data.description.c_str());
    std::printf("pipeline: %s, memory budget %s, %s threads\n", pipeline_text.c_str(),
                format_bytes(static_cast<double>(budget)).c_str(), threads > 0 ? std::to_string(threads).c_str() : "all");
    std::fflush(stdout);
  }

  Iterator it = ds.iterator({.num_threads = threads, .memory_budget = budget, .seed = 0, .error_policy = on_error,
                             .max_logged_errors = 8, .trace = trace});
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t images = 0;
  double bytes = 0;
  Element b;
  while (it.next(b)) {
    images += b[0].shape()[0];
    for (const Tensor& t : b) bytes += static_cast<double>(t.nbytes());
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const PipelineStats st = it.stats();
  if (trace) finish_trace(*trace, trace_path, json);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  const double seen = data.rows > 0 ? static_cast<double>(images) / static_cast<double>(data.rows) : 0;
  if (json) {
    nlohmann::ordered_json j = {
        {"data", {{"path", spec.path}, {"kind", data.kind}, {"description", data.description}, {"rows", data.rows},
                  {"height", data.height}, {"width", data.width}, {"channels", data.channels},
                  {"dtype", dtype_name(data.image_dtype)}, {"disk_bytes", data.disk_bytes}}},
        {"pipeline", {{"description", pipeline_text}, {"batch", batch}, {"epochs", epochs}, {"limit", limit},
                      {"shuffle_buffer", shuffle}, {"threads", threads}, {"memory_budget", budget}}},
        {"images", images},
        {"seconds", s},
        {"images_per_s", s > 0 ? static_cast<double>(images) / s : 0.0},
        {"delivered_mb_per_s", s > 0 ? bytes / s / 1e6 : 0.0},
        {"stats", to_json(st)},
        {"bottleneck", bottleneck(st, s)},
        {"peak_pipeline_bytes", st.peak_bytes},
        {"peak_rss_bytes", static_cast<std::uint64_t>(ru.ru_maxrss) * 1024}};
    if (data.disk_bytes > 0) j["disk_mb_per_s"] = s > 0 ? seen * static_cast<double>(data.disk_bytes) / s / 1e6 : 0.0;
    std::printf("%s\n", j.dump(2).c_str());
    return kExitOk;
  }
  std::printf("\n%lld images in %.3f s: %.0f images/s, %.1f MB/s delivered (decoded batches)", static_cast<long long>(images),
              s, s > 0 ? static_cast<double>(images) / s : 0.0, s > 0 ? bytes / s / 1e6 : 0.0);
  if (data.disk_bytes > 0) {
    std::printf(", %.1f MB/s from disk (%s stored)", s > 0 ? seen * static_cast<double>(data.disk_bytes) / s / 1e6 : 0.0,
                data.kind == "hdf5" ? "HDF5" : "JPEG");
  }
  std::printf("\n\nper-stage stats (outermost first; wait in: time blocked on the stage's input):\n%s",
              st.to_string().c_str());
  std::printf("bottleneck: %s\n", bottleneck(st, s).c_str());
  const double peak_rss = static_cast<double>(ru.ru_maxrss) * 1024;
  std::printf("peak memory: pipeline %s of %s budget; process peak RSS %s, %s above the idle process (%s)\n",
              format_bytes(static_cast<double>(st.peak_bytes)).c_str(), format_bytes(static_cast<double>(budget)).c_str(),
              format_bytes(peak_rss).c_str(), format_bytes(std::max(0.0, peak_rss - static_cast<double>(idle_rss))).c_str(),
              format_bytes(static_cast<double>(idle_rss)).c_str());
  std::printf("peak bytes: pipeline %zu, process rss above idle %.0f\n", st.peak_bytes,
              std::max(0.0, peak_rss - static_cast<double>(idle_rss)));
  print_skipped(stdout, st.skipped, st.first_errors, 3);
  print_jpeg_warnings(stdout, data.jpeg_counts.get());
  return kExitOk;
}

}  // namespace stoker::cli
