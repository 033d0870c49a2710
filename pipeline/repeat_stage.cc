// repeat(count): runs pass k of its input with its own IterationContext::epoch, so random
// stages below it reshuffle each pass, reproducibly.
#include "pipeline/dataset.h"
#include "pipeline/rng.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

class RepeatNode final : public DatasetNode {
 public:
  RepeatNode(NodePtr input, std::int64_t count) : input_(std::move(input)), count_(count) {}
  std::string name() const override { return "repeat"; }
  std::string fingerprint() const override { return input_->fingerprint() + " | repeat(" + std::to_string(count_) + ")"; }
  std::int64_t cardinality() const override {
    std::int64_t n = input_->cardinality();
    if (count_ == 0 || n == 0) return 0;
    if (count_ < 0 || n == kInfiniteCardinality) return kInfiniteCardinality;
    return n == kUnknownCardinality ? n : n * count_;
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const RepeatNode* n) : StageIterator(ctx, n), n_(n) {}
      bool next(Element& out) override {
        while (n_->count_ < 0 || pass_ < n_->count_) {
          if (!input_) {
            IterationContext inner = ctx_;
            // Nested repeats get distinct epochs: (outer epoch, pass) hashed together.
            inner.epoch = ctx_.epoch == 0 ? pass_ : mix64(ctx_.epoch) + pass_;
            input_ = n_->input_->make_iterator(inner);
            produced_this_pass_ = false;
          }
          if (input_->next(out)) {
            produced_this_pass_ = true;
            bump(counters_.elements_out);
            return true;
          }
          input_.reset();
          ++pass_;
          // An empty pass would repeat forever producing nothing: stop, as tf.data does.
          if (!produced_this_pass_) return false;
        }
        return false;
      }

     private:
      const RepeatNode* n_;
      std::unique_ptr<IteratorNode> input_;
      std::int64_t pass_ = 0;
      bool produced_this_pass_ = false;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  NodePtr input_;
  std::int64_t count_;
};

}  // namespace

Dataset Dataset::repeat(std::int64_t count) const {
  if (count < -1) throw Error(ErrorCode::kInvalidArgument, "repeat: count must be >= 0, or -1 for forever");
  return Dataset(std::make_shared<RepeatNode>(node_, count));
}

}  // namespace stoker
