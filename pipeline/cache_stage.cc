// cache() and cache(path): the first complete pass records its input, later passes replay it.
//
// In memory: elements are kept while the cache holds under half of the memory budget (and the
// budget has room); the rest spill to an anonymous temporary file. The contents live in the
// Runtime (per Iterator), so repeat() epochs share them. A pass that stops before the end of its
// input (early destruction, take()) discards what it recorded; the next pass starts over.
// To a file: the first pass writes a hidden temporary beside <path> and publishes <path> by rename
// at the end (cache_file.h); any pass, in this run or a later one, that finds a complete <path>
// made from the same input (the fingerprint of the stages before the cache, with file sizes and
// mtimes) reads it instead of running the input; one made from other input is rebuilt. A file at
// <path> that is not a stoker cache is refused, never replaced.
// Only a whole, clean pass is kept: a pass during which any stage saw an error (failed or skipped
// under ErrorPolicy::kSkip, so elements are missing) or a cache write failed is not published
// (file) or not replayed (memory); the next pass runs the input again.
#include "pipeline/cache_file.h"
#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::CacheReader;
using detail::CacheWriter;
using detail::StageIterator;

struct MemoryCache {
  std::vector<Element> elements;
  std::vector<MemoryCharge> charges;
  std::size_t bytes = 0;
  std::unique_ptr<CacheWriter> spill;
  bool complete = false;

  void clear() {
    elements.clear();
    charges.clear();
    bytes = 0;
    spill.reset();
    complete = false;
  }
};

class CacheNode final : public DatasetNode {
 public:
  CacheNode(NodePtr input, std::string path) : input_(std::move(input)), path_(std::move(path)) {}
  std::string name() const override { return "cache"; }
  std::string fingerprint() const override { return input_->fingerprint() + " | cache"; }
  std::int64_t cardinality() const override { return input_->cardinality(); }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override;

  NodePtr input_;
  std::string path_;  // empty: in memory
};

class MemoryCacheIterator final : public StageIterator {
 public:
  MemoryCacheIterator(const IterationContext& ctx, const CacheNode* n)
      : StageIterator(ctx, n), cache_(rt_.state<MemoryCache>(n, [] { return std::make_shared<MemoryCache>(); })) {
    if (cache_->complete) {
      if (cache_->spill) {
        spill_reader_ = std::make_unique<CacheReader>(cache_->spill->fd(), cache_->spill->count(),
                                                      cache_->spill->data_offset(), "<cache spill file>");
      }
    } else {
      errors_at_start_ = rt_.errors_seen();
      cache_->clear();
      input_ = n->input_->make_iterator(ctx);
    }
  }

  ~MemoryCacheIterator() override {
    if (input_) cache_->clear();  // stopped before the end: never replay a partial pass
  }

  bool next(Element& out) override {
    if (!input_) return replay(out);
    if (!detail::next_noting_error(*input_, out, saw_error_)) {
      input_.reset();
      if (saw_error_ || rt_.errors_seen() != errors_at_start_) {
        cache_->clear();
        return false;
      }
      if (cache_->spill) cache_->spill->finish();
      cache_->complete = true;
      return false;
    }
    bump(counters_.elements_in);
    std::size_t b = out.nbytes();
    const MemoryBudget& budget = rt_.budget();
    if (!cache_->spill && cache_->bytes + b <= budget.limit() / 2 && budget.has_room_for_buffer(b)) {
      cache_->elements.push_back(out);
      cache_->charges.emplace_back(&rt_.budget(), &counters_, b);
      cache_->bytes += b;
    } else {
      if (!cache_->spill) cache_->spill = std::make_unique<CacheWriter>("");
      cache_->spill->append(out);
    }
    bump(counters_.elements_out);
    return true;
  }

 private:
  bool replay(Element& out) {
    if (pos_ < cache_->elements.size()) {
      out = cache_->elements[pos_++];
    } else if (!spill_reader_ || !spill_reader_->next(out)) {
      return false;
    }
    bump(counters_.elements_out);
    return true;
  }

  std::shared_ptr<MemoryCache> cache_;
  std::unique_ptr<IteratorNode> input_;  // set while recording
  bool saw_error_ = false;
  std::uint64_t errors_at_start_ = 0;
  std::size_t pos_ = 0;
  std::unique_ptr<CacheReader> spill_reader_;
};

class FileCacheIterator final : public StageIterator {
 public:
  FileCacheIterator(const IterationContext& ctx, const CacheNode* n) : StageIterator(ctx, n) {
    const std::string fingerprint = n->input_->fingerprint();
    reader_ = CacheReader::open_if_complete(n->path_, fingerprint);
    if (!reader_) {
      writer_ = std::make_unique<CacheWriter>(n->path_, fingerprint);
      errors_at_start_ = rt_.errors_seen();
      input_ = n->input_->make_iterator(ctx);
    }
  }

  bool next(Element& out) override {
    if (reader_) {
      if (!reader_->next(out)) return false;
      bump(counters_.elements_out);
      return true;
    }
    if (!input_) return false;
    if (!detail::next_noting_error(*input_, out, saw_error_)) {
      input_.reset();
      if (writer_ && !saw_error_ && rt_.errors_seen() == errors_at_start_) writer_->finish();
      writer_.reset();
      return false;
    }
    bump(counters_.elements_in);
    if (writer_) {
      try {
        writer_->append(out);
      } catch (...) {
        writer_.reset();  // sticky: removes the temporary file; this pass publishes nothing
        throw;
      }
    }
    bump(counters_.elements_out);
    return true;
  }

 private:
  std::unique_ptr<CacheReader> reader_;
  std::unique_ptr<CacheWriter> writer_;  // destroyed unfinished: removes its partial file
  std::unique_ptr<IteratorNode> input_;
  bool saw_error_ = false;
  std::uint64_t errors_at_start_ = 0;
};

std::unique_ptr<IteratorNode> CacheNode::make_iterator(const IterationContext& ctx) const {
  if (path_.empty()) return std::make_unique<MemoryCacheIterator>(ctx, this);
  return std::make_unique<FileCacheIterator>(ctx, this);
}

}  // namespace

Dataset Dataset::cache() const { return Dataset(std::make_shared<CacheNode>(node_, "")); }

Dataset Dataset::cache(std::string path) const {
  if (path.empty()) throw Error(ErrorCode::kInvalidArgument, "cache: empty path (use cache() for memory)");
  return Dataset(std::make_shared<CacheNode>(node_, std::move(path)));
}

}  // namespace stoker
