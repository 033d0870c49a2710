// `stoker train`: streams labeled images from an HDF5 file or an image folder through a stoker
// pipeline (block shuffle + bounded shuffle buffer -> batch -> prefetch) into the Trainer, with
// the planner choosing micro-batches, a progress display, a JSON Lines log and a clean stop on
// Ctrl-C (after the current step; weights saved with --save).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "cli/commands.h"
#include "cli/data_source.h"
#include "cli/distributed_run.h"
#include "cli/on_error.h"
#include "cli/progress.h"
#include "cli/train_checkpoint.h"
#include "cli/storage.h"
#include "device/pinned_ring.h"
#include "pipeline/atomic_file.h"
#include "pipeline/error.h"
#include "trainer/cpu_blas.h"
#include "trainer/trainer.h"

namespace stoker::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_sigint(int) { g_stop.store(true); }

// Installs the Ctrl-C handler for its lifetime. SA_RESETHAND: a second Ctrl-C kills as usual.
class SigintGuard {
 public:
  SigintGuard() {
    g_stop.store(false);
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintGuard() { sigaction(SIGINT, &old_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction old_ {};
};

struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

}  // namespace

int train_command(const Args& args) {
  DataSpec spec = data_spec_from(args);
  const bool validate = args.has("val-data") || args.has("val-images") || args.has("val-labels");
  const std::string val_path = args.get("val-data", spec.path);
  const std::string val_images = args.get("val-images", "/test/images");
  const std::string val_labels = args.get("val-labels", "/test/labels");
  const std::int64_t classes_flag = args.get_count("classes", 0, true, kMaxClasses);
  const std::string model = args.get("model", "seed");
  const int epochs = static_cast<int>(args.get_count("epochs", 1, false, kMaxEpochs));
  const std::string batch_text = args.get("batch", "32");
  std::int64_t batch_flag = 0;
  if (batch_text != "auto") {
    batch_flag = args.get_count("batch", 32, false, kMaxBatch);
  }
  const std::string precision = args.get_choice("precision", {"float32", "mixed_float16", "mixed_bfloat16"}, "float32");
  const double lr = args.get_double("lr", 1e-3);
  if (!(lr > 0)) throw UsageError("--lr expects a positive number");
  const std::string schedule = args.get_choice("lr-schedule", {"constant", "cosine"}, "constant");
  const std::string device = args.get_choice("device", {"cpu", "cuda", "auto"}, "auto");
  const std::uint64_t model_memory = args.get_bytes("model-memory", 0);
  const auto seed = static_cast<std::uint64_t>(args.get_count("seed", 0, true));
  const std::string load = args.get("load", "");
  const std::string save = args.get("save", "");
  const std::size_t budget = args.get_bytes("memory-budget", std::size_t{1} << 30);
  if (budget < (std::size_t{1} << 20)) throw UsageError("--memory-budget must be at least 1M");
  const std::string shuffle_text = args.get("shuffle-buffer", "auto");
  const int threads = static_cast<int>(args.get_count("threads", 0, true, kMaxThreads));
  spec.num_threads = threads;
  const std::string log_path = args.get("log", "");
  const std::string progress = args.get_choice("progress", {"auto", "bar", "line"}, "auto");
  const std::string pinned = args.get_choice("pinned-ring", {"auto", "on", "off"}, "auto");
  const CheckpointFlags checkpoint = checkpoint_flags(args);
  const std::string trace_path = args.get("trace", "");
  const std::string feeder = args.get_choice("feeder", {"auto", "on", "off"}, "auto");
  const ErrorPolicy on_error = error_policy_from(args);
  args.reject_unknown();
  std::shared_ptr<TraceRecorder> trace = trace_path.empty() ? nullptr : start_trace(trace_path, "main (training)");
  if (!load.empty() && access(load.c_str(), R_OK) != 0) throw UsageError("--load: cannot read " + load);
  // No output may be an input (issue: `--log data.h5` truncated the dataset), nor each other.
  const std::vector<FlagPath> inputs{{"--data", spec.path}, {"--val-data", validate ? val_path : ""}, {"--load", load}};
  refuse_output_over_input({"--log", log_path}, inputs);
  // --save may be --load (continue training in place): the load is done before training and the
  // save is atomic, so the old weights stay whole until the new ones are complete.
  refuse_output_over_input({"--save", save}, {inputs[0], inputs[1]});
  refuse_output_over_input({"--save", save}, {{"--log", log_path}});
  // Found now, not after the last epoch: the folder of --save must exist and take a new file.
  if (!save.empty()) check_writable(save, "--save");

  // Under mpirun: this rank's place in the job (data parallel); alone otherwise.
  const DistributedRun dist = join_distributed_run();
  LabeledData data = open_labeled(spec);
  check_batch_fits(data, spec.path, batch_flag, budget);
  std::size_t shuffle_buffer = shuffle_text == "auto" ? auto_shuffle_buffer(data, budget)
                                                      : static_cast<std::size_t>(args.get_count("shuffle-buffer", 0, true));
  std::optional<LabeledData> val;
  if (validate) {
    DataSpec vs = spec;
    vs.path = val_path;
    vs.images = val_images;
    vs.labels = val_labels;
    vs.height = static_cast<int>(data.height);
    vs.width = static_cast<int>(data.width);
    val = open_labeled(vs);
    if (val->height != data.height || val->width != data.width || val->channels != data.channels ||
        val->image_dtype != data.image_dtype) {
      throw Error(ErrorCode::kInvalidArgument,
                  "validation images are " + std::to_string(val->height) + "x" + std::to_string(val->width) + "x" +
                      std::to_string(val->channels) + " " + dtype_name(val->image_dtype) + " but training images are " +
                      std::to_string(data.height) + "x" + std::to_string(data.width) + "x" + std::to_string(data.channels) +
                      " " + dtype_name(data.image_dtype));
    }
  }
  const int classes = classes_flag > 0 ? static_cast<int>(classes_flag) : data.count_classes();
  if (classes < 2) {
    throw Error(ErrorCode::kInvalidArgument, "the labels name " + std::to_string(classes) +
                                                 " class(es); a classifier needs at least 2 (see --classes)");
  }
  ModelSpec model_spec;
  try {
    model_spec = ModelSpec::from_string(model, classes);
  } catch (const Error& e) {
    throw UsageError("--model: " + e.message());
  }

  TrainerConfig cfg;
  cfg.backend = device;
  cfg.precision = parse_precision(precision);
  cfg.optimizer.learning_rate = static_cast<float>(lr);
  cfg.batch_size = batch_flag;
  cfg.memory_limit = model_memory;
  cfg.num_threads = threads;
  cfg.input_scale = data.image_dtype == DType::kU8 ? 1.f / 255.f : 1.f;
  cfg.seed = seed;
  // The feeder's two device buffers hold whole batches beside the model: the planner reserves them.
  const bool gpu_expected = device == "cuda" || (device == "auto" && cuda_backend_available());
  const bool use_feeder = feeder == "on" || (feeder == "auto" && gpu_expected);
  if (use_feeder) cfg.device_batch_buffers = 2;
  cfg.communicator = dist.comm;
  std::unique_ptr<Trainer> trainer_ptr;
  try {
    trainer_ptr = std::make_unique<Trainer>(model_spec, Hwc{data.height, data.width, data.channels}, cfg);
  } catch (const Error& e) {
    // The trainer's hints name its config field (--backend); this command's flag is --device.
    std::string msg = e.message();
    for (std::size_t p; (p = msg.find("--backend")) != std::string::npos;) msg.replace(p, 9, "--device");
    throw Error(e.code(), msg, e.context());
  }
  Trainer& trainer = *trainer_ptr;
  announce_distributed_run(dist, trainer);
  if (!load.empty()) trainer.load_weights(load);
  const std::int64_t batch = trainer.plan().batch;
  const std::int64_t rank_rows = data.rows / dist.size;  // equal shards (at most a block less each)
  const std::int64_t steps_per_epoch = (rank_rows + batch - 1) / batch;
  OptimizerConfig optimizer = cfg.optimizer;
  optimizer.schedule = parse_schedule(schedule);
  optimizer.decay_steps = epochs * steps_per_epoch;
  trainer.set_optimizer(optimizer);

  // Data parallel: each rank reads its own equal shard in blocks of one batch (rounded to chunks).
  Dataset train = data.make_shard(shuffle_buffer, {dist.size, dist.rank, batch}).batch(batch).prefetch(2);
  FitOptions fo;
  fo.epochs = epochs;
  if (val && dist.root()) fo.validation = val->make(0).batch(batch).prefetch(2);
  fo.pipeline_options.num_threads = threads;
  fo.pipeline_options.memory_budget = budget;
  fo.pipeline_options.seed = seed;
  fo.pipeline_options.error_policy = on_error;
  fo.pipeline_options.max_logged_errors = 8;
  fo.stop = &g_stop;
  fo.save_on_stop = dist.root() ? save : "";
  const std::string run_key = checkpoint_run_key(data, batch, shuffle_buffer, budget, optimizer);
  if (!checkpoint.resume.empty()) fo.resume = resume_training(trainer, checkpoint, run_key);
  if (dist.root()) enable_checkpoints(fo, trainer, checkpoint, run_key);  // rank 0 saves, as for --save
  fo.pipeline_options.trace = trace;

  // Batches for the GPU are written straight into page-locked slots (a ring of 4: two queued in
  // prefetch, one being assembled, one training), so the backend's H2D copy runs at DMA speed.
  std::shared_ptr<PinnedRing> ring;
  const bool gpu = trainer.backend().stream() != nullptr;
  if (pinned == "on" || (pinned == "auto" && gpu)) {
    const Element row{Tensor(data.image_dtype, Shape{data.height, data.width, data.channels}),
                      Tensor(DType::kI64, Shape{})};  // labels: int32 or int64, sized for the wider
    ring = std::make_shared<PinnedRing>(PinnedRing::slot_bytes_for(row, batch), 4);
    fo.pipeline_options.batch_allocator = ring;
  }
  // ring -> DeviceFeeder -> backend (the feeder copies batch i+1 while batch i trains), or the
  // serial path where the backend uploads each batch on its compute stream.
  fo.device_feeder = use_feeder;  // with FitOptions::feeder_buffers = 2, as reserved above

  std::printf("data: %s\n", data.description.c_str());
  if (val) std::printf("validation: %s\n", val->description.c_str());
  std::printf("model: %s (%d classes)\n", trainer.spec().to_string().c_str(), classes);
  std::printf("backend: %s, %s, batch %lld%s, lr %g (%s)\nplan: %s\n", trainer.backend().name().c_str(),
              precision.c_str(), static_cast<long long>(batch), batch_flag == 0 ? " (auto)" : "", lr, schedule.c_str(),
              trainer.plan().to_string().c_str());
  if (trainer.backend().name() == "cpu") std::printf("blas: %s\n", cpu_blas::note().c_str());
  if (dist.comm) {
    std::printf("data parallel: %d ranks x batch %lld = global batch %lld; each rank reads its own equal shard\n",
                dist.size, static_cast<long long>(batch), static_cast<long long>(batch) * dist.size);
  }
  std::printf("pipeline: memory budget %s, shuffle buffer %zu rows, %s threads\n",
              format_bytes(static_cast<double>(budget)).c_str(), shuffle_buffer,
              threads > 0 ? std::to_string(threads).c_str() : "all");
  if (fo.resume && fo.resume->epoch >= epochs) {
    std::printf("resumed from %s: all %d epochs were done (step %lld); nothing left to train\n",
                checkpoint.resume.c_str(), epochs, static_cast<long long>(trainer.steps()));
  } else if (fo.resume) {
    std::printf("resumed from %s: epoch %d, %lld batches in, step %lld\n", checkpoint.resume.c_str(), fo.resume->epoch + 1,
                static_cast<long long>(fo.resume->batches), static_cast<long long>(trainer.steps()));
  }
  if (ring) {
    std::printf("batches: %zu %s slots of %s\n", ring->num_slots(), ring->pinned() ? "pinned" : "host (no CUDA device)",
                format_bytes(static_cast<double>(ring->slot_bytes())).c_str());
  }
  const char* input = !fo.device_feeder ? "serial (the backend uploads each batch on its compute stream)"
                      : gpu ? "device feeder (H2D copy of batch i+1 on its own stream while batch i trains)"
                            : "device feeder in host mode (no GPU backend)";
  std::printf("input: %s\n", input);
  std::fflush(stdout);

  std::unique_ptr<std::FILE, FileCloser> log;
  if (!log_path.empty() && dist.root()) {
    log.reset(std::fopen(log_path.c_str(), fo.resume ? "a" : "w"));  // a resumed run continues its log
    if (!log) throw UsageError("--log: cannot write " + log_path);
  }
  const bool bar = progress == "bar" || (progress == "auto" && isatty(fileno(stdout)));
  TrainProgress prog(bar, epochs, steps_per_epoch, stdout, log.get());
  fo.on_step = [&](const StepReport& s) { prog.on_step(s); };
  fo.on_epoch = [&](const EpochReport& r) { prog.on_epoch(r); };

  std::vector<EpochReport> reports;
  {
    SigintGuard guard;
    reports = trainer.fit(train, fo);
  }
  const bool stopped = !reports.empty() && reports.back().stopped;
  if (fo.pipeline_options.trace) finish_trace(*fo.pipeline_options.trace, trace_path, false);
  if (!save.empty() && !stopped && dist.root()) trainer.save_weights(save);
  if (dist.comm) print_weights_checksum(dist, trainer);

  double seconds = 0, wait = 0;
  std::int64_t samples = 0;
  std::size_t peak_pipeline = 0, peak_rss = 0;
  std::uint64_t skipped = 0;
  std::vector<std::string> skip_messages;
  for (const EpochReport& r : reports) {
    skipped += r.skipped_elements;
    merge_messages(skip_messages, r.skipped_errors, 3);
    seconds += r.seconds;
    samples += r.samples;
    wait += r.seconds * r.stall_pct / 100.0;
    peak_pipeline = std::max(peak_pipeline, r.peak_pipeline_bytes);
    peak_rss = std::max(peak_rss, r.peak_rss_bytes);
  }
  if (stopped) {
    std::printf("interrupted after %lld steps%s\n", static_cast<long long>(trainer.steps()),
                save.empty() ? " (no --save given: weights not written)" : ("; weights saved to " + save).c_str());
    if (!checkpoint.path.empty()) std::printf("checkpoint written to %s (continue with --resume %s)\n", checkpoint.path.c_str(), checkpoint.path.c_str());
  }
  if (!reports.empty()) {
    const EpochReport& last = reports.back();
    if (last.validation) {
      std::printf("test accuracy %.4f (loss %.4f, %lld samples)\n", last.validation->accuracy, last.validation->loss,
                  static_cast<long long>(last.validation->samples));
    } else {
      std::printf("train accuracy %.4f (last epoch; no validation data)\n", last.accuracy);
    }
  }
  std::printf("throughput %.0f samples/s (%lld samples in %.1f s of training), input stall %.1f%%\n",
              seconds > 0 ? static_cast<double>(samples) / seconds : 0.0, static_cast<long long>(samples), seconds,
              seconds > 0 ? 100.0 * wait / seconds : 0.0);
  if (!reports.empty() && reports.back().feeder) std::printf("%s\n", reports.back().feeder->to_string().c_str());
  std::printf("memory: pipeline peak %s of %s budget, process peak RSS %s\n",
              format_bytes(static_cast<double>(peak_pipeline)).c_str(), format_bytes(static_cast<double>(budget)).c_str(),
              format_bytes(static_cast<double>(peak_rss)).c_str());
  print_skipped(stdout, skipped, skip_messages, 3);
  print_jpeg_warnings(stdout, data.jpeg_counts.get());
  if (!save.empty() && !stopped) std::printf("weights saved to %s\n", save.c_str());
  return stopped ? kExitInterrupted : kExitOk;
}

}  // namespace stoker::cli
