// Trainer: fits a ModelSpec on batches from any stoker Iterator (the public pipeline API), on the
// CPU or CUDA backend, with the memory planner deciding micro-batches.
//
//   stoker::Trainer t(stoker::ModelSpec::preset("seed"), {28, 28, 1}, {.batch_size = 32});
//   auto reports = t.fit(train_ds, {.epochs = 10, .validation = test_ds});
//   t.save_weights("seed.stkw");
//
// A batch is an Element (images [N,H,W,C] uint8|float32, labels [N] int32|int64 or [N,classes]
// float32); each batch is one optimizer step. A batch larger than the planned micro-batch runs
// as micro-batches whose gradients accumulate to exactly the full batch's mean-loss gradient.
// Stopping: set the `stop` flag (e.g. from a SIGINT handler); the trainer finishes the current
// step, saves weights if asked, and returns with `stopped` set.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "device/device_feeder.h"
#include "pipeline/dataset.h"
#include "trainer/backend.h"
#include "trainer/checkpoint.h"
#include "trainer/distributed.h"
#include "trainer/model_spec.h"
#include "trainer/planner.h"

namespace stoker {

struct TrainerConfig {
  std::string backend = "auto";  // auto | cpu | cuda
  Precision precision = Precision::kFloat32;
  OptimizerConfig optimizer;
  // Samples per optimizer step the caller intends to send; 0: auto (the largest that fits).
  // Only the planner uses it: the batches that arrive decide the actual step size.
  std::int64_t batch_size = 0;
  // Bytes the model may use; 0: the free device memory (cuda) or MemAvailable (cpu).
  std::size_t memory_limit = 0;
  int num_threads = 0;      // CPU backend threads (0: all cores)
  float input_scale = 1.f;  // images * input_scale after the cast to float (e.g. 1/255)
  std::uint64_t seed = 0;   // weight init and dropout
  // Whole batches held outside the backend, in the memory it plans against: the DeviceFeeder's
  // buffers (FitOptions::feeder_buffers, 2 by default) when fit() runs with device_feeder. The
  // planner reserves this many batches of float32 images + int64 labels (the widest a batch
  // holds), so a batch that fits with its feeder buffers is what gets planned.
  int device_batch_buffers = 0;
  // Data parallel (distributed.h): every step sums batch sizes, gradients and step stats over the
  // ranks; rank 0's weights are broadcast before the first step. Null: this process alone.
  std::shared_ptr<Communicator> communicator;
};

struct StepReport {
  int epoch = 0;
  std::int64_t step = 0;  // optimizer steps so far (all epochs)
  std::int64_t samples = 0;
  double loss = 0, accuracy = 0;
  bool applied = true;  // false: skipped for non-finite gradients (loss scaling)
  float loss_scale = 1;
  double input_wait_s = 0;  // fit_epoch: seconds Iterator::next() waited for this step's batch
};

struct EvalReport {
  double loss = 0, accuracy = 0;
  std::int64_t samples = 0;
  double seconds = 0;
};

struct EpochReport {
  int epoch = 0;
  std::int64_t steps = 0, samples = 0, skipped_steps = 0;
  double loss = 0, accuracy = 0;  // means over the epoch's samples (weights changing as in Keras)
  double seconds = 0, samples_per_s = 0;
  double stall_pct = 0;  // time waiting in Iterator::next() / epoch time
  std::optional<EvalReport> validation;
  std::size_t peak_backend_bytes = 0, peak_pipeline_bytes = 0, peak_rss_bytes = 0;
  std::optional<FeederStats> feeder;  // epochs fed by a DeviceFeeder: copy GB/s, GPU idle (stall)
  // Elements the pipeline dropped under ErrorPolicy::kSkip (bad input) and the first messages
  // (Iterator::stats(): skipped, first_errors; fit(Iterator&): counted since the iterator began).
  std::uint64_t skipped_elements = 0;
  std::vector<std::string> skipped_errors;
  bool stopped = false;
  std::string to_string() const;
};

struct FitOptions {
  int epochs = 1;
  std::optional<Dataset> validation;
  Options pipeline_options;                          // for the iterators fit() starts
  std::int64_t steps_per_epoch = 0;                  // 0: until the iterator ends
  std::function<void(const StepReport&)> on_step;    // after every step
  std::function<void(const EpochReport&)> on_epoch;  // after every epoch (and its validation)
  const std::atomic<bool>* stop = nullptr;           // checked after every step
  std::string save_on_stop;                          // weights written here when stopped
  // fit(Dataset) only. Resume: start at resume->epoch, restore its iterator from
  // resume->iterator_state and continue its running sums (Trainer::restore gives it).
  std::optional<FitPosition> resume;
  // Called with the position after every checkpoint_every-th step (0: never mid-epoch), after
  // each epoch's on_epoch (position: the next epoch), and when stopped (position: mid-epoch).
  // Mid-epoch positions carry Iterator::save(), which throws kUnsupported for a pipeline that
  // cannot be restored (e.g. from_generator), naming the stage.
  std::int64_t checkpoint_every = 0;
  std::function<void(const FitPosition&)> on_checkpoint;
  // fit(Dataset): run each epoch's batches through a DeviceFeeder (device/README.md) instead of
  // handing host batches to the backend. With a CUDA backend batch i+1 is copied on the feeder's
  // stream while batch i trains and the backend reads device memory in place; with a host backend
  // the feeder runs in host mode (same protocol, memcpy). A PinnedRing given as
  // pipeline_options.batch_allocator is passed on to the feeder (its waits appear in the stats).
  bool device_feeder = false;
  int feeder_buffers = 2;
};

class Trainer {
 public:
  Trainer(ModelSpec spec, Hwc input, TrainerConfig config = {});
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One iterator per epoch over `train`; epoch e > 0 runs with Options::seed mixed with e, so
  // stages that take their seed from Options reshuffle each epoch (give shuffle() no seed of its own).
  std::vector<EpochReport> fit(const Dataset& train, const FitOptions& options = {});
  // Epochs from one running iterator (e.g. over a repeat()ed dataset): each epoch takes
  // steps_per_epoch batches, or (steps_per_epoch 0) everything until the iterator ends, which
  // then ends the fit. Validation, on_epoch and stop as in fit(Dataset).
  std::vector<EpochReport> fit(Iterator& train, const FitOptions& options = {});
  // One epoch: every batch `it` yields (or steps_per_epoch of them).
  EpochReport fit_epoch(Iterator& it, const FitOptions& options = {}, int epoch = 0);
  // Changes the optimizer's learning rate, schedule or hyper-parameters from the next update on,
  // e.g. a cosine schedule sized once the batch (plan().batch) and so the steps are known.
  // Throws kInvalidArgument for another optimizer kind or a schedule without decay_steps.
  void set_optimizer(const OptimizerConfig& o);
  // One epoch from a DeviceFeeder (see FitOptions::device_feeder); rep.feeder holds its stats.
  EpochReport fit_epoch(DeviceFeeder& feeder, const FitOptions& options = {}, int epoch = 0);
  // One optimizer step on one batch. With a communicator: one global step over every rank's batch
  // (all ranks must call it the same number of times); the report holds the global loss and counts.
  StepReport train_step(const Element& batch);
  // One step on a device batch: waits for its copy on backend().stream() (no host wait), reads
  // micro-batches as slices of it in place, and releases it on that stream once the update is
  // queued. A host-mode batch (device == kHostDevice) works the same on a host backend.
  StepReport train_step(DeviceBatch& batch);

