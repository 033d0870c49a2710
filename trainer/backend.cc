// Backend selection and the precision names (see backend.h).
#include "trainer/backend.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "device/cuda_check.h"
#include "pipeline/error.h"
#include "trainer/cpu_backend.h"

namespace stoker {

#if defined(STOKER_HAVE_CUDA)
std::unique_ptr<Backend> make_cuda_backend(const ModelSpec& spec, const Hwc& input, const BackendConfig& config);
#endif

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFloat32: return "float32";
    case Precision::kMixedFloat16: return "mixed_float16";
    case Precision::kMixedBFloat16: return "mixed_bfloat16";
  }
  return "?";
}

Precision parse_precision(const std::string& s) {
  if (s == "float32" || s == "fp32") return Precision::kFloat32;
  if (s == "mixed_float16" || s == "fp16") return Precision::kMixedFloat16;
  if (s == "mixed_bfloat16" || s == "bf16") return Precision::kMixedBFloat16;
  throw Error(ErrorCode::kInvalidArgument, "unknown precision '" + s + "' (float32, mixed_float16, mixed_bfloat16)");
}

float learning_rate_at(const OptimizerConfig& o, std::int64_t applied) {
  if (o.schedule == OptimizerConfig::kConstant) return o.learning_rate;
  if (o.decay_steps <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "cosine learning-rate schedule needs decay_steps > 0, got " +
                                                 std::to_string(o.decay_steps));
  }
  const double t = static_cast<double>(std::min(applied, o.decay_steps)) / static_cast<double>(o.decay_steps);
  const double cosine = 0.5 * (1 + std::cos(std::numbers::pi * t));
  return static_cast<float>(o.learning_rate * ((1 - o.final_fraction) * cosine + o.final_fraction));
}

kmath::AdamParams adam_params(const OptimizerConfig& o, std::int64_t t) {
  const float lr = learning_rate_at(o, t - 1);
  const float alpha = static_cast<float>(lr * std::sqrt(1.0 - std::pow(double(o.beta2), double(t))) /
                                         (1.0 - std::pow(double(o.beta1), double(t))));
  return {lr, o.beta1, o.beta2, o.epsilon, alpha};
}

OptimizerConfig::Schedule parse_schedule(const std::string& s) {
  if (s == "constant") return OptimizerConfig::kConstant;
  if (s == "cosine") return OptimizerConfig::kCosine;
  throw Error(ErrorCode::kInvalidArgument, "unknown learning-rate schedule '" + s + "' (constant, cosine)");
}

void Backend::reduce_gradients(Communicator&) {
  throw Error(ErrorCode::kUnsupported,
              "data-parallel training on the " + name() + " backend is not implemented; use --device cpu",
              {"trainer"});
}

std::unique_ptr<Backend> make_backend(const std::string& kind, const ModelSpec& spec, const Hwc& input,
                                      const BackendConfig& config) {
  learning_rate_at(config.optimizer, 0);  // refuses a schedule without decay_steps before any work
  if (kind == "cpu") return make_cpu_backend(spec, input, config);
  if (kind == "cuda" || kind == "auto") {
#if defined(STOKER_HAVE_CUDA)
    if (cuda_backend_available()) return make_cuda_backend(spec, input, config);
#endif
    if (kind == "auto") return make_cpu_backend(spec, input, config);
    throw Error(ErrorCode::kUnsupported,
#if defined(STOKER_HAVE_CUDA)
                "backend cuda: no CUDA device is present (use --backend cpu)"
#else
                "backend cuda: stoker was built without CUDA (rebuild with nvcc on PATH, or use --backend cpu)"
#endif
    );
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown backend '" + kind + "' (auto, cpu, cuda)");
}

#if !defined(STOKER_HAVE_CUDA)
bool cuda_backend_available() { return cuda_device_available(); }  // false: built without CUDA
std::pair<std::size_t, std::size_t> cuda_backend_memory_info() { return {0, 0}; }
#endif

}  // namespace stoker
