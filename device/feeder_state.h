// FeederState: what a DeviceFeeder shares with every DeviceBatch it handed out (internal to
// device/; not installed). The buffers and their lease status, the queue of copied batches, the
// statistics, and the CUDA timing events that measure copy time and GPU idle time.
//
// Ownership: the feeder and each DeviceBatch hold a shared_ptr, so a batch may outlive its feeder;
// the buffers are freed when the last holder lets go (stream-ordered after every `freed` event).
// Memory: num_buffers device (or host) buffers plus at most kMaxTimingEvents CUDA events.
// Locking: `mu` guards every field except `copy`, `buffers[i].device/host/capacity` (the feeder
// thread's while a buffer is kFilling) and the events themselves.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "device/cuda_resources.h"
#include "device/device_batch.h"

namespace stoker::detail {

inline constexpr std::size_t kMaxTimingEvents = 64;  // bounds the timing events in flight

struct FeederBuffer {
  enum Status { kFree, kFilling, kQueued, kLeased };
  Status status = kFree;       // guarded by FeederState::mu
  std::size_t capacity = 0;    // touched only by the feeder thread while kFilling
  DeviceBuffer device;         // CUDA mode
  std::shared_ptr<std::byte> host;  // host mode
  Event ready;                 // recorded on the copy stream after the copy
  Event freed;                 // recorded on the consumer's stream at release
  std::byte* data() const { return host ? host.get() : static_cast<std::byte*>(device.data()); }
};

struct Queued {
  int buffer = -1;
  std::vector<DeviceTensor> tensors;
  std::exception_ptr error;
};

// Shared by the feeder and every DeviceBatch it handed out, so a batch may outlive the feeder.
class FeederState {
 public:
  FeederState(bool cuda, int device, int num_buffers) : cuda(cuda), device(device), buffers(static_cast<std::size_t>(num_buffers)) {}
  ~FeederState();

  const bool cuda;
  const int device;  // CUDA ordinal, or DeviceTensor::kHostDevice
  // Declared before `buffers`: stream-ordered frees of the buffers are enqueued on it.
  Stream copy;
  std::vector<FeederBuffer> buffers;  // never resized after construction

  std::mutex mu;
  std::condition_variable to_issuer, to_consumer;
  std::deque<Queued> queue;  // batches copied (or copying) and errors, in order
  bool stop = false;         // the feeder is being destroyed
  bool done = false;         // the feeder thread has exited
  bool error_pending = false;

  // Statistics, guarded by mu.
  std::uint64_t batches = 0, bytes = 0, timed_bytes = 0;
  double copy_s = 0, gpu_idle_s = 0;
  std::uint64_t host_wait_ns = 0, first_next_ns = 0;

  DeviceBatch make_batch(Queued&& q, std::shared_ptr<FeederState> self);
  void wait(int buffer, StreamHandle compute);
  void release(int buffer, StreamHandle stream) noexcept;

  // Timing events (CUDA): a bounded pool; a pair is pending until its end event completes.
  struct Timing {
    EventHandle start, end;
    bool is_copy;
  };
  EventHandle take_timing_event();  // under mu; nullptr when the pool is exhausted
  void give_timing_event(EventHandle e) { if (e) free_timing_.push_back(e); }
  void add_pending(Timing t) { pending_.push_back(t); }
  void harvest() noexcept;  // under mu: folds completed timings into the statistics

 private:
  std::vector<Event> timing_events_;
  std::vector<EventHandle> free_timing_;
  std::deque<Timing> pending_;
  EventHandle last_release_ = nullptr;  // timing event recorded at the last release
  StreamHandle last_release_stream_ = nullptr;
};

}  // namespace stoker::detail
