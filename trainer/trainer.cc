// Trainer loop (see trainer.h).
#include "trainer/trainer.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "pipeline/error.h"
#include "pipeline/iterator_state.h"
#include "pipeline/rng.h"

namespace stoker {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::size_t peak_rss() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<std::size_t>(ru.ru_maxrss) * 1024;
}

}  // namespace

Trainer::Trainer(ModelSpec spec, Hwc input, TrainerConfig config)
    : spec_(std::move(spec)), input_(input), config_(std::move(config)) {
  BackendConfig bc{config_.precision, config_.optimizer, config_.num_threads, config_.input_scale, config_.seed};
  // CUDA under MPI: bind this rank to its device before the backend allocates, and all-reduce
  // with NCCL (with_nccl returns the MPI communicator unchanged when built without NCCL).
  if (config_.communicator && config_.backend != "cpu" && cuda_backend_available()) {
    config_.communicator = with_nccl(config_.communicator);
  }
  backend_ = make_backend(config_.backend, spec_, input_, bc);
  std::size_t available = config_.memory_limit;
  if (available == 0) available = backend_->memory_available();
  MemoryEstimate est =
      estimate_memory(spec_, input_, config_.precision, config_.optimizer.kind, backend_->plan_target());
  if (config_.device_batch_buffers > 0) {
    const std::size_t per_sample = static_cast<std::size_t>(input_[0] * input_[1] * input_[2]) * 4 + 8;
    const std::size_t buffers = static_cast<std::size_t>(config_.device_batch_buffers);
    // A requested batch is known: its buffers are fixed. Auto: the batch is the micro-batch, so
    // the buffers grow with it.
    if (config_.batch_size > 0) est.fixed_bytes += buffers * static_cast<std::size_t>(config_.batch_size) * per_sample;
    else est.bytes_per_sample += buffers * per_sample;
  }
  plan_ = plan_batch(est, available, config_.batch_size);
}

Trainer::~Trainer() = default;

void Trainer::set_optimizer(const OptimizerConfig& o) {
  if (o.kind != config_.optimizer.kind) {
    throw Error(ErrorCode::kInvalidArgument, "set_optimizer: the optimizer kind cannot change once training state exists",
                {"trainer"});
  }
  learning_rate_at(o, 0);  // refuses a schedule without decay_steps
  config_.optimizer = o;
  backend_->set_optimizer(o);
}

BatchView Trainer::view(const Element& batch) const {
  if (batch.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument, "trainer: a batch needs two components (images, labels), got " +
                                                 std::to_string(batch.size()), {"trainer"});
  }
  return view(batch[0].dtype(), batch[0].shape(), batch[0].data(), batch[1].dtype(), batch[1].shape(), batch[1].data());
}

BatchView Trainer::view(DType x_dtype, const Shape& x_shape, const void* x, DType y_dtype, const Shape& y_shape,
                        const void* y) const {
  BatchView v;
  v.x_dtype = x_dtype;
  v.x = x;
  v.n = x_shape.rank() > 0 ? x_shape[0] : 0;
  const std::int64_t per = input_[0] * input_[1] * input_[2];
  if (x_shape.rank() < 2 || x_shape.num_elements() != v.n * per ||
      (x_shape.rank() == 4 && (x_shape[1] != input_[0] || x_shape[2] != input_[1] || x_shape[3] != input_[2]))) {
    throw Error(ErrorCode::kInvalidArgument,
                "trainer: images " + x_shape.to_string() + " do not match the model input [N," +
                    std::to_string(input_[0]) + "," + std::to_string(input_[1]) + "," + std::to_string(input_[2]) +
                    "] (did you batch() the dataset?)",
                {"trainer"});
  }
  v.y_dtype = y_dtype;
  v.y = y;
  const int classes = spec_.classes();
  const bool rows = y_shape.rank() >= 1 && y_shape[0] == v.n;
  if (y_dtype == DType::kF32 && rows && y_shape.num_elements() == v.n * classes) {
    v.one_hot = true;
  } else if ((y_dtype == DType::kI32 || y_dtype == DType::kI64) && rows && y_shape.num_elements() == v.n) {
    v.one_hot = false;
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                std::string("trainer: labels must be int32/int64 [N] or float32 [N,") + std::to_string(classes) +
                    "] for " + std::to_string(v.n) + " images, got " + dtype_name(y_dtype) + " " +
                    y_shape.to_string(),
                {"trainer"});
  }
  return v;
}

