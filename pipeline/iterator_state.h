// Iterator state: what Iterator::save() returns and Dataset::iterator(options, state) restores.
//
// Every random draw in a pipeline is keyed by (seed, epoch, element index) (DESIGN 12), so a
// pipeline whose stages are all deterministic yields the same sequence every time it runs with
// the same seed, whatever the thread count. Its position is therefore one counter: the elements
// delivered so far. The state is that counter, the seed and a hash of the stage names (so state
// from another pipeline is refused), 32 bytes whatever the stages hold.
//
// Restoring rebuilds the pipeline and replays `position` elements, discarding them: O(1) state
// for O(position) work (the skipped elements are read, decoded, shuffled and batched again). The
// per-stage alternative (a source's cursor, a shuffle buffer refilled from a recorded input
// position, map elements in flight recomputed, a partial batch, a cache's file cursor) would make
// restoring O(stage buffers) instead; it is not built yet.
//
// Stages that cannot be restored say so (DatasetNode::cannot_restore): a user generator (its
// state is outside stoker) and a map with deterministic=false (its order depends on timing).
// Iterator::save() refuses such a pipeline, naming each of them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace stoker {

struct IteratorState {
  std::uint64_t position = 0;     // elements and errors delivered by next()
  std::uint64_t seed = 0;         // Options::seed of the saved iterator
  std::uint64_t stages_hash = 0;  // FNV-1a of the stage names when the iterator was created
};

inline constexpr std::size_t kIteratorStateBytes = 32;

std::string encode_iterator_state(const IteratorState& s);
// Throws Error kDataLoss for bytes that are not an encoded state.
IteratorState decode_iterator_state(std::string_view bytes);
std::uint64_t stages_hash(const std::vector<std::string>& stage_names);
// `state` (from Iterator::save()) moved to an earlier or later `position` of the same pipeline,
// e.g. the elements a consumer has finished with while a feeder holds more.
std::string iterator_state_at(std::string_view state, std::uint64_t position);

}  // namespace stoker
