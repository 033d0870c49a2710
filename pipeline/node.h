// The two halves of every stage: DatasetNode (immutable description) and IteratorNode (running).
//
// A DatasetNode is shared, never mutated, and safe to use from many threads; make_iterator()
// starts a fresh run of it. An IteratorNode is owned by exactly one consumer (its downstream
// stage or the Iterator) and its next() is never called concurrently. This is the extension
// point for sources outside pipeline/ (formats/ adds HDF5 and image folders this way).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/element.h"

namespace stoker {

class Runtime;
struct StageCounters;

struct IterationContext {
  Runtime* runtime = nullptr;
  // Which pass over the data this is; repeat() runs pass k of its input with epoch k. Random
  // stages key their streams on it so each epoch reshuffles, reproducibly.
  std::uint64_t epoch = 0;
};

class IteratorNode {
 public:
  virtual ~IteratorNode() = default;
  // Writes the next element to `out` and returns true, or returns false at the end of the
  // sequence. Throws stoker::Error for a bad element; calling next() again continues after it
  // where the stage can (a failed source may throw again or end).
  virtual bool next(Element& out) = 0;
};

inline constexpr std::int64_t kUnknownCardinality = -1;
inline constexpr std::int64_t kInfiniteCardinality = -2;

class DatasetNode {
 public:
  virtual ~DatasetNode() = default;
  // Stage name used in stats and error messages ("map", "batch", "hdf5").
  virtual std::string name() const = 0;
  virtual std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const = 0;
  // Number of elements, or kUnknownCardinality / kInfiniteCardinality.
  virtual std::int64_t cardinality() const { return kUnknownCardinality; }
  // Why an iterator through this stage cannot be saved and restored (Iterator::save), or "" when
  // it can. A restored iterator must yield exactly what the original would have yielded next, so
  // the stage's output must be a function of (seed, epoch, element index) and its input, never
  // of timing or of state outside the pipeline.
  virtual std::string cannot_restore() const { return {}; }
  // A source that can read only shard `index` of `num` returns a node that does so; nullptr makes
  // shard() fall back to reading everything and keeping every num-th element.
  virtual std::shared_ptr<const DatasetNode> shard_source(std::int64_t num, std::int64_t index) const {
    (void)num; (void)index;
    return nullptr;
  }
};

using NodePtr = std::shared_ptr<const DatasetNode>;

}  // namespace stoker
