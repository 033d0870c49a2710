// Training checkpoints: everything needed to continue a fit() exactly where it stopped, in one
// versioned, checksummed file written atomically.
//
// What continuing exactly needs, and where it comes from:
//   weights + optimizer state   Backend::get_params / get_optimizer_state (Adam moments, applied
//                               updates = schedule position and bias correction, loss scaler)
//   random state                every draw is keyed, not stateful: weight init and dropout by
//                               (seed, step), the pipeline by (seed, epoch, element index); so
//                               the seed and Trainer::steps() are the whole RNG state
//   iterator position           FitPosition: the epoch and its iterator's Iterator::save() state.
//                               A resumed fit() restores that epoch's iterator from it (same
//                               seed, so the same order and augmentations): O(1) state,
//                               O(position) work to get back there (pipeline/iterator_state.h)
//   the epoch's running sums    so the resumed epoch reports the same loss and accuracy
//
// File layout (little-endian): "STKCKPT1", u32 format version, u64 payload bytes, u32 zlib crc32
// of the payload, payload. A file whose size, version or checksum does not match is refused
// with a message naming it; nothing is allocated beyond the file's own size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/backend.h"
#include "trainer/model_spec.h"

namespace stoker {

// Where a fit() is within its epochs.
struct FitPosition {
  int epoch = 0;             // 0-based epoch to run (== epochs: the fit is complete)
  std::int64_t batches = 0;    // batches already taken from this epoch's iterator
  std::string iterator_state;  // Iterator::save() after those batches; empty: the epoch's start
  // This epoch's running sums over the batches already trained on.
  std::int64_t steps = 0, samples = 0, skipped_steps = 0;
  double loss_sum = 0, correct = 0;
};

struct TrainingCheckpoint {
  std::string model;  // ModelSpec::to_string()
  Hwc input{};
  Precision precision = Precision::kFloat32;
  OptimizerConfig optimizer;
  std::uint64_t seed = 0;   // TrainerConfig::seed
  std::int64_t steps = 0;   // Trainer::steps(): keys dropout masks
  std::vector<std::vector<float>> params;
  OptimizerState optimizer_state;
  FitPosition position;
  // What the caller needs to match on resume (e.g. the data and batch size the position counts
  // batches of); compared by the caller, opaque here.
  std::string run_key;
};

inline constexpr std::uint32_t kCheckpointVersion = 1;

// Writes `ckpt` to `path` atomically (pipeline/atomic_file.h: temp, fsync, rename): a reader, or
// a crash at any point, sees the previous file or the new one, never a mix. Throws Error kIo
// naming the path.
void write_checkpoint(const std::string& path, const TrainingCheckpoint& ckpt);
// Throws Error (kNotFound, kDataLoss for truncation / bad checksum, kUnsupported for another
// format version) naming the path.
TrainingCheckpoint read_checkpoint(const std::string& path);

}  // namespace stoker
