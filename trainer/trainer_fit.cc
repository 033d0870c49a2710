// Trainer's loops (see trainer.h): an epoch over an Iterator or a DeviceFeeder (timing, input
// stalls, stop flag, checkpoints at the delivered position), fit() over epochs, and evaluate().
// Data parallel: every rank runs the same number of steps; the loop ends on all ranks together.
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
