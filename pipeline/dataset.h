// Dataset: an immutable, cheap-to-copy description of an input pipeline, built fluently:
//
//   auto ds = stoker::Dataset::from_vector(elements)
//                 .shuffle(10'000, /*seed=*/7)
//                 .map([](stoker::Element e, stoker::Rng& rng) { return augment(e, rng); })
//                 .batch(256)
//                 .prefetch(2);
//   stoker::Iterator it = ds.iterator({.num_threads = 8, .memory_budget = 2ull << 30});
//   while (auto batch = it.next()) train_step(*batch);
//
// Semantics follow tf.data: shuffle().repeat() reshuffles each epoch and keeps epochs apart,
// repeat().shuffle() mixes across epoch boundaries; batch() keeps a final partial batch unless
// drop_remainder; shard() before shuffle() gives disjoint shards (equal shards: shard(n, i, true)); cache() then shuffle() caches
// once and reshuffles each epoch.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "pipeline/element.h"
#include "pipeline/iterator.h"
#include "pipeline/node.h"
#include "pipeline/options.h"
#include "pipeline/rng.h"

namespace stoker {

// Map function: the element in, the mapped element out. `rng` is keyed by (seed, epoch, element
// index within the epoch), so random augmentations are reproducible for any thread count.
using MapFn = std::function<Element(Element&&, Rng&)>;
using FilterFn = std::function<bool(const Element&)>;
// Returns the next element, or std::nullopt at the end.
using Generator = std::function<std::optional<Element>()>;
// Called once per pass over the data (each iterator, each repeat epoch) to start a generator.
using GeneratorFactory = std::function<Generator()>;

struct MapOptions {
  // Elements in flight at most (being mapped or mapped and waiting to be consumed). 0: automatic
  // (4 per thread). The memory budget may hold it lower.
  int max_in_flight = 0;
  // true: output in input order. false: output as soon as mapped (faster under uneven costs).
  bool deterministic = true;
  // Seed of this map's random stream; unset: derived from Options::seed and the stage position.
  std::optional<std::uint64_t> seed;
  std::string name = "map";
};

inline constexpr std::int64_t kAutotune = -1;

class Dataset {
 public:
  explicit Dataset(NodePtr node) : node_(std::move(node)) {}

  // Sources.
  static Dataset from_vector(std::vector<Element> elements);
  static Dataset from_generator(GeneratorFactory factory, std::string name = "generator");
  // Scalars int64 start, start+step, ... below stop.
  static Dataset range(std::int64_t stop) { return range(0, stop, 1); }
  static Dataset range(std::int64_t start, std::int64_t stop, std::int64_t step = 1);

  // Transformations.
  Dataset map(MapFn fn, MapOptions options = {}) const;
  template <class F>
    requires(std::is_invocable_r_v<Element, F, Element> && !std::is_invocable_v<F, Element, Rng&>)
  Dataset map(F fn, MapOptions options = {}) const {
    return map(MapFn([f = std::move(fn)](Element&& e, Rng&) { return f(std::move(e)); }), std::move(options));
  }
  Dataset filter(FilterFn predicate) const;
  // Uniform shuffle within a window of `buffer_size` elements. Unset seed: Options::seed.
  Dataset shuffle(std::size_t buffer_size, std::optional<std::uint64_t> seed = std::nullopt,
                  bool reshuffle_each_iteration = true) const;
  // First pass reads the input and keeps it in memory (spilling to a temporary file past its
  // share of the memory budget); later passes replay it.
  Dataset cache() const;
  // First pass writes `path`; later passes, and later runs, read it. A pass that did not reach
  // the end never leaves a file that a later run trusts.
  Dataset cache(std::string path) const;
  // Stacks `batch_size` consecutive elements; every component must have the same shape within a
  // batch. The last batch is smaller unless drop_remainder.
  Dataset batch(std::int64_t batch_size, bool drop_remainder = false) const;
  // Like batch(), but pads each component to the largest shape in the batch with `padding_value`.
  Dataset padded_batch(std::int64_t batch_size, bool drop_remainder = false, double padding_value = 0) const;
  // Produces up to `buffer_size` elements ahead on a background thread; kAutotune grows the
  // buffer while the consumer waits, within the memory budget.
  Dataset prefetch(std::int64_t buffer_size = kAutotune) const;
  // Repeats the input `count` times; -1: forever.
  Dataset repeat(std::int64_t count = -1) const;
  Dataset take(std::int64_t count) const;
  Dataset skip(std::int64_t count) const;
  // Keeps elements i with i % num_shards == index; sources that can, read only their own rows.
  // equal: every shard yields the same number of elements per epoch, so data-parallel ranks reach
  // an epoch's end together. Rule: drop, never repeat. Row-wise, element i is kept only when the
  // whole group of num_shards elements holding it exists (i - i % num_shards + num_shards - 1 is
  // an element): every shard yields floor(total / num_shards), dropping the last total % num_shards
  // elements (at most num_shards - 1), with no need to know total in advance (a shard reads at
  // most num_shards - 1 elements past its last). A source that reads only its own blocks (HDF5)
  // keeps its pushdown: every shard yields the smallest shard's count (the shards' sizes differ by
  // at most one block, so each drops at most one block's rows), which needs the source's size;
  // when it is unknown the row-wise rule is used.
  Dataset shard(std::int64_t num_shards, std::int64_t index, bool equal = false) const;

  Iterator iterator(Options options = {}) const;
  // An iterator that continues where the one that saved `state` (Iterator::save) stopped: it
  // yields exactly what that one would have yielded next. Throws kInvalidArgument for state from
  // another pipeline or seed, kDataLoss for bytes that are not a saved state.
  Iterator iterator(Options options, std::string_view state) const;
  std::int64_t cardinality() const { return node_->cardinality(); }
  const NodePtr& node() const { return node_; }

 private:
  NodePtr node_;
};

// Bytes of the one allocation batch(rows) asks Options::batch_allocator for, for elements shaped
// like `row`: each component's rows * row bytes, rounded up to 64 bytes. A BufferAllocator that
// hands out fixed slots (device/pinned_ring.h) sizes them with this.
std::size_t batch_storage_bytes(const Element& row, std::int64_t rows);

}  // namespace stoker
