// DeviceFeeder: the feeder thread (pull a host batch, enqueue its copy) and the completion thread
// (return ring slots as copies finish). The buffers, the release protocol and the timings live in
// feeder_state.{h,cc}; DeviceBatch's methods in device_batch.cc; the layout of a batch's copy in
// copy_plan.{h,cc}.
#include "device/device_feeder.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "device/copy_plan.h"
#include "device/cuda_check.h"
#include "device/feeder_state.h"
#include "pipeline/clock.h"
#include "pipeline/error.h"
#include "pipeline/tensor.h"

namespace stoker {
namespace {

using detail::CopyPlan;

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
constexpr bool kBuiltWithCuda = true;
// Makes `device` current for a scope and restores the caller's device after.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device) {
    STOKER_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) STOKER_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceGuard() { STOKER_CUDA_CHECK_NOTHROW(cudaSetDevice(previous_)); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
};
#else
constexpr bool kBuiltWithCuda = false;
#endif

}  // namespace

// ---- DeviceFeeder ----

struct DeviceFeeder::Impl {
  std::shared_ptr<detail::FeederState> state;
  std::optional<Iterator> host;  // used only by the feeder thread until it is joined
  std::shared_ptr<PinnedRing> ring;
  std::function<void(std::byte*, const std::byte*, std::size_t)> host_copy;  // host mode; empty: memcpy

  // Host batches whose copies are in flight (CUDA mode), in copy order.
  std::mutex cmu;
  std::condition_variable ccv;
  std::deque<std::pair<EventHandle, std::unique_ptr<Element>>> completions;
  bool cstop = false;

  std::thread feeder, completer;

  ~Impl() {
    if (!state) return;  // the constructor failed before starting anything
    {
      std::lock_guard lock(state->mu);
      state->stop = true;
    }
    state->to_issuer.notify_all();
    if (feeder.joinable()) feeder.join();
    host.reset();  // cancels and joins the pipeline
    {
      std::lock_guard lock(cmu);
      cstop = true;
    }
    ccv.notify_all();
    if (completer.joinable()) completer.join();
  }

  void run_feeder() noexcept;
  void run_completer() noexcept;
  detail::Queued issue(int j, std::unique_ptr<Element> batch);
  void ensure_capacity(detail::FeederBuffer& b, std::size_t bytes);
};

void DeviceFeeder::Impl::ensure_capacity(detail::FeederBuffer& b, std::size_t bytes) {
  if (b.capacity >= bytes) return;
  // Grow by at least a quarter, so batches of slowly rising size do not reallocate every time.
  if (b.capacity) bytes = std::max(bytes, b.capacity + b.capacity / 4);
  if (state->cuda) {
    // The old allocation is freed on the copy stream after the consumer's last use of it.
    b.freed.make_wait(state->copy.get());
    b.device = DeviceBuffer(bytes, state->copy.get());
  } else {
    b.host = allocate_aligned(bytes);
  }
  b.capacity = bytes;
}

// `batch` lives on the heap from before the plan is made until its copy is done: the source
// addresses must not move (an Element keeps small tensors inline, and moving it moves them).
detail::Queued DeviceFeeder::Impl::issue(int j, std::unique_ptr<Element> owned) {
  const Element& batch = *owned;
  detail::FeederState& s = *state;
  detail::FeederBuffer& b = s.buffers[static_cast<std::size_t>(j)];
  CopyPlan plan(batch);
  ensure_capacity(b, std::max<std::size_t>(plan.bytes, 1));
  std::byte* base = b.data();

  detail::Queued q;
  q.buffer = j;
  for (std::size_t k = 0; k < batch.size(); ++k) {
    q.tensors.push_back({base + plan.offsets[k], batch[k].dtype(), batch[k].shape(), s.device});
  }

  if (!s.cuda) {
    std::uint64_t t0 = now_ns();
    for (const auto& seg : plan.segments) {
      if (host_copy) host_copy(base + seg.offset, seg.src, seg.bytes);
      else std::memcpy(base + seg.offset, seg.src, seg.bytes);
    }
    double secs = static_cast<double>(now_ns() - t0) * 1e-9;
    std::lock_guard lock(s.mu);
    s.copy_s += secs;
    s.bytes += plan.copied;
    s.timed_bytes += plan.copied;
    return q;
  }

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  cudaStream_t copy = s.copy.get();
  EventHandle start = nullptr, end = nullptr;
  {
    std::lock_guard lock(s.mu);
    start = s.take_timing_event();
    end = start ? s.take_timing_event() : nullptr;
    if (start && !end) {
      s.give_timing_event(start);
      start = nullptr;
    }
  }
  try {
    b.freed.make_wait(copy);  // the consumer's last use of this buffer is done first
    if (start) STOKER_CUDA_CHECK(cudaEventRecord(start, copy));
    for (const auto& seg : plan.segments) {
      STOKER_CUDA_CHECK(cudaMemcpyAsync(base + seg.offset, seg.src, seg.bytes, cudaMemcpyHostToDevice, copy));
    }
    if (end) STOKER_CUDA_CHECK(cudaEventRecord(end, copy));
    b.ready.record(copy);
  } catch (...) {
    // Part of the copy may be queued: let it finish before the host batch is dropped.
    STOKER_CUDA_CHECK_NOTHROW(cudaStreamSynchronize(copy));
    std::lock_guard lock(s.mu);
    s.give_timing_event(start);
    s.give_timing_event(end);
    throw;
  }
  {
    std::lock_guard lock(s.mu);
    s.bytes += plan.copied;
    if (start) {
      s.add_pending({start, end, /*is_copy=*/true});
      s.timed_bytes += plan.copied;
    }
  }
  // The host batch (its ring slot) stays alive until the copy is done.
  {
    std::lock_guard lock(cmu);
    completions.emplace_back(b.ready.get(), std::move(owned));
  }
  ccv.notify_one();
#endif
  return q;
}

