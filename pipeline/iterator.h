// Iterator: a running pipeline. Move-only; owns its Runtime and stage iterators.
//
// Destroying an Iterator mid-epoch cancels it: no new work starts, work in flight finishes its
// current element, background threads are joined, and every buffer is freed before the
// destructor returns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "pipeline/element.h"
#include "pipeline/node.h"
#include "pipeline/stats.h"

namespace stoker {

class Runtime;

class Iterator {
 public:
  // `graph` keeps the description alive while its stages run.
  Iterator(std::shared_ptr<Runtime> runtime, NodePtr graph, std::unique_ptr<IteratorNode> root);
  Iterator(Iterator&&) noexcept;
  Iterator& operator=(Iterator&&) noexcept;
  ~Iterator();

  // The next element, or std::nullopt at the end. Throws stoker::Error for a bad element; a
  // later call continues after it.
  std::optional<Element> next();
  bool next(Element& out);

  PipelineStats stats() const;

  // The iterator's position as a few bytes (pipeline/iterator_state.h): restore it with
  // Dataset::iterator(options, state). Throws Error kUnsupported naming each stage that cannot
  // be restored (a user generator, a map with deterministic=false).
  std::string save() const;
  // Elements (and errors) next() has delivered.
  std::uint64_t position() const { return delivered_; }

 private:
  void reset();
  std::shared_ptr<Runtime> runtime_;
  NodePtr graph_;
  std::unique_ptr<IteratorNode> root_;
  std::uint64_t created_stages_hash() const;
  std::uint64_t delivered_ = 0;
  std::uint64_t stages_hash_ = 0;  // of the stages that exist once the iterator is created
  friend class Dataset;            // Dataset::iterator(options, state) checks it
};

}  // namespace stoker
