// Trainer (see trainer.h): construction and planning, batch views, one optimizer step (local or
// data parallel), checkpoints and weights files. The epoch loops, fit() and evaluate() are in
// trainer_fit.cc.
#include "trainer/trainer.h"

#include <algorithm>

#include "pipeline/error.h"

namespace stoker {

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

}  // namespace stoker
