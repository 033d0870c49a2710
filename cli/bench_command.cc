// `stoker bench`: runs the input pipeline alone on real data (an HDF5 file, or an image folder
// with JPEG decode + resize) and reports images/s, MB/s, the per-stage stats of
// Iterator::stats(), the stage that bounds throughput, and the pipeline's peak memory.
//
// Bottleneck: walking from the consumer towards the source, each asynchronous stage records the
// time it waited for its input. A stage that waited for most of the run was starved by what
// feeds it; the deepest starved stage is waiting on its own producer work (hdf5: block reads and
// inflate; map: its parallel function, e.g. decode; prefetch: the serial stages below it).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/data_source.h"
#include "pipeline/error.h"

namespace stoker::cli {
namespace {

std::string bottleneck(const PipelineStats& st, double wall) {
  // stats.stages: outermost (prefetch) first, source last.
  const StageStats* starved = nullptr;
  for (const StageStats& s : st.stages) {
    if (s.wait_input_s >= 0.5 * wall) starved = &s;
  }
  if (!starved) {
    return "the serial stages on the consumer thread (no asynchronous stage waited for half the run)";
  }
  const double pct = 100.0 * starved->wait_input_s / wall;
  char buf[256];
  if (starved->name.rfind("prefetch", 0) == 0) {
    std::snprintf(buf, sizeof buf,
                  "the serial stages below '%s' (batch/shuffle work on its thread: it waited %.0f%% of the run)",
                  starved->name.c_str(), pct);
  } else {
    std::snprintf(buf, sizeof buf, "'%s' (waited for its own workers %.0f%% of the run: more threads would help)",
                  starved->name.c_str(), pct);
  }
  return buf;
}

}  // namespace

int bench_command(const Args& args) {
  DataSpec spec;
  spec.path = args.require("data");
  spec.images = args.get("images", spec.images);
  spec.labels = args.get("labels", spec.labels);
  std::tie(spec.height, spec.width) = args.get_size("size");
  spec.gray = args.get_bool("gray");
  const std::int64_t batch = args.get_count("batch", 256);
  const std::int64_t epochs = args.get_count("epochs", 1);
  const std::int64_t limit = args.get_count("limit", 0, true);
  const auto shuffle = static_cast<std::size_t>(args.get_count("shuffle-buffer", 0, true));
  const int threads = static_cast<int>(args.get_count("threads", 0, true));
  const std::size_t budget = args.get_bytes("memory-budget", std::size_t{512} << 20);
  if (budget < (std::size_t{1} << 20)) throw UsageError("--memory-budget must be at least 1M");
  args.reject_unknown();

  LabeledData data = open_labeled(spec);
  Dataset ds = data.make(shuffle);
  if (epochs > 1) ds = ds.repeat(epochs);
  if (limit > 0) ds = ds.take(limit);
  ds = ds.batch(batch).prefetch(2);
  std::printf("data: %s\n", data.description.c_str());
  std::printf("pipeline: %s%s -> batch(%lld) -> prefetch(2), memory budget %s, %s threads\n", data.kind.c_str(),
              shuffle ? (" -> shuffle(" + std::to_string(shuffle) + ")").c_str() : "", static_cast<long long>(batch),
              format_bytes(static_cast<double>(budget)).c_str(), threads > 0 ? std::to_string(threads).c_str() : "all");
  std::fflush(stdout);

  Iterator it = ds.iterator({.num_threads = threads, .memory_budget = budget, .seed = 0});
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
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  const double seen = data.rows > 0 ? static_cast<double>(images) / static_cast<double>(data.rows) : 0;
  std::printf("\n%lld images in %.3f s: %.0f images/s, %.1f MB/s delivered (decoded batches)", static_cast<long long>(images),
              s, s > 0 ? static_cast<double>(images) / s : 0.0, s > 0 ? bytes / s / 1e6 : 0.0);
  if (data.disk_bytes > 0) {
    std::printf(", %.1f MB/s from disk (%s stored)", s > 0 ? seen * static_cast<double>(data.disk_bytes) / s / 1e6 : 0.0,
                data.kind == "hdf5" ? "HDF5" : "JPEG");
  }
  std::printf("\n\nper-stage stats (outermost first; wait in: time blocked on the stage's input):\n%s",
              st.to_string().c_str());
  std::printf("bottleneck: %s\n", bottleneck(st, s).c_str());
  std::printf("peak memory: pipeline %s of %s budget; process peak RSS %s\n",
              format_bytes(static_cast<double>(st.peak_bytes)).c_str(), format_bytes(static_cast<double>(budget)).c_str(),
              format_bytes(static_cast<double>(ru.ru_maxrss) * 1024).c_str());
  return kExitOk;
}

}  // namespace stoker::cli
