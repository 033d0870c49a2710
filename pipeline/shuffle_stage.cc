// shuffle(buffer_size, seed, reshuffle_each_iteration): uniform sampling from a sliding window.
//
// Memory bound: the buffer holds at most buffer_size elements and grows only while the memory
// budget has room for greedy buffers (3/4 of it; it always holds at least one, to make progress). Randomness: one Rng stream
// per (seed, epoch); with reshuffle_each_iteration=false every epoch uses epoch 0's stream.
#include <vector>

#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

class ShuffleNode final : public DatasetNode {
 public:
  ShuffleNode(NodePtr input, std::size_t buffer, std::optional<std::uint64_t> seed, bool reshuffle)
      : input_(std::move(input)), buffer_(buffer), seed_(seed), reshuffle_(reshuffle) {}
  std::string name() const override { return "shuffle"; }
  std::string fingerprint() const override {
    return input_->fingerprint() + " | shuffle(" + std::to_string(buffer_) + ",seed=" +
           (seed_ ? std::to_string(*seed_) : std::string("auto")) + (reshuffle_ ? ",reshuffle" : "") + ")";
  }
  std::int64_t cardinality() const override { return input_->cardinality(); }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    return std::make_unique<It>(ctx, this);
  }

 private:
  struct Held {
    Element element;
    MemoryCharge charge;
  };

  class It final : public StageIterator {
   public:
    It(const IterationContext& ctx, const ShuffleNode* n)
        : StageIterator(ctx, n),
          n_(n),
          input_(n->input_->make_iterator(ctx)),
          rng_(n->seed_ ? *n->seed_ : detail::stage_seed(rt_, counters_), n->reshuffle_ ? ctx.epoch : 0) {}

    bool next(Element& out) override {
      fill();
      if (held_.empty()) return false;
      std::size_t i = rng_.uniform_int(held_.size());
      out = std::move(held_[i].element);
      if (i != held_.size() - 1) held_[i] = std::move(held_.back());
      held_.pop_back();
      bump(counters_.elements_out);
      return true;
    }

   private:
    // Pulls input until the buffer is full, the budget is reached or the input ends.
    void fill() {
      while (input_ && held_.size() < n_->buffer_) {
        if (!held_.empty() && !rt_.budget().has_room_for_buffer(last_bytes_)) return;
        Element e;
        if (!input_->next(e)) {
          input_.reset();
          return;
        }
        bump(counters_.elements_in);
        last_bytes_ = e.nbytes();
        held_.push_back({std::move(e), MemoryCharge(&rt_.budget(), &counters_, last_bytes_)});
      }
    }

    const ShuffleNode* n_;
    std::unique_ptr<IteratorNode> input_;
    Rng rng_;
    std::vector<Held> held_;
    std::size_t last_bytes_ = 0;
  };

  NodePtr input_;
  std::size_t buffer_;
  std::optional<std::uint64_t> seed_;
  bool reshuffle_;
};

}  // namespace

Dataset Dataset::shuffle(std::size_t buffer_size, std::optional<std::uint64_t> seed,
                         bool reshuffle_each_iteration) const {
  if (buffer_size == 0) throw Error(ErrorCode::kInvalidArgument, "shuffle: buffer_size must be >= 1");
  return Dataset(std::make_shared<ShuffleNode>(node_, buffer_size, seed, reshuffle_each_iteration));
}

}  // namespace stoker
