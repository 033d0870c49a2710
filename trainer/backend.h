// Backend: where a model's arithmetic runs (cpu: im2col + OpenBLAS on TBB; cuda: cuDNN +
// cuBLAS + our kernels). The Trainer drives either through this one small interface: it owns
// nothing numeric itself, so both backends are checked against each other on the same inputs.
//
// A step is: zero_grads(); forward_backward() once per micro-batch (each adds the gradient of
// loss_weight * sum of its samples' losses); apply_gradients(). With loss_weight = 1 / (full
// batch size) the accumulated gradient is that of the mean loss over the full batch, whatever
// the micro-batch split. Parameters and gradients cross the interface as float32 host vectors
// in Keras layout (model_spec.h), one vector per ParamInfo.
//
// Dependencies: pipeline/ (tensors) and device/ (stream handles: a backend that computes on a
// CUDA stream names it, so a device batch can be waited for and released on it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "device/cuda_resources.h"
#include "pipeline/tensor.h"
#include "trainer/kernels_math.h"
#include "trainer/model_spec.h"

namespace stoker {

class Communicator;

enum class Precision {
  kFloat32,
  kMixedFloat16,   // fp16 compute, fp32 master weights, dynamic loss scaling
  kMixedBFloat16,  // bf16 compute, fp32 master weights (no loss scaling needed, as in Keras)
};
const char* precision_name(Precision p);
Precision parse_precision(const std::string& s);  // "float32", "mixed_float16", "mixed_bfloat16"
// 0: fp32, 1: fp16, 2: bf16: the code kmath::round_to() takes.
inline int compute_type_code(Precision p) { return p == Precision::kMixedFloat16 ? 1 : p == Precision::kMixedBFloat16 ? 2 : 0; }

struct OptimizerConfig {
  enum Kind { kAdam, kSgd } kind = kAdam;
  float learning_rate = 1e-3f;
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;  // Adam, Keras defaults
  float momentum = 0.f;                                 // SGD
  // Learning-rate schedule over applied updates (Keras' LearningRateSchedule semantics): constant,
  // or Keras' CosineDecay from learning_rate down to final_fraction * learning_rate over
  // decay_steps updates, held there afterwards.
  enum Schedule { kConstant, kCosine } schedule = kConstant;
  std::int64_t decay_steps = 0;  // kCosine: > 0
  float final_fraction = 0.f;    // kCosine: Keras' alpha
};
// The learning rate of the update that follows `applied` applied updates (0 for the first).
float learning_rate_at(const OptimizerConfig& o, std::int64_t applied);
// Keras' Adam parameters for update number t (1 for the first): the scheduled learning rate and
// the bias-corrected step size alpha, computed once per update on the host.
kmath::AdamParams adam_params(const OptimizerConfig& o, std::int64_t t);
// "constant" or "cosine"; throws kInvalidArgument naming the choices otherwise.
OptimizerConfig::Schedule parse_schedule(const std::string& s);

// Keras' LossScaleOptimizer policy: start at 2^15; a step with non-finite gradients is skipped
// and halves the scale; 2000 good steps in a row double it.
struct LossScaler {
  bool dynamic = false;
  float scale = 1.f;
  int good_steps = 0;
  int growth_interval = 2000;
  static LossScaler for_precision(Precision p) {
    LossScaler s;
    if (p == Precision::kMixedFloat16) {
      s.dynamic = true;
      s.scale = 32768.f;
    }
    return s;
  }
  // Records the outcome of a step; returns whether to apply it.
  bool update(bool grads_finite) {
    if (!dynamic) return grads_finite;
    if (!grads_finite) {
      scale = scale * 0.5f < 1.f ? 1.f : scale * 0.5f;
      good_steps = 0;
      return false;
    }
    if (++good_steps >= growth_interval) {
      scale *= 2.f;
      good_steps = 0;
    }
    return true;
  }
};

// Where the model runs, as the memory planner sees it: CPU keeps float32 buffers (mixed precision
// is emulated by rounding); CUDA keeps activations in the compute type.
struct PlanTarget {
  bool cuda = false;
  int cpu_slots = 1;  // CPU: parallel chunks, each with its own im2col workspace and gradient copy
  std::size_t cuda_workspace = std::size_t{64} << 20;
};

// One batch as the pipeline or the device feeder delivers it (not owned). Images NHWC uint8 or float32;
// labels int32/int64 [N] or [N,1] (sparse) or float32 [N,classes] (one-hot or soft).
struct BatchView {
  DType x_dtype = DType::kF32;
  const void* x = nullptr;
  DType y_dtype = DType::kI32;
  const void* y = nullptr;
  bool one_hot = false;
  std::int64_t n = 0;
  // x and y are device pointers on the backend's device, already ordered before the backend's
  // stream (DeviceBatch::wait_on): the backend reads them in place, no copy. Host backends
  // refuse them.
  bool on_device = false;
};

struct StepStats {
  double loss_sum = 0;  // sum over the samples of their unweighted losses
  std::int64_t correct = 0;
  std::int64_t count = 0;
  StepStats& operator+=(const StepStats& o) {
    loss_sum += o.loss_sum, correct += o.correct, count += o.count;
    return *this;
  }
};

// Everything the optimizer carries from one update to the next, in Keras layout like the
// parameters (one vector per ParamInfo): Adam's first and second moments (SGD: the momentum in
// m, v empty), the number of applied updates (Adam's bias correction and the schedule's
// position) and the loss scaler. With the parameters it is all a checkpoint needs to continue
// training exactly (trainer/checkpoint.h).
struct OptimizerState {
  std::int64_t applied = 0;
  std::vector<std::vector<float>> m, v;
  LossScaler scaler;
};

struct BackendConfig {
  Precision precision = Precision::kFloat32;
  OptimizerConfig optimizer;
  int num_threads = 0;      // CPU: TBB arena size (0: all cores)
  float input_scale = 1.f;  // images are multiplied by this after the cast to float
  std::uint64_t seed = 0;   // dropout masks
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Makes room for micro-batches of up to `max_batch` samples; buffers are allocated here, once
  // per shape, never per step.
  virtual void reserve(std::int64_t max_batch) = 0;
  virtual void zero_grads() = 0;
  // Forward and backward over samples [begin, begin + count) of `batch` in training mode, adding
  // d(loss_weight * sum of losses)/d(params) to the gradients. `step` keys dropout masks
  // (with the sample's index in the batch), so a micro-batch split draws the same masks.
  virtual StepStats forward_backward(const BatchView& batch, std::int64_t begin, std::int64_t count,
                                     float loss_weight, std::uint64_t step) = 0;
  // Inference-mode loss and accuracy (dropout off).
  virtual StepStats evaluate(const BatchView& batch, std::int64_t begin, std::int64_t count) = 0;
  // Optimizer step on the accumulated gradients (unscaled by the loss scale); false when the
  // gradients were not finite and the step was skipped.
  virtual bool apply_gradients() = 0;
  // Data parallel (trainer/distributed.h): replaces the accumulated gradients by their sum over
  // all ranks; runs between the last forward_backward() and apply_gradients(). CPU: the host
  // buffers go to comm.all_reduce_sum in place. CUDA: comm.all_reduce_sum_device (NCCL) on the
  // backend's stream, or, for a host-only communicator, through a host copy. Default: kUnsupported.
  virtual void reduce_gradients(Communicator& comm);
  // Replaces the learning rate, its schedule and the optimizer's hyper-parameters for the updates
  // that follow (the update count and the optimizer state are kept); the kind must not change.
  virtual void set_optimizer(const OptimizerConfig& o) = 0;

