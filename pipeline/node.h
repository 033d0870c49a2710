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

  // Bulk rows (optional): a source whose rows are fixed-size tensors may copy its next rows
  // straight into a batch's memory, so the batch stage makes no per-row element and no second
  // copy. bulk_layout() says whether this iterator can (false by default) and, if so, each
  // component's dtype and row shape. Then bulk_read(max_rows, dst) writes up to max_rows next rows,
  // component k's rows contiguous from dst[k], and returns how many (fewer only at the end; 0 at
  // the end). A caller that used bulk_read() never calls next() on the same iterator.
  virtual bool bulk_layout(std::vector<DType>* dtypes, std::vector<Shape>* row_shapes) {
    (void)dtypes, (void)row_shapes;
    return false;
  }
  virtual std::int64_t bulk_read(std::int64_t max_rows, std::byte* const* dst) {
    (void)max_rows, (void)dst;
    return 0;
  }
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
  // What this node and everything before it would produce, as text: stage names, their parameters
  // and, for file sources, each file's path, size and modification time. cache(path) stores it
  // and rebuilds a file whose fingerprint differs. Functions (map, filter, generators) are known
  // only by their name: give maps distinct names (MapOptions::name) when that matters. Nodes with
  // an input must include input's fingerprint; the default (name only) suits sources without files.
  virtual std::string fingerprint() const { return name(); }
  // A source that can read only shard `index` of `num` returns a node that does so; nullptr makes
  // shard() fall back to reading everything and keeping every num-th element.
  virtual std::shared_ptr<const DatasetNode> shard_source(std::int64_t num, std::int64_t index) const {
    (void)num; (void)index;
    return nullptr;
  }
};

using NodePtr = std::shared_ptr<const DatasetNode>;

// "path size=<bytes> mtime=<ns>" for an existing file, "path missing" otherwise (fingerprints).
std::string file_stamp(const std::string& path);

}  // namespace stoker
