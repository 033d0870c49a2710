// CopyPlan (see copy_plan.h).
#include "device/copy_plan.h"

namespace stoker::detail {
namespace {

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

}  // namespace

CopyPlan::CopyPlan(const Element& e) {
  const std::byte* lo = nullptr;
  const std::byte* hi = nullptr;
  std::size_t sum = 0, count = 0;
  bool aligned = true;
  for (const Tensor& t : e) {
    if (t.nbytes() == 0) continue;
    const std::byte* p = t.data();
    if (!lo || p < lo) lo = p;
    if (!hi || p + t.nbytes() > hi) hi = p + t.nbytes();
    sum += t.nbytes();
    ++count;
  }
  for (const Tensor& t : e) {
    if (t.nbytes() && (t.data() - lo) % 64 != 0) aligned = false;
  }
  std::size_t span = count ? static_cast<std::size_t>(hi - lo) : 0;
  if (count > 1 && count <= 32 && aligned && span <= sum + 64 * count) {
    segments.push_back({lo, 0, span});
    for (const Tensor& t : e) offsets.push_back(t.nbytes() ? static_cast<std::size_t>(t.data() - lo) : 0);
    bytes = copied = span;
    return;
  }
  for (const Tensor& t : e) {
    offsets.push_back(bytes);
    if (t.nbytes()) segments.push_back({t.data(), bytes, t.nbytes()});
    bytes += round_up(t.nbytes(), kDeviceAlign);
    copied += t.nbytes();
  }
}

}  // namespace stoker::detail
