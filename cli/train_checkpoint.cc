// Checkpoint flags of `stoker train` (see train_checkpoint.h).
#include "cli/train_checkpoint.h"

#include <unistd.h>

#include <cstdio>

#include "pipeline/error.h"

namespace stoker::cli {

CheckpointFlags checkpoint_flags(const Args& args) {
  CheckpointFlags f;
  f.resume = args.get("resume", "");
  f.path = args.get("checkpoint", f.resume);
  f.every = args.get_count("checkpoint-every", 0, true);
  if (f.every > 0 && f.path.empty()) throw UsageError("--checkpoint-every needs --checkpoint PATH");
  if (!f.resume.empty() && access(f.resume.c_str(), R_OK) != 0) throw UsageError("--resume: cannot read " + f.resume);
  return f;
}

std::string checkpoint_run_key(const LabeledData& data, std::int64_t batch, std::size_t shuffle_buffer,
                               std::size_t memory_budget, const OptimizerConfig& o) {
  char lr[32];
  std::snprintf(lr, sizeof lr, "%g", static_cast<double>(o.learning_rate));
  return std::to_string(data.rows) + " rows of " + std::to_string(data.height) + "x" + std::to_string(data.width) + "x" +
         std::to_string(data.channels) + " " + dtype_name(data.image_dtype) + ", batch " + std::to_string(batch) +
         ", shuffle buffer " + std::to_string(shuffle_buffer) + ", memory budget " + std::to_string(memory_budget) +
         ", lr " + lr + (o.schedule == OptimizerConfig::kCosine ? " cosine over " + std::to_string(o.decay_steps) + " steps" : " constant");
}

FitPosition resume_training(Trainer& trainer, const CheckpointFlags& flags, const std::string& run_key) {
  const TrainingCheckpoint ckpt = read_checkpoint(flags.resume);
  if (ckpt.run_key != run_key) {
    throw Error(ErrorCode::kInvalidArgument,
                "the checkpoint was written for a run with " + ckpt.run_key + "; this run has " + run_key +
                    " (resume with the flags of the interrupted run)",
                {"checkpoint", flags.resume});
  }
  try {
    return trainer.restore(ckpt);
  } catch (const Error& e) {
    throw Error(e.code(), e.message(), {"checkpoint", flags.resume});
  }
}

void enable_checkpoints(FitOptions& fo, const Trainer& trainer, const CheckpointFlags& flags, const std::string& run_key) {
  if (flags.path.empty()) return;
  fo.checkpoint_every = flags.every;
  fo.on_checkpoint = [&trainer, path = flags.path, run_key](const FitPosition& pos) {
    TrainingCheckpoint c = trainer.checkpoint(pos);
    c.run_key = run_key;
    write_checkpoint(path, c);
  };
}

}  // namespace stoker::cli
