// Stream, Event, DeviceBuffer, PinnedBuffer: the CUDA calls behind the RAII owners, or, without
// CUDA at build time, constructors that throw kUnsupported.
#include "device/cuda_resources.h"

#include <string>
#include <type_traits>

#include "device/cuda_check.h"

namespace stoker {

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA

static_assert(std::is_same_v<StreamHandle, cudaStream_t>, "StreamHandle must be cudaStream_t");
static_assert(std::is_same_v<EventHandle, cudaEvent_t>, "EventHandle must be cudaEvent_t");

int current_cuda_device() {
  int d = 0;
  STOKER_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

Stream Stream::create(bool non_blocking, int priority) {
  Stream s;
  STOKER_CUDA_CHECK(
      cudaStreamCreateWithPriority(&s.s_, non_blocking ? cudaStreamNonBlocking : cudaStreamDefault, priority));
  return s;
}

Stream::~Stream() {
  if (s_) STOKER_CUDA_CHECK_NOTHROW(cudaStreamDestroy(s_));
}

void Stream::synchronize() const { STOKER_CUDA_CHECK(cudaStreamSynchronize(s_)); }

Event Event::create(bool timing, bool blocking_sync) {
  unsigned flags = (timing ? 0u : cudaEventDisableTiming) | (blocking_sync ? cudaEventBlockingSync : 0u);
  Event e;
  STOKER_CUDA_CHECK(cudaEventCreateWithFlags(&e.e_, flags));
  return e;
}

Event::~Event() {
  if (e_) STOKER_CUDA_CHECK_NOTHROW(cudaEventDestroy(e_));
}

void Event::record(StreamHandle stream) const { STOKER_CUDA_CHECK(cudaEventRecord(e_, stream)); }

void Event::make_wait(StreamHandle stream) const { STOKER_CUDA_CHECK(cudaStreamWaitEvent(stream, e_, 0)); }

bool Event::query() const {
  cudaError_t s = cudaEventQuery(e_);
  if (s == cudaErrorNotReady) return false;
  STOKER_CUDA_CHECK(s);
  return true;
}

void Event::synchronize() const { STOKER_CUDA_CHECK(cudaEventSynchronize(e_)); }

float Event::elapsed_ms(const Event& start, const Event& end) {
  float ms = 0;
  STOKER_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, end.e_));
  return ms;
}

DeviceBuffer::DeviceBuffer(std::size_t bytes) : bytes_(bytes), device_(current_cuda_device()) {
  if (bytes) STOKER_CUDA_CHECK(cudaMalloc(&p_, bytes));
}

DeviceBuffer::DeviceBuffer(std::size_t bytes, StreamHandle stream)
    : bytes_(bytes), device_(current_cuda_device()), stream_(stream), stream_ordered_(true) {
  if (bytes) STOKER_CUDA_CHECK(cudaMallocAsync(&p_, bytes, stream));
}

DeviceBuffer::~DeviceBuffer() {
  if (!p_) return;
  if (stream_ordered_) STOKER_CUDA_CHECK_NOTHROW(cudaFreeAsync(p_, stream_));
  else STOKER_CUDA_CHECK_NOTHROW(cudaFree(p_));
}

PinnedBuffer::PinnedBuffer(std::size_t bytes) : bytes_(bytes) {
  if (bytes) STOKER_CUDA_CHECK(cudaHostAlloc(&p_, bytes, cudaHostAllocPortable));
}

PinnedBuffer::~PinnedBuffer() {
  if (p_) STOKER_CUDA_CHECK_NOTHROW(cudaFreeHost(p_));
}

#else  // no CUDA at build time: empty objects only

namespace {
[[noreturn]] void unsupported(const char* what) {
  throw Error(ErrorCode::kUnsupported,
              std::string(what) + ": stoker was built without CUDA (reconfigure with -DSTOKER_CUDA=ON on a machine with nvcc)",
              {"cuda"});
}
}  // namespace

int current_cuda_device() { unsupported("cudaGetDevice"); }
Stream Stream::create(bool, int) { unsupported("Stream::create"); }
Stream::~Stream() = default;
void Stream::synchronize() const {}
Event Event::create(bool, bool) { unsupported("Event::create"); }
Event::~Event() = default;
void Event::record(StreamHandle) const { unsupported("Event::record"); }
void Event::make_wait(StreamHandle) const { unsupported("Event::make_wait"); }
bool Event::query() const { return true; }
void Event::synchronize() const {}
float Event::elapsed_ms(const Event&, const Event&) { unsupported("Event::elapsed_ms"); }
DeviceBuffer::DeviceBuffer(std::size_t) { unsupported("DeviceBuffer"); }
DeviceBuffer::DeviceBuffer(std::size_t, StreamHandle) { unsupported("DeviceBuffer"); }
DeviceBuffer::~DeviceBuffer() = default;
PinnedBuffer::PinnedBuffer(std::size_t) { unsupported("PinnedBuffer"); }
PinnedBuffer::~PinnedBuffer() = default;

#endif

}  // namespace stoker