StepReport Trainer::train_step(const Element& batch) { return step_on(view(batch), {}); }

StepReport Trainer::train_step(DeviceBatch& batch) {
  if (batch.released()) {
    throw Error(ErrorCode::kInvalidArgument, "trainer: the device batch was already released", {"trainer"});
  }
  if (batch.size() < 2) {
    throw Error(ErrorCode::kInvalidArgument, "trainer: a batch needs two components (images, labels), got " +
                                                 std::to_string(batch.size()), {"trainer"});
  }
  const DeviceTensor& x = batch[0];
  const DeviceTensor& y = batch[1];
  const StreamHandle stream = backend_->stream();
  const bool on_device = x.device != DeviceTensor::kHostDevice;
  if (on_device && !stream) {
    throw Error(ErrorCode::kInvalidArgument,
                "trainer: a batch in device memory needs the cuda backend (this one is " + backend_->name() +
                    "); use FeederBackend::kHost for a host backend",
                {"trainer"});
  }
  BatchView v = view(x.dtype, x.shape, x.data, y.dtype, y.shape, y.data);
  v.on_device = on_device;
  batch.wait_on(stream);  // device-side: the backend's stream waits for the copy; the host does not
  // Released after the update is queued: the feeder's next copy into this buffer waits for the
  // event (never for the host), and the gap between this release and the next batch's start on
  // the stream is exactly the GPU's idle time (FeederStats::gpu_idle_s). With two buffers the copy
  // of batch i+1 (into the other one) overlaps this whole step either way.
  return step_on(v, [&] { batch.release(stream); });
}

StepReport Trainer::step_on(const BatchView& v, const std::function<void()>& after_update) {
  StepReport r;
  Communicator* comm = config_.communicator.get();
  std::int64_t global_n = v.n;
  if (comm) {
    if (!weights_synced_) {
      std::vector<std::vector<float>> params = backend_->get_params();
      for (auto& p : params) comm->broadcast(p.data(), p.size(), 0);
      backend_->set_params(params);
      weights_synced_ = true;
    }
    comm->all_reduce_sum(&global_n, 1);
  }
  if (global_n == 0) {
    if (after_update) after_update();
    return r;
  }
  backend_->zero_grads();
  StepStats st;
  // Each sample weighs 1 / (global batch): the ranks' summed gradients are the full batch's mean.
  const float weight = 1.f / static_cast<float>(global_n);
  if (v.n > 0) {
    const std::int64_t micro = std::min(v.n, plan_.micro_batch);
    backend_->reserve(micro);
    // Micro-batches are slices [b, b + micro) of the one batch: on the device, in place.
    for (std::int64_t b = 0; b < v.n; b += micro) {
      st += backend_->forward_backward(v, b, std::min(micro, v.n - b), weight, static_cast<std::uint64_t>(step_));
    }
  }
  if (comm) {
    backend_->reduce_gradients(*comm);
    double sums[3] = {st.loss_sum, static_cast<double>(st.correct), static_cast<double>(st.count)};
    comm->all_reduce_sum(sums, 3);
    st.loss_sum = sums[0];
    st.correct = static_cast<std::int64_t>(sums[1]);
    st.count = static_cast<std::int64_t>(sums[2]);
  }
  r.applied = backend_->apply_gradients();
  if (after_update) after_update();
  ++step_;
  peak_backend_ = std::max(peak_backend_, backend_->bytes_allocated());
  r.step = step_;
  r.samples = st.count;
  r.loss = st.loss_sum / static_cast<double>(st.count);
  r.accuracy = static_cast<double>(st.correct) / static_cast<double>(st.count);
  r.loss_scale = backend_->loss_scaler().scale;
  return r;
}

