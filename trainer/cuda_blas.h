// cuBLAS for the CUDA backend, loaded with dlopen at first use instead of linked.
//
// Linking libcublas pulls in libcublasLt, whose load alone costs ~210 MB of resident memory
// (relocations and static initialisers), so every `stoker` command, even `inspect` on a machine
// without a GPU, started at ~230 MB. cuda_blas.cc defines the few cuBLAS entry points the backend
// calls (cublasCreate_v2, cublasDestroy_v2, cublasSetStream_v2, cublasGemmEx) with the header's
// exact signatures (a mismatch is a compile error against cublas_api.h); each forwards to the
// real function, looked up once in libcublas.so.<CUBLAS_VER_MAJOR>. The definitions have hidden
// visibility: they serve this binary only and never interpose on a cuBLAS another library loads.
// cudart (~0.4 MB) and cuDNN (~2 MB; it loads its own sub-libraries lazily) stay linked.
//
// Where it looks: the soname (the caller's RUNPATH, LD_LIBRARY_PATH, ld.so.conf), then the
// toolkit's library folder found at build time. If neither loads, the first cuBLAS call returns
// CUBLAS_STATUS_NOT_INITIALIZED, which STOKER_CUDA_CHECK turns into stoker::Error(kCuda), and
// note() says what was tried. Thread safety: the load happens once (call_once).
#pragma once

#include <string>

namespace stoker::cuda_blas {

// Loads the library if not yet loaded; true on success. Never throws.
bool load() noexcept;
// Whether the library is in the process now (without loading it).
bool loaded() noexcept;
// One line: the file loaded, or the error of every attempt.
std::string note();

}  // namespace stoker::cuda_blas