void DeviceFeeder::Impl::run_feeder() noexcept {
  detail::FeederState& s = *state;
  try {
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
    if (s.cuda) STOKER_CUDA_CHECK(cudaSetDevice(s.device));
#endif
    for (;;) {
      int j = -1;
      {
        std::unique_lock lock(s.mu);
        auto free_buffer = [&] {
          for (std::size_t i = 0; i < s.buffers.size(); ++i) {
            if (s.buffers[i].status == detail::FeederBuffer::kFree) return static_cast<int>(i);
          }
          return -1;
        };
        s.to_issuer.wait(lock, [&] { return s.stop || (!s.error_pending && free_buffer() >= 0); });
        if (s.stop) break;
        j = free_buffer();
        s.buffers[static_cast<std::size_t>(j)].status = detail::FeederBuffer::kFilling;
      }
      detail::Queued q;
      bool end = false;
      try {
        auto batch = std::make_unique<Element>();
        if (host->next(*batch)) q = issue(j, std::move(batch));
        else end = true;
      } catch (...) {
        q = detail::Queued{};
        q.error = current_error_for_handoff();  // the consumer's alone once queued
      }
      {
        std::lock_guard lock(s.mu);
        if (end || q.error) s.buffers[static_cast<std::size_t>(j)].status = detail::FeederBuffer::kFree;
        else s.buffers[static_cast<std::size_t>(j)].status = detail::FeederBuffer::kQueued;
        if (!end) {
          if (q.error) s.error_pending = true;
          s.queue.push_back(std::move(q));
        }
      }
      s.to_consumer.notify_all();
      if (end) break;
    }
  } catch (...) {
    std::lock_guard lock(s.mu);
    detail::Queued q;
    q.error = current_error_for_handoff();
    s.queue.push_back(std::move(q));
  }
  {
    std::lock_guard lock(s.mu);
    s.done = true;
  }
  s.to_consumer.notify_all();
}

void DeviceFeeder::Impl::run_completer() noexcept {
#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  STOKER_CUDA_CHECK_NOTHROW(cudaSetDevice(state->device));
  for (;;) {
    std::pair<EventHandle, std::unique_ptr<Element>> item;
    {
      std::unique_lock lock(cmu);
      ccv.wait(lock, [&] { return cstop || !completions.empty(); });
      if (completions.empty()) return;  // cstop and drained
      item = std::move(completions.front());
      completions.pop_front();
    }
    // The buffer's `ready` event may have been re-recorded for a later copy into the same buffer
    // by now; waiting for that later copy is still correct (it follows this one on the copy
    // stream), only later. It cannot deadlock: a re-record needs a new host batch, never this one.
    STOKER_CUDA_CHECK_NOTHROW(cudaEventSynchronize(item.first));
    item.second.reset();  // returns the ring slot
  }
#endif
}

DeviceFeeder::DeviceFeeder(Iterator host_batches, FeederOptions options) : impl_(std::make_unique<Impl>()) {
  if (options.num_buffers < 1) {
    throw Error(ErrorCode::kInvalidArgument, "DeviceFeeder: num_buffers must be >= 1", {"device_feeder"});
  }
  // kAuto and kCuda both need a device; only an explicit kHost runs without one, so a trainer
  // never silently "trains on the GPU" out of host memory.
  bool cuda = options.backend != FeederBackend::kHost;
  if (cuda && !cuda_device_available()) {
    throw Error(ErrorCode::kUnsupported,
                std::string("DeviceFeeder: ") +
                    (kBuiltWithCuda ? "no CUDA device is available (cudaGetDeviceCount failed or returned 0)"
                                    : "stoker was built without CUDA") +
                    "; iterate the host batches directly, or use FeederOptions{.backend = FeederBackend::kHost} for "
                    "the same DeviceBatch API over host memory",
                {"device_feeder"});
  }
  std::size_t initial = options.buffer_bytes ? options.buffer_bytes : (options.ring ? options.ring->slot_bytes() : 0);
  impl_->ring = options.ring;
  impl_->host_copy = std::move(options.host_copy);
  impl_->host.emplace(std::move(host_batches));

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
  if (cuda) {
    int device = options.device >= 0 ? options.device : current_cuda_device();
    impl_->state = std::make_shared<detail::FeederState>(true, device, options.num_buffers);
    DeviceGuard guard(device);
    detail::FeederState& s = *impl_->state;
    s.copy = Stream::create(/*non_blocking=*/true);
    for (detail::FeederBuffer& b : s.buffers) {
      b.ready = Event::create(/*timing=*/false, /*blocking_sync=*/true);
      b.freed = Event::create();
      if (initial) impl_->ensure_capacity(b, initial);
    }
  }
#endif
  if (!cuda) {
    impl_->state = std::make_shared<detail::FeederState>(false, DeviceTensor::kHostDevice, options.num_buffers);
    for (detail::FeederBuffer& b : impl_->state->buffers) {
      if (initial) impl_->ensure_capacity(b, initial);
    }
  }
  Impl* impl = impl_.get();
  if (cuda) impl_->completer = std::thread([impl] { impl->run_completer(); });
  impl_->feeder = std::thread([impl] { impl->run_feeder(); });
}