bool Trainer::every_rank_has_a_batch(bool have) {
  if (!config_.communicator) return have;
  // A step is global: when any rank's data has ended, every rank ends the epoch here (with equal
  // shards they end together), instead of the others waiting in a collective forever.
  std::int64_t ended = have ? 0 : 1;
  config_.communicator->all_reduce_sum(&ended, 1);
  return ended == 0;
}

EpochReport Trainer::epoch_loop(const std::function<bool(StepReport&, double&)>& next, const FitOptions& options,
                                const FitPosition& start, const SavedState& state) {
  EpochReport rep;
  rep.epoch = start.epoch;
  FitPosition pos = start;
  const auto t0 = Clock::now();
  double wait = 0;
  // The state at the checkpoint's position: the saved state counts elements, and the iterator
  // delivered exactly pos.batches of them to this loop (a feeder may have read further ahead).
  auto checkpoint = [&] {
    if (!state.error.empty()) throw Error(ErrorCode::kUnsupported, state.error, {"trainer"});
    pos.iterator_state = iterator_state_at(state.bytes, static_cast<std::uint64_t>(pos.batches));
    options.on_checkpoint(pos);
  };
  const bool checkpoints = options.on_checkpoint && (!state.bytes.empty() || !state.error.empty());
  while (options.steps_per_epoch <= 0 || pos.steps < options.steps_per_epoch) {
    StepReport s;
    double waited = 0;
    const bool more = next(s, waited);
    wait += waited;
    if (!more) break;
    ++pos.batches;
    s.epoch = start.epoch;
    s.input_wait_s = waited;
    if (s.samples == 0) continue;
    ++pos.steps;
    pos.samples += s.samples;
    pos.skipped_steps += !s.applied;
    pos.loss_sum += s.loss * static_cast<double>(s.samples);
    pos.correct += s.accuracy * static_cast<double>(s.samples);
    if (options.on_step) options.on_step(s);
    if (options.stop) {
      // Data parallel: stop together (Ctrl-C reaches the ranks at different steps).
      std::int64_t stop = options.stop->load() ? 1 : 0;
      if (config_.communicator) config_.communicator->all_reduce_sum(&stop, 1);
      if (stop) {
        rep.stopped = true;
        break;
      }
    }
    if (checkpoints && options.checkpoint_every > 0 && step_ % options.checkpoint_every == 0) checkpoint();
  }
  if (checkpoints && rep.stopped) checkpoint();
  rep.seconds = seconds_since(t0);
  rep.steps = pos.steps;
  rep.samples = pos.samples;
  rep.skipped_steps = pos.skipped_steps;
  if (rep.samples > 0) {
    rep.loss = pos.loss_sum / static_cast<double>(rep.samples);
    rep.accuracy = pos.correct / static_cast<double>(rep.samples);
  }
  rep.samples_per_s = rep.seconds > 0 ? static_cast<double>(rep.samples) / rep.seconds : 0;
  rep.stall_pct = rep.seconds > 0 ? 100.0 * wait / rep.seconds : 0;
  rep.peak_backend_bytes = peak_backend_;
  rep.peak_rss_bytes = peak_rss();
  return rep;
}

EpochReport Trainer::fit_epoch(Iterator& it, const FitOptions& options, int epoch) {
  return epoch_on(it, options, FitPosition{.epoch = epoch}, {});
}

EpochReport Trainer::fit_epoch(DeviceFeeder& feeder, const FitOptions& options, int epoch) {
  return epoch_on(feeder, options, FitPosition{.epoch = epoch}, {});
}

EpochReport Trainer::epoch_on(Iterator& it, const FitOptions& options, const FitPosition& start, const SavedState& state) {
  TraceRecorder* trace = options.pipeline_options.trace.get();
  Element batch;
  EpochReport rep = epoch_loop(
      [&](StepReport& s, double& waited) {
        const auto tw = Clock::now();
        bool more;
        {
          TraceSpan span(trace, "wait", "wait: input batch");
          more = every_rank_has_a_batch(it.next(batch));
        }
        waited = seconds_since(tw);
        if (more) {
          TraceSpan span(trace, "step", "train step");
          s = train_step(batch);
        }
        return more;
      },
      options, start, state);
  // The pipeline's figures: its peak bytes, and what the skip policy dropped (counted since the
  // iterator began).
  PipelineStats ps = it.stats();
  rep.peak_pipeline_bytes = ps.peak_bytes;
  rep.skipped_elements = ps.skipped;
  if (ps.skipped > 0) rep.skipped_errors = std::move(ps.first_errors);
  return rep;
}

