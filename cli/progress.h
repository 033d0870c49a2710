// Training progress for `stoker train`: a live bar on a terminal (samples/s, loss, accuracy,
// input stall %), one line per epoch otherwise, and a JSON Lines log (one object per epoch).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

#include "trainer/trainer.h"

namespace stoker::cli {

// One epoch as a single-line JSON object (no trailing newline). Keys: epoch (1-based), steps,
// samples, loss, accuracy, val_loss, val_accuracy, val_samples (when validated), seconds,
// samples_per_s, stall_pct, skipped_steps, skipped_elements, peak_pipeline_bytes, peak_backend_bytes,
// peak_rss_bytes, stopped.
std::string epoch_json(const EpochReport& r);

class TrainProgress {
 public:
  // `bar`: redraw one line in place (a terminal); otherwise print a line per epoch. `log`: a
  // JSON Lines file or null. `out` is where the bar and lines go.
  TrainProgress(bool bar, int epochs, std::int64_t steps_per_epoch, std::FILE* out, std::FILE* log);

  void on_step(const StepReport& s);
  void on_epoch(const EpochReport& r);

 private:
  using Clock = std::chrono::steady_clock;
  void draw(bool force);

  bool bar_;
  int epochs_;
  std::int64_t steps_per_epoch_;
  std::FILE* out_;
  std::FILE* log_;
  int epoch_ = 0;
  std::int64_t steps_ = 0, samples_ = 0;
  double loss_sum_ = 0, correct_ = 0, wait_s_ = 0;
  Clock::time_point start_ = Clock::now(), last_draw_{};
};

}  // namespace stoker::cli
