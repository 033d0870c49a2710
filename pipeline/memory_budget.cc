// MemoryBudget accounting: lock-free charge/release with a running peak.
#include "pipeline/memory_budget.h"

#include "pipeline/stats.h"

#include <cstdio>
#include <cstdlib>

namespace stoker {
namespace {

template <class T>
void raise_peak(std::atomic<T>& peak, T now) {
  T p = peak.load(std::memory_order_relaxed);
  while (now > p && !peak.compare_exchange_weak(p, now, std::memory_order_relaxed)) {
  }
}

}  // namespace

void MemoryBudget::charge(std::size_t bytes) { raise_peak(peak_, used_.fetch_add(bytes, std::memory_order_relaxed) + bytes); }

void MemoryBudget::release(std::size_t bytes) {
  std::size_t before = used_.fetch_sub(bytes, std::memory_order_relaxed);
  if (before < bytes) {  // a release without its charge: an accounting bug, never data-dependent
    std::fprintf(stderr, "stoker: memory budget released %zu bytes but only %zu were charged\n", bytes, before);
    std::abort();
  }
}

std::string MemoryBudget::format_bytes(double bytes) {
  char buf[32];
  if (bytes >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
  else if (bytes >= 1024.0 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024));
  else if (bytes >= 1024.0) std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  else std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  return buf;
}

void MemoryBudget::refuse(std::size_t bytes, const std::string& what, const ErrorContext& where) const {
  throw Error(ErrorCode::kOutOfMemory,
              what + " needs " + format_bytes(double(bytes)) + " (" + std::to_string(bytes) +
                  " bytes), more than the whole memory budget of " + format_bytes(double(limit_)) +
                  "; make it smaller (a smaller batch or image size) or raise the memory budget",
              where);
}

void StageCounters::add_bytes(std::int64_t delta) {
  raise_peak(peak_bytes, bytes_held.fetch_add(delta, std::memory_order_relaxed) + delta);
}

MemoryCharge::MemoryCharge(MemoryBudget* budget, StageCounters* stage, std::size_t bytes)
    : budget_(budget), stage_(stage), bytes_(bytes) {
  if (budget_) budget_->charge(bytes_);
  if (stage_) stage_->add_bytes(static_cast<std::int64_t>(bytes_));
}

MemoryCharge& MemoryCharge::operator=(MemoryCharge&& o) noexcept {
  if (this != &o) {
    reset();
    budget_ = std::exchange(o.budget_, nullptr);
    stage_ = std::exchange(o.stage_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

void MemoryCharge::reset() {
  if (budget_) budget_->release(bytes_);
  if (stage_) stage_->add_bytes(-static_cast<std::int64_t>(bytes_));
  budget_ = nullptr;
  stage_ = nullptr;
  bytes_ = 0;
}

}  // namespace stoker