EpochReport Trainer::epoch_on(DeviceFeeder& feeder, const FitOptions& options, const FitPosition& start,
                              const SavedState& state) {
  TraceRecorder* trace = options.pipeline_options.trace.get();
  EpochReport rep = epoch_loop(
      [&](StepReport& s, double& waited) {
        const auto tw = Clock::now();
        std::optional<DeviceBatch> b;
        bool more;
        {
          TraceSpan span(trace, "wait", "wait: input batch");
          b = feeder.next();
          more = every_rank_has_a_batch(b.has_value());
        }
        waited = seconds_since(tw);
        if (more) {
          TraceSpan span(trace, "step", "train step");
          s = train_step(*b);
        }
        return more;
      },
      options, start, state);
  // The GPU idle time is measured by events on the backend's stream: exact once it is drained,
  // which apply_gradients() did (it reads the finiteness flag back).
  rep.feeder = feeder.stats();
  if (!rep.feeder->host_mode) rep.stall_pct = rep.feeder->input_stall_pct;
  return rep;
}

void Trainer::end_epoch(EpochReport& rep, const FitOptions& options, std::vector<EpochReport>& out) {
  if (options.validation && !rep.stopped) {
    TraceSpan span(options.pipeline_options.trace.get(), "step", "validation");
    rep.validation = evaluate(*options.validation, options.pipeline_options);
  }
  if (rep.stopped && !options.save_on_stop.empty()) save_weights(options.save_on_stop);
  if (options.on_epoch) options.on_epoch(rep);
  out.push_back(rep);
}

std::vector<EpochReport> Trainer::fit(const Dataset& train, const FitOptions& options) {
  std::vector<EpochReport> out;
  const FitPosition first = options.resume.value_or(FitPosition{});
  for (int e = first.epoch; e < options.epochs; ++e) {
    EpochReport rep;
    {
      // A fresh iterator starts at epoch 0 of its stages: mix the epoch into the seed so random
      // stages seeded from Options (shuffle, random maps) draw a new order every epoch.
      Options po = options.pipeline_options;
      if (e > 0) po.seed = mix64(po.seed + 0x9e3779b97f4a7c15ULL * static_cast<std::uint64_t>(e));
      FitPosition start;
      if (e == first.epoch) start = first;
      start.epoch = e;
      std::optional<Iterator> restored;
      if (!start.iterator_state.empty()) {
        TraceSpan span(po.trace.get(), "resume", "resume: restore iterator");
        restored = train.iterator(po, start.iterator_state);
      }
      Iterator it = restored ? std::move(*restored) : train.iterator(po);
      SavedState state;
      if (options.on_checkpoint) {
        try {
          state.bytes = it.save();  // taken now: a feeder below owns the iterator
        } catch (const Error& err) {
          state.error = err.message();  // refused at the first checkpoint that needs it
        }
      }
      if (options.device_feeder) {
        FeederOptions fo;
        fo.num_buffers = options.feeder_buffers;
        fo.backend = backend_->stream() ? FeederBackend::kCuda : FeederBackend::kHost;
        fo.ring = std::dynamic_pointer_cast<PinnedRing>(po.batch_allocator);
        DeviceFeeder feeder(std::move(it), fo);
        rep = epoch_on(feeder, options, start, state);
      } else {
        rep = epoch_on(it, options, start, state);
      }
    }
    end_epoch(rep, options, out);
    if (rep.stopped) break;
    if (options.on_checkpoint) options.on_checkpoint(FitPosition{.epoch = e + 1});
  }
  return out;
}

