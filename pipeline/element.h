// Element: one item flowing through a pipeline, a small tuple of tensors ("components").
// A dataset of (image, label) pairs has elements of two components; after batch(256) each
// component gains an outer dimension of 256. Moving an Element is cheap; copying shares bytes.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <utility>
#include <vector>

#include "pipeline/tensor.h"

namespace stoker {

class Element {
 public:
  Element() = default;
  Element(std::initializer_list<Tensor> components) : components_(components) {}
  explicit Element(std::vector<Tensor> components) : components_(std::move(components)) {}

  std::size_t size() const { return components_.size(); }
  bool empty() const { return components_.empty(); }
  Tensor& operator[](std::size_t i) { return components_[i]; }
  const Tensor& operator[](std::size_t i) const { return components_[i]; }
  void push_back(Tensor t) { components_.push_back(std::move(t)); }
  void resize(std::size_t n) { components_.resize(n); }
  auto begin() { return components_.begin(); }
  auto end() { return components_.end(); }
  auto begin() const { return components_.begin(); }
  auto end() const { return components_.end(); }

  // Sum of the components' byte sizes: what this element costs in the memory budget.
  std::size_t nbytes() const {
    std::size_t n = 0;
    for (const Tensor& t : components_) n += t.nbytes();
    return n;
  }

  friend bool operator==(const Element& a, const Element& b) { return a.components_ == b.components_; }

 private:
  std::vector<Tensor> components_;
};

}  // namespace stoker
