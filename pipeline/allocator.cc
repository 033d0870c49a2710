// The default batch allocator: aligned heap memory; a large batch gets its own mapping advised
// for transparent huge pages.
//
// Why: a batch above glibc's mmap threshold is a fresh mapping every time (an image batch of
// 256 x 224x224x3 is 38 MiB), and writing it faults in one 4 KiB page at a time: 37 faults per
// 150 KB row, about 50 us of kernel time per row, 4-8% of a JPEG pipeline's CPU. Advised for huge
// pages it takes one fault per 2 MiB. The mapping is returned to the kernel when the batch is
// freed, as glibc would: nothing is held past the batch's life (RSS grows by at most the 2 MiB
// rounding of the one batch). Where THP is off or madvise fails, the mapping is used with 4 KiB
// pages as before. Under AddressSanitizer batches stay on the malloc heap, where a write past a
// batch's end is caught (a mapping rounded up to 2 MiB would hide it).
#include "pipeline/allocator.h"

#include <sys/mman.h>

#include <cstdint>
#include <new>

#include "pipeline/tensor.h"

namespace stoker {
namespace {

constexpr std::size_t kHuge = std::size_t{2} << 20;
// Below this a batch comes from malloc (pooled or heap): huge pages would only round it up.
constexpr std::size_t kHugeMin = std::size_t{8} << 20;

// A mapping of `bytes` rounded up to whole huge pages, starting on a huge-page boundary (the
// kernel aligns only some anonymous mappings by itself: map one huge page more, unmap the ends).
std::shared_ptr<std::byte> map_huge(std::size_t bytes) {
  const std::size_t len = (bytes + kHuge - 1) / kHuge * kHuge;
  void* raw = ::mmap(nullptr, len + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t start = (base + kHuge - 1) / kHuge * kHuge;
  if (start > base) ::munmap(raw, start - base);
  if (const std::size_t tail = base + len + kHuge - (start + len); tail > 0) {
    ::munmap(reinterpret_cast<void*>(start + len), tail);
  }
  auto* p = reinterpret_cast<std::byte*>(start);
  (void)::madvise(p, len, MADV_HUGEPAGE);  // advice only: without THP the pages are 4 KiB
  try {
    return std::shared_ptr<std::byte>(p, [len](std::byte* q) { ::munmap(q, len); });
  } catch (...) {
    ::munmap(p, len);
    throw;
  }
}

}  // namespace

bool HeapAllocator::maps_large_batches() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

std::shared_ptr<std::byte> HeapAllocator::allocate(std::size_t bytes, const std::atomic<bool>&) {
  return bytes >= kHugeMin && maps_large_batches() ? map_huge(bytes) : allocate_aligned(bytes);
}

}  // namespace stoker
