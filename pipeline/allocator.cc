// The default batch allocator: aligned heap memory.
#include "pipeline/allocator.h"

#include "pipeline/tensor.h"

namespace stoker {

std::shared_ptr<std::byte> HeapAllocator::allocate(std::size_t bytes, const std::atomic<bool>&) {
  return allocate_aligned(bytes);
}

}  // namespace stoker
