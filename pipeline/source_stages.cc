// In-memory sources: from_vector, from_generator, range.
#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

class VectorNode final : public DatasetNode {
 public:
  explicit VectorNode(std::vector<Element> elements) : elements_(std::move(elements)) {}
  std::string name() const override { return "from_vector"; }
  std::string fingerprint() const override {
    std::size_t bytes = 0;
    for (const Element& e : elements_) bytes += e.nbytes();
    return "from_vector(" + std::to_string(elements_.size()) + " elements, " + std::to_string(bytes) + " bytes)";
  }
  std::int64_t cardinality() const override { return static_cast<std::int64_t>(elements_.size()); }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const VectorNode* n) : StageIterator(ctx, n), n_(n) {}
      bool next(Element& out) override {
        if (pos_ >= n_->elements_.size()) return false;
        out = n_->elements_[pos_++];
        bump(counters_.elements_out);
        return true;
      }

     private:
      const VectorNode* n_;
      std::size_t pos_ = 0;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  std::vector<Element> elements_;
};

class GeneratorNode final : public DatasetNode {
 public:
  GeneratorNode(GeneratorFactory factory, std::string name) : factory_(std::move(factory)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  std::string cannot_restore() const override {
    return "a user generator keeps its own state, which stoker can neither record nor replay";
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const GeneratorNode* n) : StageIterator(ctx, n), n_(n) {}
      bool next(Element& out) override {
        if (done_) return false;
        std::int64_t record = index_++;
        try {
          if (!gen_) gen_ = n_->factory_();
          std::optional<Element> e = gen_();
          if (!e) {
            done_ = true;
            return false;
          }
          out = std::move(*e);
        } catch (...) {
          // A generator that threw cannot be trusted to continue: end after this error.
          done_ = true;
          throw detail::current_error_as({n_->name_, "", record});
        }
        bump(counters_.elements_out);
        return true;
      }

     private:
      const GeneratorNode* n_;
      Generator gen_;
      std::int64_t index_ = 0;
      bool done_ = false;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  GeneratorFactory factory_;
  std::string name_;
};

class RangeNode final : public DatasetNode {
 public:
  RangeNode(std::int64_t start, std::int64_t stop, std::int64_t step) : start_(start), stop_(stop), step_(step) {}
  std::string name() const override { return "range"; }
  std::string fingerprint() const override {
    return "range(" + std::to_string(start_) + "," + std::to_string(stop_) + "," + std::to_string(step_) + ")";
  }
  std::int64_t cardinality() const override {
    if (step_ > 0) return start_ >= stop_ ? 0 : (stop_ - start_ + step_ - 1) / step_;
    return start_ <= stop_ ? 0 : (start_ - stop_ - step_ - 1) / -step_;
  }
  std::shared_ptr<const DatasetNode> shard_source(std::int64_t num, std::int64_t index) const override {
    return std::make_shared<RangeNode>(start_ + index * step_, stop_, step_ * num);
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override {
    class It final : public StageIterator {
     public:
      It(const IterationContext& ctx, const RangeNode* n) : StageIterator(ctx, n), n_(n), v_(n->start_) {}
      bool next(Element& out) override {
        if (n_->step_ > 0 ? v_ >= n_->stop_ : v_ <= n_->stop_) return false;
        out = Element{Tensor::scalar<std::int64_t>(v_)};
        v_ += n_->step_;
        bump(counters_.elements_out);
        return true;
      }

     private:
      const RangeNode* n_;
      std::int64_t v_;
    };
    return std::make_unique<It>(ctx, this);
  }

 private:
  std::int64_t start_, stop_, step_;
};

}  // namespace

Dataset Dataset::from_vector(std::vector<Element> elements) {
  return Dataset(std::make_shared<VectorNode>(std::move(elements)));
}

Dataset Dataset::from_generator(GeneratorFactory factory, std::string name) {
  if (!factory) throw Error(ErrorCode::kInvalidArgument, "from_generator: empty factory");
  return Dataset(std::make_shared<GeneratorNode>(std::move(factory), std::move(name)));
}

Dataset Dataset::range(std::int64_t start, std::int64_t stop, std::int64_t step) {
  if (step == 0) throw Error(ErrorCode::kInvalidArgument, "range: step must not be 0");
  return Dataset(std::make_shared<RangeNode>(start, stop, step));
}

}  // namespace stoker
