// DeviceBatch: a batch whose tensors live in device memory, as any CUDA consumer receives it.
//
// The consumer contract (no trainer-specific types):
//   std::optional<DeviceBatch> b = feeder.next();
//   b->wait_on(compute);             // orders `compute` after the batch's copy (cudaStreamWaitEvent)
//   my_kernel<<<..., compute>>>(static_cast<float*>(b->tensors[0].data), ...);
//   b.reset();                       // or b->release(compute): the buffer may be reused once the
//                                    // work queued on `compute` so far is done
// Reading the tensors on any stream without wait_on() first is a race. Releasing never blocks the
// host: it records an event on the consumer's stream that the next copy into this buffer waits
// for. A DeviceBatch that was never released is released by its destructor, on the last stream
// passed to wait_on() (or the feeder's copy stream if none was).
//
// DLPack. to_dlpack_like() describes a tensor with DLTensor's fields (same names, types and
// codes, without depending on dlpack.h) for handing it to another framework; the descriptor
// borrows the tensor's shape and data: it is valid while the DeviceTensor (or Tensor) lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "device/cuda_resources.h"
#include "pipeline/tensor.h"

namespace stoker {

struct DeviceTensor {
  void* data = nullptr;  // device pointer (host pointer when device == kHostDevice)
  DType dtype = DType::kU8;
  Shape shape;           // dense, row-major
  int device = 0;        // CUDA device ordinal, or kHostDevice (the feeder's host mode)

  static constexpr int kHostDevice = -1;
  std::size_t nbytes() const { return static_cast<std::size_t>(shape.num_elements()) * dtype_size(dtype); }
  template <class T> T* data_as() const { return static_cast<T*>(data); }
};

namespace detail {
class FeederState;
}

class DeviceBatch {
 public:
  std::vector<DeviceTensor> tensors;
  StreamHandle stream = nullptr;  // the feeder's copy stream (cudaStream_t)
  EventHandle ready = nullptr;    // recorded after the copy (cudaEvent_t); null in host mode

  DeviceBatch() = default;
  DeviceBatch(DeviceBatch&& o) noexcept;
  DeviceBatch& operator=(DeviceBatch&& o) noexcept;
  DeviceBatch(const DeviceBatch&) = delete;
  DeviceBatch& operator=(const DeviceBatch&) = delete;
  ~DeviceBatch() { release(); }

  std::size_t size() const { return tensors.size(); }
  const DeviceTensor& operator[](std::size_t i) const { return tensors[i]; }

  // Makes `compute` wait for the copy (device-side; the host does not block) and remembers it as
  // the stream the batch is used on. Call once per stream that reads the batch.
  void wait_on(StreamHandle compute);
  // Gives the device buffer back once the work queued on `compute` so far is done. Idempotent.
  void release(StreamHandle compute) noexcept;
  // release() on the last stream passed to wait_on(), or the copy stream.
  void release() noexcept;
  bool released() const { return owner_ == nullptr; }

 private:
  friend class detail::FeederState;
  std::shared_ptr<detail::FeederState> owner_;
  int buffer_ = -1;
  StreamHandle consumer_ = nullptr;
  bool waited_ = false;
};

// DLPack's DLTensor, field for field (DLPack v0.8+/v1: ndim int32, lanes uint16).
struct DLDeviceLike {
  std::int32_t device_type = 1;  // kDLCPU = 1, kDLCUDA = 2, kDLCUDAHost = 3
  std::int32_t device_id = 0;
};
struct DLDataTypeLike {
  std::uint8_t code = 0;  // kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4
  std::uint8_t bits = 0;
  std::uint16_t lanes = 1;
};
struct DLTensorLike {
  void* data = nullptr;
  DLDeviceLike device;
  std::int32_t ndim = 0;
  DLDataTypeLike dtype;
  std::int64_t* shape = nullptr;    // borrowed from the source tensor's Shape
  std::int64_t* strides = nullptr;  // null: compact row-major (what stoker tensors always are)
  std::uint64_t byte_offset = 0;
};

inline constexpr std::int32_t kDLCPU = 1;
inline constexpr std::int32_t kDLCUDA = 2;
inline constexpr std::int32_t kDLCUDAHost = 3;

DLDataTypeLike to_dl_dtype(DType dtype);
// A device tensor (kDLCUDA, or kDLCPU in host mode).
DLTensorLike to_dlpack_like(const DeviceTensor& t);
// A host tensor, e.g. a batch in a pinned ring slot: kDLCUDAHost when `pinned`, else kDLCPU.
DLTensorLike to_dlpack_like(const Tensor& t, bool pinned = false);

}  // namespace stoker