  virtual std::vector<std::vector<float>> get_params() const = 0;
  virtual void set_params(const std::vector<std::vector<float>>& params) = 0;
  // The accumulated gradients, unscaled (tests compare backends and micro-batch splits with it).
  virtual std::vector<std::vector<float>> get_grads() const = 0;
  virtual OptimizerState get_optimizer_state() const = 0;
  // Throws kInvalidArgument when the tensors' count or sizes do not match the model.
  virtual void set_optimizer_state(const OptimizerState& s) = 0;
  virtual const LossScaler& loss_scaler() const = 0;
  virtual void set_loss_scaler(const LossScaler& s) = 0;
  // Bytes this backend holds now (params, grads, state, activations, workspaces).
  virtual std::size_t bytes_allocated() const = 0;
  // What the memory planner plans against, and the bytes it may use when no limit is given
  // (free device memory; host MemAvailable).
  virtual PlanTarget plan_target() const = 0;
  virtual std::size_t memory_available() const = 0;
  // The CUDA stream every step's work is queued on; nullptr for a host backend. A device batch
  // is waited for on it before forward_backward() and released on it after the last micro-batch.
  virtual StreamHandle stream() const { return nullptr; }
};

// "cpu" or "cuda"; "auto": cuda when built with CUDA and a device is present, else cpu.
std::unique_ptr<Backend> make_backend(const std::string& kind, const ModelSpec& spec, const Hwc& input,
                                      const BackendConfig& config);
// Whether the CUDA backend can run: built with CUDA and a device present (device/'s
// cuda_device_available(), asked once per process).
bool cuda_backend_available();
// Free and total device memory of the current CUDA device; {0, 0} without one.
std::pair<std::size_t, std::size_t> cuda_backend_memory_info();

}  // namespace stoker
