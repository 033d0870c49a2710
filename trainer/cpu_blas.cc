// cpu_blas: OpenBLAS loaded at first use with a kernel chosen from CPU features (see cpu_blas.h).
#include "trainer/cpu_blas.h"

#include <cblas.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "pipeline/error.h"

namespace stoker::cpu_blas {
namespace {

// Only the types come from cblas.h; the functions are looked up in the loaded library.
using SgemmFn = decltype(&cblas_sgemm);
using SetThreadsFn = decltype(&openblas_set_num_threads);
using CoreNameFn = decltype(&openblas_get_corename);

struct Library {
  SgemmFn sgemm = nullptr;
  CoreNameFn corename = nullptr;
  std::string how;    // how the core was chosen, for note()
  std::string error;  // non-empty if the library could not be loaded
};

void* symbol(void* handle, const char* name, std::string& error) {
  void* s = dlsym(handle, name);
  if (!s && error.empty()) error = std::string("symbol ") + name + " not found in OpenBLAS";
  return s;
}

Library load() {
  Library lib;
  const char* names[] = {"libopenblas.so.0", "libopenblas.so"};
  void* handle = nullptr;
  for (const char* n : names) {
    if ((handle = dlopen(n, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD))) break;
  }
  if (handle) {
    lib.how = "already loaded by the program";
  } else {
    const char* env = std::getenv("OPENBLAS_CORETYPE");
    const std::string core = core_for(CpuFeatures::of_this_cpu());
    if (env) {
      lib.how = std::string("OPENBLAS_CORETYPE=") + env + " from the environment";
    } else if (!core.empty()) {
      setenv("OPENBLAS_CORETYPE", core.c_str(), 0);
      lib.how = "chosen from CPU features";
    } else {
      lib.how = "chosen by OpenBLAS";
    }
    std::string tried;
    for (const char* n : names) {
      if ((handle = dlopen(n, RTLD_NOW | RTLD_LOCAL))) break;
      tried += std::string(tried.empty() ? "" : "; ") + dlerror();
    }
    if (!handle) {
      lib.error = "cannot load OpenBLAS (" + tried + "); install libopenblas0 (scripts/install-deps.sh does)";
      return lib;
    }
  }
  lib.sgemm = reinterpret_cast<SgemmFn>(symbol(handle, "cblas_sgemm", lib.error));
  lib.corename = reinterpret_cast<CoreNameFn>(symbol(handle, "openblas_get_corename", lib.error));
  auto set_threads = reinterpret_cast<SetThreadsFn>(symbol(handle, "openblas_set_num_threads", lib.error));
  // Parallelism comes from the backend's chunks; each sgemm runs on its caller's thread.
  if (set_threads) set_threads(1);
  return lib;
}

const Library& library() {
  static std::once_flag once;
  static Library lib;
  std::call_once(once, [] { lib = load(); });
  if (!lib.error.empty()) throw Error(ErrorCode::kUnsupported, "cpu backend: " + lib.error, {"trainer"});
  return lib;
}

bool generic_core(const std::string& core) {
  for (const char* g : {"Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Atom", "Katmai", "Coppermine",
                        "Northwood", "Banias", "Unknown"}) {
    if (core == g) return true;
  }
  return false;
}

}  // namespace

CpuFeatures CpuFeatures::of_this_cpu() {
  CpuFeatures f;
  // __builtin_cpu_supports also checks that the OS saves the AVX / AVX-512 register state.
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
  f.avx512cd = __builtin_cpu_supports("avx512cd");
  return f;
}

std::string core_for(const CpuFeatures& f) {
  const bool avx2 = f.avx2 && f.fma;
  if (avx2 && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl && f.avx512cd) return "SkylakeX";
  if (avx2) return "Haswell";
  return "";
}

void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b,
           float* c, float beta) {
  const Library& lib = library();
  const int M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
  lib.sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, M, N, K, 1.f, a,
            trans_a ? M : K, b, trans_b ? K : N, beta, c, N);
}

std::string core_name() { return library().corename(); }

std::string note() {
  const Library& lib = library();
  const std::string core = lib.corename();
  std::string s = "OpenBLAS core " + core + " (" + lib.how + ")";
  const std::string better = core_for(CpuFeatures::of_this_cpu());
  if (generic_core(core) && !better.empty()) {
    s += "; this CPU supports " + better + " kernels, which OpenBLAS did not pick: unset OPENBLAS_CORETYPE or set it to " +
         better + " before OpenBLAS loads";
  }
  return s;
}

}  // namespace stoker::cpu_blas
