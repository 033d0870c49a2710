// Memory planner: how many samples of a model fit in a memory budget, and how a requested batch
// is split into micro-batches with gradient accumulation when it does not fit.
//
// The estimate counts what the backend really allocates: per sample, every activation kept for
// backward (with pool argmax indices and dropout masks), the two activation-gradient buffers and
// the cast input; fixed, the parameters, their gradients, the optimizer state, the compute copy
// of the weights under mixed precision, and the workspaces (im2col slots on CPU, the cuDNN
// workspace cap on CUDA). The CPU backend's bytes_allocated() stays within this estimate (tested).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "trainer/backend.h"
#include "trainer/model_spec.h"

namespace stoker {

struct MemoryEstimate {
  std::size_t bytes_per_sample = 0;
  std::size_t fixed_bytes = 0;
  std::int64_t param_count = 0;
};

struct MemoryPlan {
  MemoryEstimate estimate;
  std::size_t available = 0;      // bytes the plan had to fit in
  std::int64_t requested = 0;     // the batch asked for (0: auto)
  std::int64_t batch = 0;         // samples per optimizer step
  std::int64_t micro_batch = 0;   // samples per forward/backward pass
  std::int64_t accumulation = 1;  // micro-batches per step: ceil(batch / micro_batch)
  std::string to_string() const;
};

// PlanTarget (where the model runs) is declared in backend.h: each backend reports its own.

// Samples per im2col GEMM on CPU for a conv of `cols_per_sample` = OH*OW*KH*KW*C floats: as many
// as fit in 4 MiB (at least 1), so GEMMs stay large while the workspace stays bounded.
std::int64_t conv_group_size(std::int64_t cols_per_sample);

MemoryEstimate estimate_memory(const ModelSpec& spec, const Hwc& input, Precision precision,
                               OptimizerConfig::Kind optimizer, const PlanTarget& target);

// Chooses the micro-batch for `requested` samples per step (0: auto, the largest that fits,
// capped at `auto_cap`). Throws Error(kOutOfMemory) stating needed and available bytes and what
// to do when not even one sample fits.
MemoryPlan plan_batch(const MemoryEstimate& estimate, std::size_t available, std::int64_t requested,
                      std::int64_t auto_cap = 4096);

// Host memory this process may use when no limit is configured: MemAvailable from /proc/meminfo.
std::size_t host_memory_available();

}  // namespace stoker
