// Tensor and Shape basics: sizes, names, aligned heap storage, deep copies.
#include "pipeline/tensor.h"

#include <cstdlib>
#include <new>
#include <stdexcept>

#include "pipeline/checked_size.h"

namespace stoker {

std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::kU8: case DType::kI8: return 1;
    case DType::kI16: case DType::kF16: case DType::kBF16: return 2;
    case DType::kI32: case DType::kF32: return 4;
    case DType::kI64: case DType::kF64: return 8;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kU8: return "uint8";
    case DType::kI8: return "int8";
    case DType::kI16: return "int16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kF32: return "float32";
    case DType::kF64: return "float64";
  }
  return "unknown";
}

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  if (dims.size() > kMaxRank) throw std::invalid_argument("Shape: rank above 8");
  for (std::int64_t d : dims) dims_[rank_++] = d;
}

Shape Shape::from(std::span<const std::int64_t> dims) {
  if (dims.size() > kMaxRank) throw std::invalid_argument("Shape: rank above 8");
  Shape s;
  for (std::int64_t d : dims) s.dims_[s.rank_++] = d;
  return s;
}

std::int64_t Shape::num_elements() const {
  if (auto n = checked_num_elements(dims())) return *n;
  throw Error(ErrorCode::kOutOfMemory, "shape " + to_string() + " has a negative dimension or more than 2^60 elements");
}

Shape Shape::prepend(std::int64_t n) const {
  if (rank_ >= kMaxRank) throw std::invalid_argument("Shape: rank above 8");
  Shape s;
  s.rank_ = static_cast<std::uint8_t>(rank_ + 1);
  s.dims_[0] = n;
  for (int i = 0; i < rank_; ++i) s.dims_[static_cast<std::size_t>(i) + 1] = dims_[static_cast<std::size_t>(i)];
  return s;
}

Shape Shape::drop_front() const {
  Shape s;
  if (rank_ == 0) return s;
  s.rank_ = static_cast<std::uint8_t>(rank_ - 1);
  for (int i = 1; i < rank_; ++i) s.dims_[static_cast<std::size_t>(i) - 1] = dims_[static_cast<std::size_t>(i)];
  return s;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ",";
    s += std::to_string(dims_[static_cast<std::size_t>(i)]);
  }
  return s + "]";
}

bool operator==(const Shape& a, const Shape& b) {
  if (a.rank_ != b.rank_) return false;
  for (int i = 0; i < a.rank_; ++i) {
    if (a.dims_[static_cast<std::size_t>(i)] != b.dims_[static_cast<std::size_t>(i)]) return false;
  }
  return true;
}

Tensor::Tensor(DType dtype, Shape shape) : dtype_(dtype), shape_(shape) {
  for (std::int64_t d : shape_.dims()) {
    if (d < 0) throw std::invalid_argument("Tensor: negative dimension in " + shape_.to_string());
  }
  nbytes_ = static_cast<std::size_t>(shape_.num_elements()) * dtype_size(dtype);
  if (nbytes_ > kInlineBytes) heap_ = allocate_aligned(nbytes_);
}

Tensor::Tensor(DType dtype, Shape shape, std::shared_ptr<std::byte> storage)
    : dtype_(dtype), shape_(shape), heap_(std::move(storage)) {
  nbytes_ = static_cast<std::size_t>(shape_.num_elements()) * dtype_size(dtype);
  if (!heap_ && nbytes_ > 0) throw std::invalid_argument("Tensor: null storage");
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes_) std::memcpy(t.mutable_data(), data(), nbytes_);
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  if (shape.num_elements() != shape_.num_elements()) {
    throw std::invalid_argument("Tensor::reshaped: " + shape_.to_string() + " to " + shape.to_string());
  }
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

bool operator==(const Tensor& a, const Tensor& b) {
  return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ &&
         (a.nbytes_ == 0 || std::memcmp(a.data(), b.data(), a.nbytes_) == 0);
}

}  // namespace stoker
