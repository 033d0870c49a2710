// Stages that pass a subset of their input through unchanged: filter, take, skip, shard.
#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

class FilterNode final : public DatasetNode {
 public:
  FilterNode(NodePtr input, FilterFn pred) : input_(std::move(input)), pred_(std::move(pred)) {}
  std::string name() const override { return "filter"; }
  std::string fingerprint() const override { return input_->fingerprint() + " | filter"; }
  std::int64_t cardinality() const override {
    return input_->cardinality() == kInfiniteCardinality ? kInfiniteCardinality : kUnknownCardinality;
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const FilterNode* n)
          : StageIterator(ctx, n), n_(n), input_(n->input_->make_iterator(ctx)) {}
      bool next(Element& out) override {
        while (input_->next(out)) {
          std::int64_t record = index_++;
          bump(counters_.elements_in);
          bool keep;
          try {
            keep = n_->pred_(out);
          } catch (...) {
            Error e = detail::current_error_as({"filter", "", record});
            if (rt_.skip_error(counters_, e)) continue;
            throw e;
          }
          if (keep) {
            bump(counters_.elements_out);
            return true;
          }
        }
        return false;
      }

     private:
      const FilterNode* n_;
      std::unique_ptr<IteratorNode> input_;
      std::int64_t index_ = 0;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  NodePtr input_;
  FilterFn pred_;
};

// take(n), skip(n) and generic shard(num, index) are one stage: keep input positions
// p >= begin, p < end, (p - begin) % stride == 0. whole_groups (equal shards, begin < stride):
// keep p only when position p - begin + stride - 1 exists too, i.e. its group of `stride`
// elements is complete; the stage reads ahead into that group (one scratch element held).
class SliceNode final : public DatasetNode {
 public:
  SliceNode(NodePtr input, std::string name, std::int64_t begin, std::int64_t end, std::int64_t stride,
            bool whole_groups = false)
      : input_(std::move(input)), name_(std::move(name)), begin_(begin), end_(end), stride_(stride),
        whole_groups_(whole_groups) {}
  std::string name() const override { return name_; }
  std::string fingerprint() const override {
    return input_->fingerprint() + " | " + name_ + "(" + std::to_string(begin_) + "," + std::to_string(end_) + "," +
           std::to_string(stride_) + (whole_groups_ ? ",equal" : "") + ")";
  }
  std::int64_t cardinality() const override {
    std::int64_t n = input_->cardinality();
    if (n == kUnknownCardinality) return n;
    if (whole_groups_) return n == kInfiniteCardinality ? n : n / stride_;
    if (n == kInfiniteCardinality) return end_ < 0 ? n : (end_ - begin_ + stride_ - 1) / stride_;
    std::int64_t end = end_ < 0 ? n : std::min(n, end_);
    return end <= begin_ ? 0 : (end - begin_ + stride_ - 1) / stride_;
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const SliceNode* n) : StageIterator(ctx, n), n_(n) {
        if (n_->end_ != 0) input_ = n_->input_->make_iterator(ctx);
      }
      bool next(Element& out) override {
        while (input_ && (n_->end_ < 0 || pos_ < n_->end_)) {
          std::int64_t p = pos_;
          if (!input_->next(out)) break;
          ++pos_;
          bump(counters_.elements_in);
          if (p >= n_->begin_ && (p - n_->begin_) % n_->stride_ == 0) {
            if (n_->whole_groups_ && !rest_of_group(p)) break;
            bump(counters_.elements_out);
            return true;
          }
        }
        input_.reset();  // done: release the input's buffers now, not at destruction
        return false;
      }

     private:
      // Reads the group's positions after p (up to p - begin + stride - 1); false if it ends first.
      bool rest_of_group(std::int64_t p) {
        const std::int64_t last = p - n_->begin_ + n_->stride_ - 1;
        while (pos_ <= last) {
          if (!input_->next(scratch_)) return false;
          ++pos_;
          bump(counters_.elements_in);
        }
        scratch_ = Element();
        return true;
      }

      const SliceNode* n_;
      std::unique_ptr<IteratorNode> input_;
      std::int64_t pos_ = 0;
      Element scratch_;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  NodePtr input_;
  std::string name_;
  std::int64_t begin_, end_, stride_;
  bool whole_groups_;
};

}  // namespace

Dataset Dataset::filter(FilterFn predicate) const {
  if (!predicate) throw Error(ErrorCode::kInvalidArgument, "filter: empty predicate");
  return Dataset(std::make_shared<FilterNode>(node_, std::move(predicate)));
}

Dataset Dataset::take(std::int64_t count) const {
  if (count < -1) throw Error(ErrorCode::kInvalidArgument, "take: count must be >= 0, or -1 for all");
  return Dataset(std::make_shared<SliceNode>(node_, "take", 0, count, 1));
}

Dataset Dataset::skip(std::int64_t count) const {
  if (count < 0) throw Error(ErrorCode::kInvalidArgument, "skip: count must be >= 0");
  return Dataset(std::make_shared<SliceNode>(node_, "skip", count, -1, 1));
}

Dataset Dataset::shard(std::int64_t num_shards, std::int64_t index, bool equal) const {
  if (num_shards < 1 || index < 0 || index >= num_shards) {
    throw Error(ErrorCode::kInvalidArgument, "shard: need num_shards >= 1 and 0 <= index < num_shards, got " +
                                                 std::to_string(num_shards) + ", " + std::to_string(index));
  }
  if (NodePtr own = node_->shard_source(num_shards, index)) {
    if (!equal) return Dataset(std::move(own));
    // Pushdown shards differ by up to one block: all take the smallest one's count.
    std::int64_t least = own->cardinality();
    for (std::int64_t j = 0; j < num_shards && least >= 0; ++j) {
      NodePtr other = j == index ? own : node_->shard_source(num_shards, j);
      const std::int64_t c = other ? other->cardinality() : kUnknownCardinality;
      least = c < 0 ? c : std::min(least, c);
    }
    if (least == kInfiniteCardinality) return Dataset(std::move(own));
    if (least >= 0) return Dataset(std::make_shared<SliceNode>(std::move(own), "shard", 0, least, 1));
  }
  return Dataset(std::make_shared<SliceNode>(node_, "shard", index, -1, num_shards, equal));
}

}  // namespace stoker
