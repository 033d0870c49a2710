// `stoker train --checkpoint PATH [--checkpoint-every STEPS] [--resume PATH]`: writes training
// checkpoints (trainer/checkpoint.h) at each epoch end, every STEPS steps and on Ctrl-C, and
// resumes from one exactly (bit-identical weights for the same kernel set and thread count).
#pragma once

#include <cstdint>
#include <string>

#include "cli/args.h"
#include "cli/data_source.h"
#include "trainer/trainer.h"

namespace stoker::cli {

struct CheckpointFlags {
  std::string path;        // --checkpoint (default: the --resume file); empty: none
  std::int64_t every = 0;  // --checkpoint-every steps; 0: epoch ends (and Ctrl-C) only
  std::string resume;      // --resume
};

// Reads the three flags; UsageError for --checkpoint-every without a checkpoint path or an
// unreadable --resume file.
CheckpointFlags checkpoint_flags(const Args& args);

// What a checkpoint's position counts batches of: the data's rows and shape, the batch, the
// shuffle buffer, the memory budget and the learning-rate schedule. Not the thread count: the
// data order does not depend on it.
std::string checkpoint_run_key(const LabeledData& data, std::int64_t batch, std::size_t shuffle_buffer,
                               std::size_t memory_budget, const OptimizerConfig& optimizer);

// Restores `trainer` from flags.resume and returns where to continue. `run_key` describes what
// the position counts batches of (data shape, batch, shuffle buffer, schedule); a checkpoint
// written with another key is refused (kInvalidArgument) showing both.
FitPosition resume_training(Trainer& trainer, const CheckpointFlags& flags, const std::string& run_key);

// Makes `fo` write a checkpoint to flags.path (when set) at the positions FitOptions documents.
void enable_checkpoints(FitOptions& fo, const Trainer& trainer, const CheckpointFlags& flags, const std::string& run_key);

}  // namespace stoker::cli
