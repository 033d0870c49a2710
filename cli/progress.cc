// Training progress display and JSON Lines log (see progress.h).
#include "cli/progress.h"

#include <algorithm>

#include "cli/json_report.h"

namespace stoker::cli {

std::string epoch_json(const EpochReport& r) { return to_json(r).dump(); }

TrainProgress::TrainProgress(bool bar, int epochs, std::int64_t steps_per_epoch, std::FILE* out, std::FILE* log)
    : bar_(bar), epochs_(epochs), steps_per_epoch_(steps_per_epoch), out_(out), log_(log) {}

void TrainProgress::on_step(const StepReport& s) {
  epoch_ = s.epoch;
  ++steps_;
  samples_ += s.samples;
  loss_sum_ += s.loss * static_cast<double>(s.samples);
  correct_ += s.accuracy * static_cast<double>(s.samples);
  wait_s_ += s.input_wait_s;
  if (bar_) draw(false);
}

void TrainProgress::draw(bool force) {
  const auto now = Clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  constexpr int kWidth = 24;
  const double frac = steps_per_epoch_ > 0 ? std::min(1.0, static_cast<double>(steps_) / static_cast<double>(steps_per_epoch_)) : 0;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bartext(static_cast<std::size_t>(filled), '#');
  bartext.append(static_cast<std::size_t>(kWidth - filled), '.');
  const double n = samples_ > 0 ? static_cast<double>(samples_) : 1;
  std::fprintf(out_, "\r\033[Kepoch %d/%d [%s] %lld/%lld | %.0f samples/s loss %.4f acc %.4f stall %.1f%%", epoch_ + 1,
               epochs_, bartext.c_str(), static_cast<long long>(steps_), static_cast<long long>(steps_per_epoch_),
               elapsed > 0 ? static_cast<double>(samples_) / elapsed : 0.0, loss_sum_ / n, correct_ / n,
               elapsed > 0 ? 100.0 * wait_s_ / elapsed : 0.0);
  std::fflush(out_);
}

void TrainProgress::on_epoch(const EpochReport& r) {
  if (bar_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s", r.to_string().c_str());
  if (r.validation) std::fprintf(out_, " (eval %.1f s)", r.validation->seconds);
  std::fprintf(out_, "\n");
  std::fflush(out_);
  if (log_) {
    std::fprintf(log_, "%s\n", epoch_json(r).c_str());
    std::fflush(log_);
  }
  steps_ = samples_ = 0;
  loss_sum_ = correct_ = wait_s_ = 0;
  start_ = Clock::now();
}

}  // namespace stoker::cli
