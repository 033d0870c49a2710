// allocate_aligned(): tensor storage, with buffers of the sizes a pipeline allocates per element
// recycled by exact size instead of returned to malloc.
//
// Why: a streaming pipeline frees and allocates rows of one size in a steady stream (a shuffle
// buffer swaps one row for another). Given back to glibc, a freed row is split to serve the small
// allocations in between (shared_ptr control blocks, vectors), the next row no longer fits in it
// and comes from fresh memory: with a 195 MiB shuffle buffer the arena grew to 348 MiB, so the
// process' RSS overshot the memory budget by half the buffer. Recycled, a freed row is the next
// row; nothing is split.
//
// Bounds: buffers of kPoolMin..kPoolMax bytes are pooled, at most kPoolCap bytes in all (beyond
// that a freed buffer goes back to malloc); the pool is process-wide and lock-protected, never
// destroyed (deleters may run during static destruction).
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "pipeline/tensor.h"

namespace stoker {
namespace {

constexpr std::size_t kAlign = 64;
constexpr std::size_t kPoolMin = std::size_t{4} << 10;
constexpr std::size_t kPoolMax = std::size_t{16} << 20;
constexpr std::size_t kPoolCap = std::size_t{32} << 20;

class BufferPool {
 public:
  static BufferPool& instance() {
    static BufferPool* pool = new BufferPool;  // intentionally never destroyed
    return *pool;
  }

  void* take(std::size_t bytes) {
    {
      std::lock_guard lock(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        pooled_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(kAlign, bytes);
    if (!p) throw std::bad_alloc();
    return p;
  }

  void give(void* p, std::size_t bytes) noexcept {
    {
      std::lock_guard lock(mu_);
      if (pooled_ + bytes <= kPoolCap) {
        try {
          free_[bytes].push_back(p);
          pooled_ += bytes;
          return;
        } catch (...) {  // no room for the bookkeeping: free it instead
        }
      }
    }
    std::free(p);
  }

  std::size_t pooled() {
    std::lock_guard lock(mu_);
    return pooled_;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t pooled_ = 0;
};

}  // namespace

std::shared_ptr<std::byte> allocate_aligned(std::size_t bytes) {
  const std::size_t rounded = bytes == 0 ? kAlign : (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded < kPoolMin || rounded > kPoolMax) {
    void* p = std::aligned_alloc(kAlign, rounded);
    if (!p) throw std::bad_alloc();
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
  }
  void* p = BufferPool::instance().take(rounded);
  try {
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p),
                                      [rounded](std::byte* q) { BufferPool::instance().give(q, rounded); });
  } catch (...) {
    BufferPool::instance().give(p, rounded);
    throw;
  }
}

std::size_t pooled_buffer_bytes() { return BufferPool::instance().pooled(); }

}  // namespace stoker
