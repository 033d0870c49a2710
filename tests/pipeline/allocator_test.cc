// HeapAllocator: small batches from the aligned heap, large ones from their own huge-page-aligned
// mapping that is returned to the kernel when the batch is freed; batches through the default
// allocator hold exactly the rows written.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "pipeline/allocator.h"
#include "pipeline/dataset.h"

namespace stoker {
namespace {

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t size = 0, resident = 0;
  f >> size >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

TEST(HeapAllocator, SmallAndLargeBatchesAreAlignedAndWritable) {
  HeapAllocator a;
  std::atomic<bool> cancelled{false};
  for (std::size_t bytes : {std::size_t{1}, std::size_t{1000}, std::size_t{5} << 20, (std::size_t{9} << 20) + 5}) {
    auto p = a.allocate(bytes, cancelled);
    ASSERT_TRUE(p);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p.get()) % 64, 0u) << bytes;
    std::memset(p.get(), 0xA5, bytes);
    EXPECT_EQ(static_cast<unsigned char>(p.get()[bytes - 1]), 0xA5);
  }
  // A large batch starts on a huge-page boundary, so the kernel can back all of it with 2 MiB pages.
  if (!HeapAllocator::maps_large_batches()) GTEST_SKIP() << "AddressSanitizer build: batches stay on the heap";
  auto big = a.allocate(std::size_t{9} << 20, cancelled);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.get()) % (std::size_t{2} << 20), 0u);
}

TEST(HeapAllocator, LargeBatchMemoryIsReturnedWhenFreed) {
  // (AddressSanitizer quarantines freed heap memory: nothing to check there.)
  if (!HeapAllocator::maps_large_batches()) GTEST_SKIP() << "AddressSanitizer build: batches stay on the heap";
  HeapAllocator a;
  std::atomic<bool> cancelled{false};
  constexpr std::size_t kBytes = std::size_t{64} << 20;
  const std::size_t before = rss_bytes();
  {
    auto p = a.allocate(kBytes, cancelled);
    std::memset(p.get(), 1, kBytes);
    EXPECT_GE(rss_bytes(), before + kBytes - (std::size_t{4} << 20));
  }
  // Nothing of the 64 MiB stays resident (slack: unrelated allocations of the test process).
  EXPECT_LT(rss_bytes(), before + (std::size_t{8} << 20));
}

TEST(HeapAllocator, LargeBatchesThroughTheDefaultAllocatorHoldEveryRow) {
  // 300 rows of 32 KiB: a 9.4 MiB batch, above the huge-page threshold.
  constexpr std::int64_t kRows = 300, kRowBytes = 32 << 10;
  auto ds = Dataset::range(kRows)
                .map([](Element e, Rng&) {
                  const std::int64_t i = e[0].data_as<std::int64_t>()[0];
                  Tensor t(DType::kU8, Shape{kRowBytes});
                  for (std::int64_t k = 0; k < kRowBytes; ++k) t.mutable_data_as<std::uint8_t>()[k] = static_cast<std::uint8_t>(i * 31 + k);
                  return Element{t};
                })
                .batch(kRows);
  auto it = ds.iterator({.num_threads = 2});
  auto b = it.next();
  ASSERT_TRUE(b);
  ASSERT_EQ((*b)[0].shape(), (Shape{kRows, kRowBytes}));
  const std::uint8_t* d = (*b)[0].data_as<std::uint8_t>();
  for (std::int64_t i = 0; i < kRows; ++i)
    for (std::int64_t k = 0; k < kRowBytes; ++k)
      ASSERT_EQ(d[i * kRowBytes + k], static_cast<std::uint8_t>(i * 31 + k)) << i << "," << k;
  EXPECT_FALSE(it.next());
}

}  // namespace
}  // namespace stoker
