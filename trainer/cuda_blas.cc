// cuda_blas: cuBLAS loaded at first use; the entry points the CUDA backend calls (see cuda_blas.h).
#include "trainer/cuda_blas.h"

#include <cublas_v2.h>
#include <dlfcn.h>

#include <mutex>

#ifndef STOKER_CUBLAS_DIR
#define STOKER_CUBLAS_DIR ""
#endif
#define STOKER_STR2(x) #x
#define STOKER_STR(x) STOKER_STR2(x)

namespace stoker::cuda_blas {
namespace {

// cublasGemmEx is overloaded in C++ (an inline one taking cudaDataType as the compute type); this
// is the library's. Taking its address below fails to compile if the header's signature differs.
using GemmExFn = cublasStatus_t(CUBLASWINAPI*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                               const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                                               int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                                               cublasGemmAlgo_t);
[[maybe_unused]] const GemmExFn kGemmExSignatureCheck = &cublasGemmEx;

struct Library {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  GemmExFn gemm_ex = nullptr;
  bool ok = false;
  std::string note;
};

Library& library() {
  static std::once_flag once;
  static Library lib;
  std::call_once(once, [] {
    const std::string soname = "libcublas.so." STOKER_STR(CUBLAS_VER_MAJOR);
    const std::string dir = STOKER_CUBLAS_DIR;
    std::string tried;
    void* handle = nullptr;
    std::string used;
    for (const std::string& name : {soname, dir.empty() ? std::string() : dir + "/" + soname}) {
      if (name.empty()) continue;
      // RTLD_LOCAL: the symbols serve this file's lookups only.
      if ((handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL))) {
        used = name;
        break;
      }
      const char* e = dlerror();
      tried += std::string(tried.empty() ? "" : "; ") + (e ? e : name);
    }
    if (!handle) {
      lib.note = "cuBLAS not loaded (" + tried + "); install the CUDA toolkit's libcublas or add its folder to LD_LIBRARY_PATH";
      return;
    }
    lib.create = reinterpret_cast<decltype(lib.create)>(dlsym(handle, "cublasCreate_v2"));
    lib.destroy = reinterpret_cast<decltype(lib.destroy)>(dlsym(handle, "cublasDestroy_v2"));
    lib.set_stream = reinterpret_cast<decltype(lib.set_stream)>(dlsym(handle, "cublasSetStream_v2"));
    lib.gemm_ex = reinterpret_cast<decltype(lib.gemm_ex)>(dlsym(handle, "cublasGemmEx"));
    lib.ok = lib.create && lib.destroy && lib.set_stream && lib.gemm_ex;
    lib.note = lib.ok ? "cuBLAS from " + used : "cuBLAS at " + used + " lacks an entry point stoker calls (too old?)";
  });
  return lib;
}

}  // namespace

bool load() noexcept {
  try {
    return library().ok;
  } catch (...) {  // std::string allocation only
    return false;
  }
}

bool loaded() noexcept {
  const std::string soname = "libcublas.so." STOKER_STR(CUBLAS_VER_MAJOR);
  void* h = dlopen(soname.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

std::string note() { return library().note; }

}  // namespace stoker::cuda_blas

// The cuBLAS entry points, forwarding to the loaded library. Hidden: see cuda_blas.h.
#define STOKER_HIDDEN __attribute__((visibility("hidden")))
using stoker::cuda_blas::load;

extern "C" {

STOKER_HIDDEN cublasStatus_t CUBLASWINAPI cublasCreate_v2(cublasHandle_t* handle) {
  if (!load()) return CUBLAS_STATUS_NOT_INITIALIZED;
  return stoker::cuda_blas::library().create(handle);
}

STOKER_HIDDEN cublasStatus_t CUBLASWINAPI cublasDestroy_v2(cublasHandle_t handle) {
  if (!load()) return CUBLAS_STATUS_NOT_INITIALIZED;
  return stoker::cuda_blas::library().destroy(handle);
}

STOKER_HIDDEN cublasStatus_t CUBLASWINAPI cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!load()) return CUBLAS_STATUS_NOT_INITIALIZED;
  return stoker::cuda_blas::library().set_stream(handle, stream);
}

STOKER_HIDDEN cublasStatus_t CUBLASWINAPI cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                                       cublasOperation_t transb, int m, int n, int k,
                                                       const void* alpha, const void* A, cudaDataType Atype, int lda,
                                                       const void* B, cudaDataType Btype, int ldb, const void* beta,
                                                       void* C, cudaDataType Ctype, int ldc,
                                                       cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  if (!load()) return CUBLAS_STATUS_NOT_INITIALIZED;
  return stoker::cuda_blas::library().gemm_ex(handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb,
                                              beta, C, Ctype, ldc, computeType, algo);
}

}  // extern "C"