  EvalReport evaluate(const Dataset& data, const Options& options = {});
  EvalReport evaluate(Iterator& it);

  // The whole training state at `position` (weights, optimizer, step count, seed).
  TrainingCheckpoint checkpoint(const FitPosition& position) const;
  // Restores a checkpoint's weights, optimizer state and step count; returns its position for
  // FitOptions::resume. Throws kInvalidArgument naming what differs when it was written for
  // another model, input, precision, optimizer kind or seed.
  FitPosition restore(const TrainingCheckpoint& ckpt);

  void save_weights(const std::string& path) const;
  // Throws Error naming the file on a bad header, another model or input, or truncation.
  void load_weights(const std::string& path);

  const ModelSpec& spec() const { return spec_; }
  const Hwc& input() const { return input_; }
  const MemoryPlan& plan() const { return plan_; }
  Backend& backend() { return *backend_; }
  // Data parallel: the communicator steps run over (nccl on the CUDA backend when built with it).
  const Communicator* communicator() const { return config_.communicator.get(); }
  std::int64_t steps() const { return step_; }

 private:
  BatchView view(const Element& batch) const;
  BatchView view(DType x_dtype, const Shape& x_shape, const void* x, DType y_dtype, const Shape& y_shape,
                 const void* y) const;
  // Micro-batches over `v`, then the update, then `after_update` (also when v is empty).
  StepReport step_on(const BatchView& v, const std::function<void()>& after_update);
  // Iterator::save() of an epoch's iterator when it started (or why it could not be saved);
  // both empty: no checkpoints in this epoch.
  struct SavedState {
    std::string bytes, error;
  };
  // The epoch loop from `start`: `next` fills a step report (false at the end) and the seconds it
  // waited. Checkpoints carry `state` re-encoded at their position.
  EpochReport epoch_loop(const std::function<bool(StepReport&, double&)>& next, const FitOptions& options,
                         const FitPosition& start, const SavedState& state);
  EpochReport epoch_on(Iterator& it, const FitOptions& options, const FitPosition& start, const SavedState& state);
  EpochReport epoch_on(DeviceFeeder& feeder, const FitOptions& options, const FitPosition& start,
                       const SavedState& state);
  // Data parallel: whether every rank has a batch for this step (an all-reduce); alone: `have`.
  bool every_rank_has_a_batch(bool have);
  // After an epoch: validation (unless stopped), weights on stop, on_epoch, then the report into `out`.
  void end_epoch(EpochReport& rep, const FitOptions& options, std::vector<EpochReport>& out);

  ModelSpec spec_;
  Hwc input_;
  TrainerConfig config_;
  std::unique_ptr<Backend> backend_;
  MemoryPlan plan_;
  std::int64_t step_ = 0;
  std::size_t peak_backend_ = 0;
  bool weights_synced_ = false;  // data parallel: rank 0's weights broadcast to all
};

// The weights file format: "STKWGT02" (magic + format version), the model text, the input shape,
// each tensor (name, shape, float32 little-endian data), then a u32 CRC-32 (zlib) of every byte
// before it. Saved atomically (pipeline/atomic_file.h). Loading refuses, naming the file: another
// version (kUnsupported), a checksum mismatch or truncation (kDataLoss), another model or input.
void save_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input,
                       const std::vector<std::vector<float>>& params);
std::vector<std::vector<float>> load_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input);

}  // namespace stoker
