// Element: one item flowing through a pipeline, a small tuple of tensors ("components").
// A dataset of (image, label) pairs has elements of two components; after batch(256) each
// component gains an outer dimension of 256. Moving an Element is cheap; copying shares bytes.
// Up to kInline components live inside the Element (a small vector), so the common one- and
// two-component elements cost no allocation on the hot path; with Tensor's inline bytes a
// scalar element never touches the heap.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <utility>
#include <vector>

#include "pipeline/tensor.h"

namespace stoker {

class Element {
 public:
  static constexpr std::size_t kInline = 2;

  Element() = default;
  Element(std::initializer_list<Tensor> components) {
    reserve(components.size());
    for (const Tensor& t : components) push_back(t);
  }
  explicit Element(std::vector<Tensor> components) {
    reserve(components.size());
    for (Tensor& t : components) push_back(std::move(t));
  }
  Element(const Element& o) {
    reserve(o.size_);
    for (const Tensor& t : o) push_back(t);
  }
  Element(Element&& o) noexcept { take(o); }
  Element& operator=(const Element& o) {
    if (this != &o) {
      clear();
      reserve(o.size_);
      for (const Tensor& t : o) push_back(t);
    }
    return *this;
  }
  Element& operator=(Element&& o) noexcept {
    if (this != &o) {
      clear();
      take(o);
    }
    return *this;
  }
  ~Element() { clear(); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  Tensor* begin() { return data(); }
  Tensor* end() { return data() + size_; }
  const Tensor* begin() const { return data(); }
  const Tensor* end() const { return data() + size_; }
  Tensor& operator[](std::size_t i) { return data()[i]; }
  const Tensor& operator[](std::size_t i) const { return data()[i]; }

  void push_back(Tensor t) {
    if (heap_) {
      heap_->push_back(std::move(t));
    } else if (size_ < kInline) {
      new (slot(size_)) Tensor(std::move(t));
    } else {
      move_to_heap(size_ + 1);
      heap_->push_back(std::move(t));
    }
    ++size_;
  }
  void reserve(std::size_t n) {
    if (n > kInline && !heap_) move_to_heap(n);
  }
  void resize(std::size_t n) {
    while (size_ > n) pop_back();
    while (size_ < n) push_back(Tensor());
  }
  void pop_back() {
    --size_;
    if (heap_) heap_->pop_back();
    else slot(size_)->~Tensor();
  }
  void clear() {
    if (heap_) {
      heap_.reset();
    } else {
      for (std::size_t i = 0; i < size_; ++i) slot(i)->~Tensor();
    }
    size_ = 0;
  }

  // Sum of the components' byte sizes: what this element costs in the memory budget.
  std::size_t nbytes() const {
    std::size_t n = 0;
    for (const Tensor& t : *this) n += t.nbytes();
    return n;
  }

  friend bool operator==(const Element& a, const Element& b) {
    if (a.size_ != b.size_) return false;
    for (std::size_t i = 0; i < a.size_; ++i) {
      if (!(a[i] == b[i])) return false;
    }
    return true;
  }

 private:
  // Invariant: with heap_ set, every component lives in *heap_ and no inline slot is alive;
  // otherwise slots [0, size_) are alive and the rest are raw bytes.
  Tensor* slot(std::size_t i) { return std::launder(reinterpret_cast<Tensor*>(storage_) + i); }
  const Tensor* slot(std::size_t i) const { return std::launder(reinterpret_cast<const Tensor*>(storage_) + i); }
  Tensor* data() { return heap_ ? heap_->data() : slot(0); }
  const Tensor* data() const { return heap_ ? heap_->data() : slot(0); }

  void move_to_heap(std::size_t capacity) {
    auto v = std::make_unique<std::vector<Tensor>>();
    v->reserve(capacity < kInline * 2 ? kInline * 2 : capacity);
    for (std::size_t i = 0; i < size_; ++i) {
      v->push_back(std::move(*slot(i)));
      slot(i)->~Tensor();
    }
    heap_ = std::move(v);
  }
  // Moves o's components here; this Element must be empty.
  void take(Element& o) noexcept {
    size_ = o.size_;
    if (o.heap_) {
      heap_ = std::move(o.heap_);
    } else {
      for (std::size_t i = 0; i < size_; ++i) {
        new (slot(i)) Tensor(std::move(*o.slot(i)));
        o.slot(i)->~Tensor();
      }
    }
    o.size_ = 0;
  }

  alignas(Tensor) std::byte storage_[kInline * sizeof(Tensor)];
  std::unique_ptr<std::vector<Tensor>> heap_;
  std::size_t size_ = 0;
};

}  // namespace stoker
