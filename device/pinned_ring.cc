// PinnedRing: slot memory, the lease protocol and the back-pressure wait.
#include "device/pinned_ring.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "device/cuda_check.h"
#include "device/cuda_resources.h"
#include "pipeline/dataset.h"
#include "pipeline/error.h"
#include "pipeline/tensor.h"

namespace stoker {
namespace detail {

// Shared by the ring and every lease. Invariant (under mu): a slot index is in `free` exactly when
// it is not leased; leased + free.size() == num_slots.
struct RingState {
  std::size_t slot_bytes = 0;
  std::size_t num_slots = 0;
  bool pinned = false;
  std::chrono::milliseconds poll{50};
  PinnedBuffer pinned_memory;            // when pinned
  std::shared_ptr<std::byte> host_memory;  // otherwise
  std::byte* base = nullptr;

  mutable std::mutex mu;
  std::condition_variable slot_freed;
  std::vector<std::size_t> free;  // LIFO: the most recently returned slot is the warmest
  std::size_t peak_leased = 0;
  std::uint64_t leases = 0, waits = 0, cancelled = 0;
  std::uint64_t wait_ns = 0;
  bool warned_stuck = false;

  void give_back(std::size_t slot) noexcept {
    {
      std::lock_guard lock(mu);
      free.push_back(slot);
    }
    // notify_all: a woken waiter that finds its flag cancelled leaves without taking the slot, so
    // waking only one could strand the others.
    slot_freed.notify_all();
  }
};

}  // namespace detail

namespace {

constexpr auto kStuckWarning = std::chrono::seconds(30);

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

// Returns its slot to the ring's state; holds the state alive as long as the lease lives.
struct SlotReturn {
  std::shared_ptr<detail::RingState> state;
  std::size_t slot;
  void operator()(std::byte*) const noexcept { state->give_back(slot); }
};

}  // namespace

PinnedRing::PinnedRing(std::size_t slot_bytes, std::size_t num_slots, RingMemory memory,
                       std::chrono::milliseconds backstop_poll)
    : state_(std::make_shared<detail::RingState>()) {
  if (slot_bytes == 0 || num_slots == 0) {
    throw Error(ErrorCode::kInvalidArgument, "PinnedRing: slot_bytes and num_slots must be positive (got " +
                                                 std::to_string(slot_bytes) + " bytes x " + std::to_string(num_slots) + ")",
                {"pinned_ring"});
  }
  detail::RingState& s = *state_;
  s.slot_bytes = round_up(slot_bytes, kAlign);
  s.num_slots = num_slots;
  s.poll = backstop_poll.count() > 0 ? backstop_poll : std::chrono::milliseconds(50);
  std::size_t total = s.slot_bytes * num_slots;
  s.pinned = memory == RingMemory::kPinned || (memory == RingMemory::kAuto && cuda_device_available());
  if (s.pinned) {
    s.pinned_memory = PinnedBuffer(total);
    s.base = s.pinned_memory.data();
  } else {
    s.host_memory = allocate_aligned(total);
    s.base = s.host_memory.get();
  }
  s.free.reserve(num_slots);
  for (std::size_t i = num_slots; i-- > 0;) s.free.push_back(i);  // slot 0 handed out first
}

PinnedRing::~PinnedRing() = default;

std::shared_ptr<std::byte> PinnedRing::allocate(std::size_t bytes, const std::atomic<bool>& cancelled) {
  detail::RingState& s = *state_;
  if (bytes > s.slot_bytes) {
    throw Error(ErrorCode::kOutOfMemory,
                "pinned ring: a batch needs " + std::to_string(bytes) + " bytes but a slot holds " +
                    std::to_string(s.slot_bytes) + "; make the slots at least " + std::to_string(bytes) +
                    " bytes (PinnedRing::slot_bytes_for(row, batch_size)) or the batch smaller",
                {"pinned_ring"});
  }
  std::unique_lock lock(s.mu);
  auto ready = [&] { return !s.free.empty() || cancelled.load(); };
  if (!ready()) {
    ++s.waits;
    auto t0 = std::chrono::steady_clock::now();
    auto last_progress = t0;
    std::uint64_t leases_seen = s.leases;
    while (!s.slot_freed.wait_for(lock, s.poll, ready)) {
      auto now = std::chrono::steady_clock::now();
      if (s.leases != leases_seen) {
        leases_seen = s.leases;
        last_progress = now;
      } else if (now - last_progress > kStuckWarning && !s.warned_stuck) {
        s.warned_stuck = true;
        std::fprintf(stderr,
                     "stoker: pinned ring: every one of its %zu slots has been leased for %lld s; a batch must be "
                     "released (its tensors destroyed) before the pipeline can write the next one. Does the "
                     "consumer hold %zu batches at once? Use more slots.\n",
                     s.num_slots, static_cast<long long>(kStuckWarning.count()), s.num_slots);
      }
    }
    s.wait_ns += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  }
  if (cancelled.load()) {
    ++s.cancelled;
    return nullptr;
  }
  std::size_t slot = s.free.back();
  s.free.pop_back();
  ++s.leases;
  s.peak_leased = std::max(s.peak_leased, s.num_slots - s.free.size());
  lock.unlock();
  // If the control block cannot be allocated, shared_ptr calls the deleter: the slot goes back.
  return std::shared_ptr<std::byte>(s.base + slot * s.slot_bytes, SlotReturn{state_, slot});
}

void PinnedRing::wake_waiters() noexcept {
  // Taking the lock orders this wake-up after any waiter's predicate check: a waiter either sees
  // the flag already set or is already blocked and gets notified.
  { std::lock_guard lock(state_->mu); }
  state_->slot_freed.notify_all();
}

std::size_t PinnedRing::reserved_bytes() const { return state_->slot_bytes * state_->num_slots; }
std::size_t PinnedRing::slot_bytes() const { return state_->slot_bytes; }
std::size_t PinnedRing::num_slots() const { return state_->num_slots; }
bool PinnedRing::pinned() const { return state_->pinned; }

std::size_t PinnedRing::leased() const {
  std::lock_guard lock(state_->mu);
  return state_->num_slots - state_->free.size();
}

RingStats PinnedRing::stats() const {
  const detail::RingState& s = *state_;
  std::lock_guard lock(s.mu);
  RingStats r;
  r.num_slots = s.num_slots;
  r.slot_bytes = s.slot_bytes;
  r.pinned = s.pinned;
  r.leased = s.num_slots - s.free.size();
  r.peak_leased = s.peak_leased;
  r.leases = s.leases;
  r.waits = s.waits;
  r.wait_s = static_cast<double>(s.wait_ns) * 1e-9;
  r.cancelled = s.cancelled;
  return r;
}

std::size_t PinnedRing::slot_bytes_for(const Element& row, std::int64_t batch_size) {
  if (batch_size < 1) throw Error(ErrorCode::kInvalidArgument, "slot_bytes_for: batch_size must be >= 1");
  return batch_storage_bytes(row, batch_size);
}

}  // namespace stoker
