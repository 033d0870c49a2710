// The CPU backend's BLAS: OpenBLAS, loaded with dlopen at first use instead of linked, so that its
// kernels can be chosen before it initialises.
//
// OpenBLAS (DYNAMIC_ARCH builds, as Debian ships) picks its kernels once, when it is loaded, from
// the CPU *model* number, or from OPENBLAS_CORETYPE if set. On a model it does not know (CPUs newer
// than the library, many VMs) it falls back to the SSE3 "Prescott" kernels: 2-2.5x slower sgemm on
// an AVX-512 machine. Before loading it, cpu_blas picks the core from the CPU's *features* when
// OPENBLAS_CORETYPE is unset (AVX-512 F/BW/DQ/VL/CD -> SkylakeX, AVX2 + FMA -> Haswell), and sets
// that variable for the load; a value the user set is left as it is. If OpenBLAS is already in
// the process (linked by the program), it is used as loaded and note() says so.
//
// Thread safety: every function may be called from any thread; the load happens once (call_once).
// The setenv happens inside that once, normally when the first CPU backend is built.
#pragma once

#include <cstdint>
#include <string>

namespace stoker::cpu_blas {

struct CpuFeatures {
  bool avx2 = false, fma = false, avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false,
       avx512cd = false;
  static CpuFeatures of_this_cpu();
};

// The OPENBLAS_CORETYPE value for a CPU with these features ("" = let OpenBLAS decide).
std::string core_for(const CpuFeatures& f);

// c[M,N] = a[M,K] * b[K,N] + beta * c, row-major, with optional transposes of a and b; one thread.
// Throws stoker::Error (kUnsupported) naming the library if OpenBLAS cannot be loaded.
void sgemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, const float* a, const float* b,
           float* c, float beta);

// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", ...).
std::string core_name();

// One line for logs: the core, how it was chosen, and a hint when it is slower than the CPU allows.
std::string note();

}  // namespace stoker::cpu_blas
