// DeviceFeeder: the feeder thread (pull a host batch, enqueue its copy), the completion thread
// (return ring slots as copies finish), the DeviceBatch release protocol and the stall timings.
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

#include "device/cuda_check.h"
#include "pipeline/error.h"
#include "pipeline/stage.h"
#include "pipeline/tensor.h"

namespace stoker {
namespace {

constexpr std::size_t kDeviceAlign = 256;
constexpr std::size_t kMaxTimingEvents = 64;  // bounds the timing events in flight

std::size_t round_up(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }

using detail::now_ns;

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
  explicit CopyPlan(const Element& e) {
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
};

}  // namespace

namespace detail {

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

}  // namespace detail

// ---- DeviceBatch ----

DeviceBatch::DeviceBatch(DeviceBatch&& o) noexcept
    : tensors(std::move(o.tensors)),
      stream(std::exchange(o.stream, nullptr)),
      ready(std::exchange(o.ready, nullptr)),
      owner_(std::move(o.owner_)),
      buffer_(std::exchange(o.buffer_, -1)),
      consumer_(std::exchange(o.consumer_, nullptr)),
      waited_(std::exchange(o.waited_, false)) {}

DeviceBatch& DeviceBatch::operator=(DeviceBatch&& o) noexcept {
  if (this != &o) {
    release();
    tensors = std::move(o.tensors);
    stream = std::exchange(o.stream, nullptr);
    ready = std::exchange(o.ready, nullptr);
    owner_ = std::move(o.owner_);
    buffer_ = std::exchange(o.buffer_, -1);
    consumer_ = std::exchange(o.consumer_, nullptr);
    waited_ = std::exchange(o.waited_, false);
  }
  return *this;
}

void DeviceBatch::wait_on(StreamHandle compute) {
  if (!owner_) throw Error(ErrorCode::kInvalidArgument, "DeviceBatch::wait_on: the batch was already released", {"device_feeder"});
  owner_->wait(buffer_, compute);
  consumer_ = compute;
  waited_ = true;
}

void DeviceBatch::release(StreamHandle compute) noexcept {
  if (!owner_) return;
  owner_->release(buffer_, compute);
  owner_.reset();
}

void DeviceBatch::release() noexcept { release(waited_ ? consumer_ : stream); }

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
        q.error = std::current_exception();
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
    q.error = std::current_exception();
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
