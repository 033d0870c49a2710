// CPU backend: im2col + OpenBLAS sgemm, parallel over the batch on a TBB arena.
//
// A micro-batch is cut into at most `slots` contiguous chunks of samples (slots = threads); each
// chunk runs its whole forward, loss and backward as one task with its own workspace (im2col
// columns, activation gradients) and its own weight-gradient copy, reduced afterwards in chunk
// order. OpenBLAS runs single-threaded inside the tasks. Every buffer is sized in reserve() for
// the largest micro-batch and reused: no allocation per sample or per step.
//
// Precision: buffers are float32. Under mixed_float16 / mixed_bfloat16 the backend rounds where
// the GPU stores the compute type (the cast input, each layer's output, the weights used for
// compute, each activation gradient, each chunk's weight gradients) via kmath::round_to, so
// overflow and loss scaling behave as on the GPU and are testable here; arithmetic inside a GEMM
// stays fp32 (as tensor cores accumulate in fp32).
#pragma once

#include <memory>
#include <string>

#include "trainer/backend.h"

namespace stoker {

std::unique_ptr<Backend> make_cpu_backend(const ModelSpec& spec, const Hwc& input, const BackendConfig& config);
// Chunks the CPU backend uses for `num_threads` (0: all cores).
int cpu_backend_slots(int num_threads);

}  // namespace stoker
