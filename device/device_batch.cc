// DeviceBatch's hand-off (move, wait_on, release: delegated to the feeder's shared state) and the
// DLPack-shaped descriptors of device and host tensors.
#include "device/device_batch.h"

#include <utility>

#include "device/feeder_state.h"
#include "pipeline/error.h"

namespace stoker {

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

DLDataTypeLike to_dl_dtype(DType dtype) {
  constexpr std::uint8_t kInt = 0, kUInt = 1, kFloat = 2, kBfloat = 4;
  DLDataTypeLike d;
  d.bits = static_cast<std::uint8_t>(dtype_size(dtype) * 8);
  d.lanes = 1;
  switch (dtype) {
    case DType::kU8: d.code = kUInt; break;
    case DType::kI8: case DType::kI16: case DType::kI32: case DType::kI64: d.code = kInt; break;
    case DType::kF16: case DType::kF32: case DType::kF64: d.code = kFloat; break;
    case DType::kBF16: d.code = kBfloat; break;
  }
  return d;
}

namespace {
DLTensorLike describe(void* data, const Shape& shape, DType dtype, DLDeviceLike device) {
  DLTensorLike t;
  t.data = data;
  t.device = device;
  t.ndim = shape.rank();
  t.dtype = to_dl_dtype(dtype);
  // DLPack's shape is non-const by signature only; consumers read it.
  t.shape = const_cast<std::int64_t*>(shape.dims().data());
  t.strides = nullptr;
  t.byte_offset = 0;
  return t;
}
}  // namespace

DLTensorLike to_dlpack_like(const DeviceTensor& t) {
  DLDeviceLike dev = t.device == DeviceTensor::kHostDevice ? DLDeviceLike{kDLCPU, 0} : DLDeviceLike{kDLCUDA, t.device};
  return describe(t.data, t.shape, t.dtype, dev);
}

DLTensorLike to_dlpack_like(const Tensor& t, bool pinned) {
  return describe(const_cast<std::byte*>(t.data()), t.shape(), t.dtype(), {pinned ? kDLCUDAHost : kDLCPU, 0});
}

}  // namespace stoker