DeviceFeeder::DeviceFeeder(DeviceFeeder&&) noexcept = default;
DeviceFeeder& DeviceFeeder::operator=(DeviceFeeder&&) noexcept = default;
DeviceFeeder::~DeviceFeeder() = default;

bool DeviceFeeder::host_mode() const { return !impl_->state->cuda; }

std::optional<DeviceBatch> DeviceFeeder::next() {
  detail::FeederState& s = *impl_->state;
  std::unique_lock lock(s.mu);
  std::uint64_t t0 = now_ns();
  if (!s.first_next_ns) s.first_next_ns = t0;
  if (s.queue.empty() && !s.done) {
    bool all_leased = std::all_of(s.buffers.begin(), s.buffers.end(),
                                  [](const detail::FeederBuffer& b) { return b.status == detail::FeederBuffer::kLeased; });
    if (all_leased) {
      throw Error(ErrorCode::kInvalidArgument,
                  "DeviceFeeder::next: all " + std::to_string(s.buffers.size()) +
                      " device buffers are held by DeviceBatches that were not released, so no batch can arrive; "
                      "release one (let it go out of scope or call release()) before asking for the next, or raise "
                      "FeederOptions::num_buffers",
                  {"device_feeder"});
    }
    s.to_consumer.wait(lock, [&] { return !s.queue.empty() || s.done; });
    s.host_wait_ns += now_ns() - t0;
  }
  s.harvest();
  if (s.queue.empty()) return std::nullopt;
  detail::Queued q = std::move(s.queue.front());
  s.queue.pop_front();
  if (q.error) {
    s.error_pending = false;
    lock.unlock();
    s.to_issuer.notify_all();
    std::rethrow_exception(q.error);
  }
  s.buffers[static_cast<std::size_t>(q.buffer)].status = detail::FeederBuffer::kLeased;
  ++s.batches;
  return s.make_batch(std::move(q), impl_->state);
}

FeederStats DeviceFeeder::stats() const {
  detail::FeederState& s = *impl_->state;
  FeederStats r;
  {
    std::lock_guard lock(s.mu);
    s.harvest();
    r.batches = s.batches;
    r.bytes = s.bytes;
    r.copy_s = s.copy_s;
    r.h2d_gbps = s.copy_s > 0 ? static_cast<double>(s.timed_bytes) / s.copy_s * 1e-9 : 0;
    r.wall_s = s.first_next_ns ? static_cast<double>(now_ns() - s.first_next_ns) * 1e-9 : 0;
    r.host_wait_s = static_cast<double>(s.host_wait_ns) * 1e-9;
    r.gpu_idle_s = s.gpu_idle_s;
    double stall = s.cuda ? r.gpu_idle_s : r.host_wait_s;
    r.input_stall_pct = r.wall_s > 0 ? std::min(100.0, 100.0 * stall / r.wall_s) : 0;
    r.num_buffers = static_cast<int>(s.buffers.size());
    r.host_mode = !s.cuda;
  }
  if (impl_->ring) {
    RingStats rs = impl_->ring->stats();
    r.ring_wait_s = rs.wait_s;
    r.ring_waits = rs.waits;
  }
  return r;
}

std::string FeederStats::to_string() const {
  char line[512];
  std::snprintf(line, sizeof line,
                "feeder%s: %llu batches, %.1f MB, H2D %.2f GB/s, input stall %.1f%% (gpu idle %.3f s, host wait %.3f s "
                "of %.3f s), ring wait %.3f s (%llu waits)",
                host_mode ? " (host mode)" : "", static_cast<unsigned long long>(batches),
                static_cast<double>(bytes) * 1e-6, h2d_gbps, input_stall_pct, gpu_idle_s, host_wait_s, wall_s,
                ring_wait_s, static_cast<unsigned long long>(ring_waits));
  return line;
}

}  // namespace stoker
