// Move-only RAII owners of CUDA resources: Stream, Event, DeviceBuffer, PinnedBuffer.
//
// Each owns exactly one handle or allocation, frees it in its destructor and never throws from
// it (a failed release is logged by STOKER_CUDA_CHECK_NOTHROW). Work is always enqueued on an
// explicit stream; nothing here synchronises the whole device.
//
// StreamHandle and EventHandle are the very types cudaStream_t and cudaEvent_t (pointers to the
// driver's opaque CUstream_st / CUevent_st), declared here so that code written against them
// compiles without CUDA. Without CUDA at build time every constructor that would need the
// runtime throws stoker::Error(kUnsupported); default-constructed (empty) objects are fine.
#pragma once

#include <cstddef>
#include <utility>

struct CUstream_st;
struct CUevent_st;

namespace stoker {

using StreamHandle = CUstream_st*;  // == cudaStream_t; nullptr is the legacy default stream
using EventHandle = CUevent_st*;    // == cudaEvent_t

// The current device of the calling thread (cudaGetDevice); throws without CUDA.
int current_cuda_device();

class Stream {
 public:
  Stream() = default;  // empty: get() is nullptr (the default stream); owns nothing
  // A new stream on the current device. non_blocking: no implicit ordering with the legacy
  // default stream (what a copy or compute stream of a pipeline wants).
  static Stream create(bool non_blocking = true, int priority = 0);
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  StreamHandle get() const { return s_; }
  // Blocks the calling thread until the work queued on this stream so far is done.
  void synchronize() const;

 private:
  StreamHandle s_ = nullptr;
};

class Event {
 public:
  Event() = default;  // empty
  // timing: can be used with elapsed_ms (costs a little at record time).
  // blocking_sync: synchronize() sleeps instead of spinning (for threads that mostly wait).
  static Event create(bool timing = false, bool blocking_sync = false);
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();

  EventHandle get() const { return e_; }
  void record(StreamHandle stream) const;
  // Makes `stream` wait (on the device) for the work captured by the last record().
  void make_wait(StreamHandle stream) const;
  // True when the captured work is done (or nothing was recorded); throws on an error.
  bool query() const;
  void synchronize() const;
  // Milliseconds between two completed timing events.
  static float elapsed_ms(const Event& start, const Event& end);

 private:
  EventHandle e_ = nullptr;
};

// Device memory. Without a stream: cudaMalloc/cudaFree (cudaFree may synchronise the device:
// allocate these once). With a stream: stream-ordered cudaMallocAsync/cudaFreeAsync on it, so
// growing or freeing a buffer needs no device-wide synchronisation; the stream must outlive it.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t bytes);
  DeviceBuffer(std::size_t bytes, StreamHandle stream);
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    swap(o);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return p_; }
  std::size_t size() const { return bytes_; }
  int device() const { return device_; }

 private:
  void swap(DeviceBuffer& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    std::swap(device_, o.device_);
    std::swap(stream_, o.stream_);
    std::swap(stream_ordered_, o.stream_ordered_);
  }
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
  int device_ = -1;
  StreamHandle stream_ = nullptr;
  bool stream_ordered_ = false;
};

// Page-locked host memory (cudaHostAlloc, portable to every device): the DMA engine copies from
// it directly, so cudaMemcpyAsync from it is asynchronous and runs at full link speed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t bytes);
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : p_(std::exchange(o.p_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer();

  std::byte* data() const { return static_cast<std::byte*>(p_); }
  std::size_t size() const { return bytes_; }

 private:
  void* p_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace stoker
