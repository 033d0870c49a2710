// FeederState: the DeviceBatch wait/release protocol (events only, no host wait) and the
// timing bookkeeping (a bounded pool of CUDA timing events, harvested into copy and idle seconds).
#include "device/feeder_state.h"

#include <utility>

#include "device/cuda_check.h"

namespace stoker::detail {

FeederState::~FeederState() {
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  // Every batch was released (each held this state), so each buffer's last use is captured by its
  // `freed` event: order the stream-ordered frees after it. No host wait.
  if (cuda) {
    for (FeederBuffer& b : buffers) STOKER_CUDA_CHECK_NOTHROW(cudaStreamWaitEvent(copy.get(), b.freed.get(), 0));
  }
#endif
}

EventHandle FeederState::take_timing_event() {
  if (!cuda) return nullptr;
  if (!free_timing_.empty()) {
    EventHandle e = free_timing_.back();
    free_timing_.pop_back();
    return e;
  }
  if (timing_events_.size() >= kMaxTimingEvents) return nullptr;
  timing_events_.push_back(Event::create(/*timing=*/true));
  return timing_events_.back().get();
}

void FeederState::harvest() noexcept {
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  while (!pending_.empty()) {
    Timing t = pending_.front();
    cudaError_t s = cudaEventQuery(t.end);
    if (s == cudaErrorNotReady) break;
    pending_.pop_front();
    float ms = 0;
    if (STOKER_CUDA_CHECK_NOTHROW(s) && STOKER_CUDA_CHECK_NOTHROW(cudaEventElapsedTime(&ms, t.start, t.end))) {
      (t.is_copy ? copy_s : gpu_idle_s) += static_cast<double>(ms) * 1e-3;
    }
    give_timing_event(t.start);
    give_timing_event(t.end);
  }
#endif
}

DeviceBatch FeederState::make_batch(Queued&& q, std::shared_ptr<FeederState> self) {
  DeviceBatch b;
  b.owner_ = std::move(self);  // the batch co-owns the state: it may outlive the feeder
  b.tensors = std::move(q.tensors);
  b.buffer_ = q.buffer;
  if (cuda) {
    b.stream = copy.get();
    b.ready = buffers[static_cast<std::size_t>(q.buffer)].ready.get();
  }
  return b;
}

void FeederState::wait(int buffer, StreamHandle compute) {
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  if (!cuda) return;
  buffers[static_cast<std::size_t>(buffer)].ready.make_wait(compute);
  // Idle time of `compute` between the last release on it and this batch's start: the input stall.
  std::lock_guard lock(mu);
  if (last_release_ && last_release_stream_ == compute) {
    EventHandle start = take_timing_event();
    if (start) {
      STOKER_CUDA_CHECK(cudaEventRecord(start, compute));
      add_pending({last_release_, start, /*is_copy=*/false});
      last_release_ = nullptr;
    }
  }
#else
  (void)buffer;
  (void)compute;
#endif
}

void FeederState::release(int buffer, StreamHandle stream) noexcept {
  {
    std::lock_guard lock(mu);
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
    if (cuda) {
      FeederBuffer& b = buffers[static_cast<std::size_t>(buffer)];
      if (!STOKER_CUDA_CHECK_NOTHROW(cudaEventRecord(b.freed.get(), stream))) {
        // The next copy cannot be ordered after the consumer's work: wait for that work here.
        STOKER_CUDA_CHECK_NOTHROW(cudaStreamSynchronize(stream));
      }
      EventHandle mark = nullptr;
      try {
        mark = take_timing_event();
      } catch (...) {
      }
      if (mark && STOKER_CUDA_CHECK_NOTHROW(cudaEventRecord(mark, stream))) {
        give_timing_event(last_release_);  // never pending: safe to re-record
        last_release_ = mark;
        last_release_stream_ = stream;
      } else {
        give_timing_event(mark);
      }
    }
#else
    (void)stream;
#endif
    buffers[static_cast<std::size_t>(buffer)].status = FeederBuffer::kFree;
  }
  to_issuer.notify_all();
}

}  // namespace stoker::detail
