// Tensor: a dtype, a shape and a block of bytes; the unit every stage passes around.
//
// Ownership: a Tensor above kInlineBytes shares its bytes: copying it copies a reference (like
// tf.Tensor). Tensors of at most kInlineBytes live inside the Tensor itself and are copied by
// value, so small elements (labels, scalars) never touch the heap. Storage is a std::shared_ptr<std::byte> whose deleter belongs to
// whoever allocated it (heap, a pool, a pinned ring slot), so a batch written into a pinned slot
// returns the slot when its last Tensor goes away.
// Layout is always dense, row-major (C order); data() is aligned to at least 16 bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

namespace stoker {

enum class DType : std::uint8_t { kU8, kI8, kI16, kI32, kI64, kF16, kBF16, kF32, kF64 };

std::size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::kU8; }
template <> constexpr DType dtype_of<std::int8_t>() { return DType::kI8; }
template <> constexpr DType dtype_of<std::int16_t>() { return DType::kI16; }
template <> constexpr DType dtype_of<std::int32_t>() { return DType::kI32; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::kI64; }
template <> constexpr DType dtype_of<float>() { return DType::kF32; }
template <> constexpr DType dtype_of<double>() { return DType::kF64; }

// A shape of at most kMaxRank dimensions, stored inline (no allocation).
class Shape {
 public:
  static constexpr int kMaxRank = 8;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  static Shape from(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  std::span<const std::int64_t> dims() const { return {dims_.data(), static_cast<std::size_t>(rank_)}; }
  std::int64_t num_elements() const;

  // A shape with `n` prepended as the new outermost dimension (a batch of this shape).
  Shape prepend(std::int64_t n) const;
  // This shape without its outermost dimension (one row of a batch).
  Shape drop_front() const;

  std::string to_string() const;  // "[256,28,28,1]"
  friend bool operator==(const Shape& a, const Shape& b);

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  std::uint8_t rank_ = 0;
};

class Tensor {
 public:
  static constexpr std::size_t kInlineBytes = 16;

  Tensor() = default;
  // Uninitialised storage for `shape` of `dtype`, on the heap unless it fits inline.
  Tensor(DType dtype, Shape shape);
  // Wraps existing storage of at least nbytes() bytes (no copy); used by allocators and views.
  Tensor(DType dtype, Shape shape, std::shared_ptr<std::byte> storage);

  template <class T>
  static Tensor scalar(T value) {
    Tensor t(dtype_of<T>(), Shape{});
    std::memcpy(t.mutable_data(), &value, sizeof(T));
    return t;
  }
  template <class T>
  static Tensor from_values(Shape shape, std::span<const T> values);
  template <class T>
  static Tensor from_values(Shape shape, std::initializer_list<T> values) {
    return from_values<T>(shape, std::span<const T>(values.begin(), values.size()));
  }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  std::size_t nbytes() const { return nbytes_; }
  bool empty_storage() const { return nbytes_ == 0; }

  const std::byte* data() const { return heap_ ? heap_.get() : inline_; }
  // Fill a tensor before sharing it: writes to heap storage are seen by every copy.
  std::byte* mutable_data() { return heap_ ? heap_.get() : inline_; }

  template <class T> const T* data_as() const { return reinterpret_cast<const T*>(data()); }
  template <class T> T* mutable_data_as() { return reinterpret_cast<T*>(mutable_data()); }
  // The single value of a scalar (or first value of any tensor) converted to T.
  template <class T> T item() const;

  // A deep copy with its own storage.
  Tensor clone() const;
  // Same bytes, new shape of the same number of elements.
  Tensor reshaped(Shape shape) const;
  // Bytes and dtype and shape equal.
  friend bool operator==(const Tensor& a, const Tensor& b);

 private:
  DType dtype_ = DType::kU8;
  Shape shape_;
  std::size_t nbytes_ = 0;
  std::shared_ptr<std::byte> heap_;
  alignas(16) std::byte inline_[kInlineBytes];
};

template <class T>
Tensor Tensor::from_values(Shape shape, std::span<const T> values) {
  Tensor t(dtype_of<T>(), shape);
  if (values.size() != static_cast<std::size_t>(shape.num_elements())) {
    throw std::invalid_argument("Tensor::from_values: value count does not match shape");
  }
  if (!values.empty()) std::memcpy(t.mutable_data(), values.data(), t.nbytes());
  return t;
}

template <class T>
T Tensor::item() const {
  const std::byte* p = data();
  switch (dtype_) {
    case DType::kU8: return static_cast<T>(*reinterpret_cast<const std::uint8_t*>(p));
    case DType::kI8: return static_cast<T>(*reinterpret_cast<const std::int8_t*>(p));
    case DType::kI16: return static_cast<T>(*reinterpret_cast<const std::int16_t*>(p));
    case DType::kI32: return static_cast<T>(*reinterpret_cast<const std::int32_t*>(p));
    case DType::kI64: return static_cast<T>(*reinterpret_cast<const std::int64_t*>(p));
    case DType::kF32: return static_cast<T>(*reinterpret_cast<const float*>(p));
    case DType::kF64: return static_cast<T>(*reinterpret_cast<const double*>(p));
    default: throw std::invalid_argument("Tensor::item: unsupported dtype");
  }
}

// Heap storage aligned to 64 bytes (cache line; enough for any SIMD load). Buffers of the sizes
// pipelines allocate per element are recycled by exact size (pipeline/buffer_pool.cc).
std::shared_ptr<std::byte> allocate_aligned(std::size_t bytes);
// Bytes of freed buffers the pool holds for reuse (at most 32 MiB).
std::size_t pooled_buffer_bytes();

}  // namespace stoker