std::vector<EpochReport> Trainer::fit(Iterator& train, const FitOptions& options) {
  if (options.resume) {
    throw Error(ErrorCode::kInvalidArgument, "resume needs fit(Dataset): a running iterator cannot be rewound", {"trainer"});
  }
  std::vector<EpochReport> out;
  for (int e = 0; e < options.epochs; ++e) {
    EpochReport rep = fit_epoch(train, options, e);
    if (rep.steps == 0) break;  // the iterator has ended
    end_epoch(rep, options, out);
    if (rep.stopped || options.steps_per_epoch <= 0) break;
  }
  return out;
}

EvalReport Trainer::evaluate(const Dataset& data, const Options& options) {
  Iterator it = data.iterator(options);
  return evaluate(it);
}

EvalReport Trainer::evaluate(Iterator& it) {
  const auto t0 = Clock::now();
  StepStats total;
  Element batch;
  while (it.next(batch)) {
    const BatchView v = view(batch);
    const std::int64_t micro = std::min(v.n, plan_.micro_batch);
    if (micro == 0) continue;
    backend_->reserve(micro);
    for (std::int64_t b = 0; b < v.n; b += micro) total += backend_->evaluate(v, b, std::min(micro, v.n - b));
  }
  EvalReport r;
  r.samples = total.count;
  if (total.count > 0) {
    r.loss = total.loss_sum / static_cast<double>(total.count);
    r.accuracy = static_cast<double>(total.correct) / static_cast<double>(total.count);
  }
  r.seconds = seconds_since(t0);
  return r;
}

TrainingCheckpoint Trainer::checkpoint(const FitPosition& position) const {
  TrainingCheckpoint c;
  c.model = spec_.to_string();
  c.input = input_;
  c.precision = config_.precision;
  c.optimizer = config_.optimizer;
  c.seed = config_.seed;
  c.steps = step_;
  c.params = backend_->get_params();
  c.optimizer_state = backend_->get_optimizer_state();
  c.position = position;
  return c;
}

FitPosition Trainer::restore(const TrainingCheckpoint& c) {
  auto refuse = [](const std::string& what) {
    throw Error(ErrorCode::kInvalidArgument, "the checkpoint was written for " + what, {"trainer"});
  };
  if (c.model != spec_.to_string()) refuse("model '" + c.model + "', not '" + spec_.to_string() + "'");
  if (c.input != input_) {
    refuse("input " + std::to_string(c.input[0]) + "x" + std::to_string(c.input[1]) + "x" + std::to_string(c.input[2]) +
           ", not " + std::to_string(input_[0]) + "x" + std::to_string(input_[1]) + "x" + std::to_string(input_[2]));
  }
  if (c.precision != config_.precision) {
    refuse(std::string("precision ") + precision_name(c.precision) + ", not " + precision_name(config_.precision));
  }
  if (c.optimizer.kind != config_.optimizer.kind) refuse("another optimizer kind");
  if (c.seed != config_.seed) refuse("seed " + std::to_string(c.seed) + ", not " + std::to_string(config_.seed));
  backend_->set_params(c.params);
  backend_->set_optimizer_state(c.optimizer_state);
  step_ = c.steps;
  return c.position;
}

void Trainer::save_weights(const std::string& path) const { save_weights_file(path, spec_, input_, backend_->get_params()); }

void Trainer::load_weights(const std::string& path) { backend_->set_params(load_weights_file(path, spec_, input_)); }

std::string EpochReport::to_string() const {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(4);
  os << "epoch " << epoch + 1 << ": loss " << loss << " acc " << accuracy;
  if (validation) os << " val_loss " << validation->loss << " val_acc " << validation->accuracy;
  os.precision(1);
  os << " | " << seconds << " s, " << samples_per_s << " samples/s, stall " << stall_pct << "%";
  if (skipped_steps) os << ", " << skipped_steps << " steps skipped";
  if (skipped_elements) os << ", " << skipped_elements << " bad elements skipped";
  os << ", peak rss " << (peak_rss_bytes >> 20) << " MiB";
  if (feeder) os << " | " << feeder->to_string();
  if (stopped) os << " (stopped)";
  return os.str();
}

}  // namespace stoker
