// CopyPlan: where each component of a host batch goes in a device buffer, and which host spans
// the feeder copies there (internal to device/: only device_feeder.cc uses it). Either one copy
// of the batch's whole span, when its components lie packed in one allocation as batch() makes
// them, or one copy per component at kDeviceAlign-aligned offsets. Holds pointers into the
// Element, not its bytes: the Element must not move while the plan is used.
#pragma once

#include <cstddef>
#include <vector>

#include "pipeline/element.h"

namespace stoker::detail {

inline constexpr std::size_t kDeviceAlign = 256;  // component offsets in per-component plans

// Where each component of a host batch goes in a device buffer.
struct CopyPlan {
  struct Segment {
    const std::byte* src;
    std::size_t offset;  // in the device buffer
    std::size_t bytes;
  };
  std::vector<Segment> segments;
  std::vector<std::size_t> offsets;  // per component
  std::size_t bytes = 0;             // of the device buffer used
  std::size_t copied = 0;            // bytes moved

  // A batch from batch() lies in one allocation, components at 64-byte aligned offsets with at
  // most 63 bytes of padding each: one copy of the whole span is then cheaper than one per
  // component. The slack bound (< 4 KiB, less than a page) guarantees the span has no unmapped
  // hole even when the components come from different allocations.
  explicit CopyPlan(const Element& e);
};

}  // namespace stoker::detail
