// Iterator::save() and Dataset::iterator(options, state) (see iterator_state.h).
#include "pipeline/iterator_state.h"

#include <cstring>

#include "pipeline/dataset.h"
#include "pipeline/runtime.h"

namespace stoker {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'K', 'I', 'T', 'R', '0', '1'};

std::vector<std::string> stage_names(const PipelineStats& st) {
  std::vector<std::string> names;
  for (const StageStats& s : st.stages) names.push_back(s.name);
  return names;
}

}  // namespace

std::string encode_iterator_state(const IteratorState& s) {
  std::string out(kIteratorStateBytes, '\0');
  std::memcpy(out.data(), kMagic, 8);
  std::memcpy(out.data() + 8, &s.position, 8);
  std::memcpy(out.data() + 16, &s.seed, 8);
  std::memcpy(out.data() + 24, &s.stages_hash, 8);
  return out;
}

IteratorState decode_iterator_state(std::string_view bytes) {
  if (bytes.size() != kIteratorStateBytes || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    throw Error(ErrorCode::kDataLoss, "not a saved iterator state (" + std::to_string(bytes.size()) + " bytes; expected " +
                                          std::to_string(kIteratorStateBytes) + " starting with STKITR01)",
                {"iterator"});
  }
  IteratorState s;
  std::memcpy(&s.position, bytes.data() + 8, 8);
  std::memcpy(&s.seed, bytes.data() + 16, 8);
  std::memcpy(&s.stages_hash, bytes.data() + 24, 8);
  return s;
}

std::uint64_t stages_hash(const std::vector<std::string>& names) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const std::string& n : names) {
    for (char c : n + '\n') h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ULL;
  }
  return h;
}

std::string iterator_state_at(std::string_view state, std::uint64_t position) {
  IteratorState s = decode_iterator_state(state);
  s.position = position;
  return encode_iterator_state(s);
}

std::uint64_t Iterator::created_stages_hash() const { return stages_hash(stage_names(runtime_->stats())); }

std::string Iterator::save() const {
  if (!runtime_) throw Error(ErrorCode::kInvalidArgument, "save: the iterator was moved from", {"iterator"});
  const std::vector<std::string> refused = runtime_->cannot_restore();
  if (!refused.empty()) {
    std::string msg = "cannot save the iterator's state: ";
    for (std::size_t i = 0; i < refused.size(); ++i) msg += (i ? "; stage " : "stage ") + refused[i];
    throw Error(ErrorCode::kUnsupported, msg, {"iterator"});
  }
  return encode_iterator_state({delivered_, runtime_->options().seed, stages_hash_});
}

Iterator Dataset::iterator(Options options, std::string_view state) const {
  const IteratorState s = decode_iterator_state(state);
  if (s.seed != options.seed) {
    throw Error(ErrorCode::kInvalidArgument, "the iterator state was saved with seed " + std::to_string(s.seed) +
                                                 ", these options have seed " + std::to_string(options.seed),
                {"iterator"});
  }
  Iterator it = iterator(std::move(options));
  if (it.stages_hash_ != s.stages_hash) {
    throw Error(ErrorCode::kInvalidArgument, "the iterator state was saved from another pipeline (its stages differ)",
                {"iterator"});
  }
  Element e;
  for (std::uint64_t i = 0; i < s.position; ++i) {
    bool more = true;
    try {
      more = it.next(e);
    } catch (const Error&) {
      // An element that failed in the saved run fails here too; it was delivered there as an error.
    }
    if (!more) {
      throw Error(ErrorCode::kInvalidArgument, "the iterator state is " + std::to_string(s.position) +
                                                   " elements in, but this pipeline ends after " + std::to_string(i),
                  {"iterator"});
    }
  }
  return it;
}

}  // namespace stoker
