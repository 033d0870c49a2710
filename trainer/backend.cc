// Backend selection and the precision names (see backend.h).
#include "trainer/backend.h"

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

std::unique_ptr<Backend> make_backend(const std::string& kind, const ModelSpec& spec, const Hwc& input,
                                      const BackendConfig& config) {
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
bool cuda_backend_available() { return false; }
std::pair<std::size_t, std::size_t> cuda_backend_memory_info() { return {0, 0}; }
#endif

}  // namespace stoker
