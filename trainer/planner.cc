// Memory planner (see planner.h).
#include "trainer/planner.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "pipeline/error.h"

namespace stoker {
namespace {

std::string human(std::size_t b) {
  std::ostringstream os;
  os.precision(3);
  if (b >= (std::size_t{1} << 30)) os << static_cast<double>(b) / (1 << 30) << " GiB";
  else if (b >= (std::size_t{1} << 20)) os << static_cast<double>(b) / (1 << 20) << " MiB";
  else os << b << " B";
  return os.str();
}

}  // namespace

std::int64_t conv_group_size(std::int64_t cols_per_sample) {
  constexpr std::int64_t kBytes = 4 << 20;
  return std::max<std::int64_t>(1, kBytes / std::max<std::int64_t>(1, cols_per_sample * 4));
}

MemoryEstimate estimate_memory(const ModelSpec& spec, const Hwc& input, Precision precision,
                               OptimizerConfig::Kind optimizer, const PlanTarget& target) {
  const auto shapes = spec.shapes(input);
  const auto params = spec.params(input);
  const bool mixed = precision != Precision::kFloat32;
  const std::size_t e = (target.cuda && mixed) ? 2 : 4;  // bytes of one stored activation

  MemoryEstimate m;
  std::size_t per = static_cast<std::size_t>(numel(input)) * e;  // the cast input
  if (target.cuda) per += static_cast<std::size_t>(numel(input)) * 4;  // raw upload (<= float32)
  std::int64_t max_act = numel(input);
  std::int64_t max_cols = 0;
  for (std::size_t l = 0; l < shapes.size(); ++l) {
    const LayerSpec& ls = spec.layers()[l];
    const std::int64_t out = numel(shapes[l].out);
    max_act = std::max(max_act, out);
    if (ls.kind == LayerKind::kFlatten) continue;  // a view of its input
    per += static_cast<std::size_t>(out) * e;
    if (ls.kind == LayerKind::kMaxPool && !target.cuda) per += static_cast<std::size_t>(out) * 4;  // argmax
    if (ls.kind == LayerKind::kDropout) per += static_cast<std::size_t>(out);                      // mask
    if (ls.kind == LayerKind::kConv2D) {
      max_cols = std::max(max_cols, shapes[l].out[0] * shapes[l].out[1] * ls.kernel * ls.kernel * shapes[l].in[2]);
    }
  }
  per += 2 * static_cast<std::size_t>(max_act) * e;  // activation gradients, ping-pong
  per += 64;                                         // labels, per-sample loss
  m.bytes_per_sample = per;

  std::int64_t np = 0;
  for (const auto& p : params) np += p.size;
  m.param_count = np;
  const std::size_t pb = static_cast<std::size_t>(np) * 4;
  std::size_t fixed = pb /*master*/ + pb /*grads*/ + (optimizer == OptimizerConfig::kAdam ? 2 : 1) * pb;
  if (mixed) fixed += static_cast<std::size_t>(np) * (target.cuda ? 2 + 2 : 4);  // compute copy (+ fp16 grads on GPU)
  if (target.cuda) {
    fixed += target.cuda_workspace;
  } else {
    const std::size_t slots = static_cast<std::size_t>(std::max(1, target.cpu_slots));
    const std::size_t ws = max_cols > 0 ? 2 * static_cast<std::size_t>(conv_group_size(max_cols) * max_cols) * 4 : 0;
    fixed += slots * (ws + pb);  // im2col + its gradient, and the slot's own weight gradients
  }
  m.fixed_bytes = fixed;
  return m;
}

MemoryPlan plan_batch(const MemoryEstimate& est, std::size_t available, std::int64_t requested, std::int64_t auto_cap) {
  MemoryPlan plan;
  plan.estimate = est;
  plan.available = available;
  plan.requested = requested;
  const std::size_t one = est.fixed_bytes + est.bytes_per_sample;
  if (available < one) {
    std::ostringstream os;
    os << "the model does not fit: one sample needs " << human(one) << " (" << human(est.fixed_bytes)
       << " for weights, gradients, optimizer state and workspace + " << human(est.bytes_per_sample)
       << " per sample) but only " << human(available)
       << " is available. Use a smaller input (resize the images), mixed precision (mixed_float16 halves "
          "activations on the GPU), a smaller model, or a device/host with more memory.";
    throw Error(ErrorCode::kOutOfMemory, os.str(), {"planner"});
  }
  const std::int64_t fit = static_cast<std::int64_t>((available - est.fixed_bytes) / est.bytes_per_sample);
  if (requested <= 0) {
    plan.batch = std::max<std::int64_t>(1, std::min(fit, auto_cap));
    plan.micro_batch = plan.batch;
  } else {
    plan.batch = requested;
    plan.micro_batch = std::min(fit, requested);
  }
  plan.accumulation = (plan.batch + plan.micro_batch - 1) / plan.micro_batch;
  return plan;
}

std::string MemoryPlan::to_string() const {
  std::ostringstream os;
  os << "batch " << batch << " = " << accumulation << " x micro-batch " << micro_batch << " ("
     << human(estimate.fixed_bytes) << " fixed + " << human(estimate.bytes_per_sample) << "/sample; "
     << human(estimate.fixed_bytes + static_cast<std::size_t>(micro_batch) * estimate.bytes_per_sample) << " of "
     << human(available) << " available)";
  return os.str();
}

std::size_t host_memory_available() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  std::size_t kb = 0;
  std::string unit;
  while (f >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return std::size_t{4} << 30;
}

}  // namespace stoker
