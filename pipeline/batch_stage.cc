// batch(n, drop_remainder) and padded_batch(n, drop_remainder, padding_value).
//
// batch: the first element of a batch fixes each component's shape and dtype; the stage then
// allocates one buffer for the whole batch from the runtime's BufferAllocator (heap, or a pinned
// ring slot) and copies every element straight into its row: one copy, no element is held. A
// failure of the input in the middle of a batch leaves the rows already written in place, so a
// caller that continues after the error loses nothing.
// padded_batch: shapes differ, so it holds the batch's elements until the largest shape is known.
// Memory: the batch under assembly (and padded_batch's held elements) is charged to the budget.
#include <algorithm>
#include <cstring>

#include "pipeline/checked_size.h"
#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

constexpr std::size_t kAlign = 64;
std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// One allocation holding every component of a batch of `rows` rows, each component 64-aligned.
struct BatchLayout {
  std::vector<DType> dtypes;
  std::vector<Shape> row_shapes;
  std::vector<std::size_t> row_bytes, offsets;
  std::size_t total = 0;

  BatchLayout(const std::vector<DType>& d, const std::vector<Shape>& s, std::int64_t rows)
      : dtypes(d), row_shapes(s) {
    for (std::size_t k = 0; k < d.size(); ++k) {
      row_bytes.push_back(static_cast<std::size_t>(s[k].num_elements()) * dtype_size(d[k]));
      offsets.push_back(total);
      const std::size_t part = checked_mul(row_bytes[k], static_cast<std::size_t>(rows),
                                           "a batch of " + std::to_string(rows) + " rows of " + s[k].to_string() + " " +
                                               dtype_name(d[k]) + " in bytes");
      if (part > (SIZE_MAX >> 1) - total) throw Error(ErrorCode::kOutOfMemory, "a batch of " + std::to_string(rows) + " rows overflows 64 bits");
      total += align_up(part);
    }
  }

  // Whether `e`'s components have this layout's dtypes and row shapes.
  bool matches(const Element& e) const {
    if (e.size() != dtypes.size()) return false;
    for (std::size_t k = 0; k < e.size(); ++k) {
      if (e[k].dtype() != dtypes[k] || !(e[k].shape() == row_shapes[k])) return false;
    }
    return true;
  }
  static void describe(const Element& e, std::vector<DType>& d, std::vector<Shape>& s) {
    for (const Tensor& t : e) {
      d.push_back(t.dtype());
      s.push_back(t.shape());
    }
  }

  Element make(const std::shared_ptr<std::byte>& storage, std::int64_t rows) const {
    Element out;
    for (std::size_t k = 0; k < dtypes.size(); ++k) {
      std::shared_ptr<std::byte> view(storage, storage.get() + offsets[k]);
      out.push_back(Tensor(dtypes[k], row_shapes[k].prepend(rows), std::move(view)));
    }
    return out;
  }
};

class BatchNode final : public DatasetNode {
 public:
  BatchNode(NodePtr input, std::int64_t size, bool drop, bool padded, double pad)
      : input_(std::move(input)), size_(size), drop_(drop), padded_(padded), pad_(pad) {}
  std::string name() const override { return padded_ ? "padded_batch" : "batch"; }
  std::string fingerprint() const override {
    return input_->fingerprint() + " | " + name() + "(" + std::to_string(size_) + (drop_ ? ",drop" : "") +
           (padded_ ? ",pad=" + std::to_string(pad_) : "") + ")";
  }
  std::int64_t cardinality() const override {
    std::int64_t n = input_->cardinality();
    if (n < 0) return n;
    return drop_ ? n / size_ : (n + size_ - 1) / size_;
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override;

  NodePtr input_;
  std::int64_t size_;
  bool drop_;
  bool padded_;
  double pad_;
};

Error shape_error(const std::string& stage, std::int64_t record, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, what, {stage, "", record});
}

std::shared_ptr<std::byte> allocate_batch(Runtime& rt, StageCounters& counters, std::size_t bytes,
                                          const std::string& stage) {
  std::uint64_t t0 = detail::now_ns();
  TraceSpan span(rt.trace(), "wait", "wait: batch memory");
  std::shared_ptr<std::byte> p = rt.batch_allocator().allocate(bytes, rt.cancelled());
  counters.blocked_output_ns.fetch_add(detail::now_ns() - t0, std::memory_order_relaxed);
  if (!p) throw Error(ErrorCode::kCancelled, "iterator destroyed while waiting for batch memory", {stage});
  return p;
}

class BatchIterator final : public StageIterator {
 public:
  BatchIterator(const IterationContext& ctx, const BatchNode* n)
      : StageIterator(ctx, n), n_(n), input_(n->input_->make_iterator(ctx)) {}

  bool next(Element& out) override {
    TraceSpan span(rt_.trace(), "batch", "batch");
    if (bulk_ == Bulk::kUnknown) bulk_ = input_ && input_->bulk_layout(&bulk_dtypes_, &bulk_shapes_) ? Bulk::kYes : Bulk::kNo;
    if (bulk_ == Bulk::kYes) return next_bulk(out);
    Element e;
    while (rows_ < n_->size_ && input_) {
      if (!input_->next(e)) {
        input_.reset();
        break;
      }
      bump(counters_.elements_in);
      std::int64_t record = index_++;
      if (rows_ == 0) start_batch(e);
      else check_same(e, record);
      for (std::size_t k = 0; k < e.size(); ++k) {
        std::size_t rb = layout_->row_bytes[k];
        if (rb) std::memcpy(storage_.get() + layout_->offsets[k] + rb * static_cast<std::size_t>(rows_), e[k].data(), rb);
      }
      ++rows_;
    }
    if (rows_ == 0 || (rows_ < n_->size_ && n_->drop_)) {
      charge_.reset();
      storage_.reset();
      return false;
    }
    out = layout_->make(storage_, rows_);
    rows_ = 0;
    storage_.reset();
    charge_.reset();
    bump(counters_.elements_out);
    return true;
  }

 private:
  void start_batch(const Element& e) {
    if (!layout_ || !layout_->matches(e)) {  // the layout is built once per shape, not per batch
      std::vector<DType> dtypes;
      std::vector<Shape> shapes;
      BatchLayout::describe(e, dtypes, shapes);
      layout_.emplace(dtypes, shapes, n_->size_);
    }
    storage_ = new_storage(charge_);
  }

  // Memory for one batch of layout_, charged to the budget unless the allocator reserved it (a
  // pinned ring); a batch larger than the whole budget is refused before it is allocated.
  std::shared_ptr<std::byte> new_storage(MemoryCharge& charge) {
    const std::size_t bytes = layout_->total;
    if (!rt_.allocator_reserved()) {
      if (!rt_.budget().fits(bytes)) rt_.budget().refuse(bytes, "a batch of " + std::to_string(n_->size_) + " rows", {n_->name()});
      charge = MemoryCharge(&rt_.budget(), &counters_, bytes);
    }
    return allocate_batch(rt_, counters_, bytes, n_->name());
  }

  // The input writes the rows straight into the batch's memory (IteratorNode::bulk_read).
  bool next_bulk(Element& out) {
    if (!input_) return false;
    if (!layout_) layout_.emplace(bulk_dtypes_, bulk_shapes_, n_->size_);
    MemoryCharge charge;
    std::shared_ptr<std::byte> storage = new_storage(charge);
    std::vector<std::byte*> dst;
    for (std::size_t off : layout_->offsets) dst.push_back(storage.get() + off);
    const std::int64_t rows = input_->bulk_read(n_->size_, dst.data());
    bump(counters_.elements_in, static_cast<std::uint64_t>(rows));
    bump(counters_.bulk_rows, static_cast<std::uint64_t>(rows));
    index_ += rows;
    if (rows < n_->size_) input_.reset();
    if (rows == 0 || (rows < n_->size_ && n_->drop_)) return false;
    out = layout_->make(storage, rows);
    bump(counters_.elements_out);
    return true;
  }

  void check_same(const Element& e, std::int64_t record) const {
    if (layout_->matches(e)) return;
    if (e.size() != layout_->dtypes.size()) {
      throw shape_error("batch", record, "element has " + std::to_string(e.size()) + " components but the batch's first has " +
                                             std::to_string(layout_->dtypes.size()));
    }
    for (std::size_t k = 0; k < e.size(); ++k) {
      if (e[k].dtype() != layout_->dtypes[k] || !(e[k].shape() == layout_->row_shapes[k])) {
        throw shape_error("batch", record,
                          "component " + std::to_string(k) + " is " + dtype_name(e[k].dtype()) + e[k].shape().to_string() +
                              " but the batch's first element has " + dtype_name(layout_->dtypes[k]) +
                              layout_->row_shapes[k].to_string() + "; batch() needs equal shapes, padded_batch() pads them");
      }
    }
  }

  const BatchNode* n_;
  std::unique_ptr<IteratorNode> input_;
  std::optional<BatchLayout> layout_;
  std::shared_ptr<std::byte> storage_;
  MemoryCharge charge_;
  std::int64_t rows_ = 0;
  std::int64_t index_ = 0;
  enum class Bulk { kUnknown, kYes, kNo } bulk_ = Bulk::kUnknown;  // decided at the first next()
  std::vector<DType> bulk_dtypes_;
  std::vector<Shape> bulk_shapes_;
};

template <class T>
void fill_value(std::byte* dst, std::size_t count, double v) {
  T x = static_cast<T>(v);
  T* p = reinterpret_cast<T*>(dst);
  std::fill(p, p + count, x);
}

void fill_padding(std::byte* dst, DType dtype, std::size_t count, double v) {
  if (v == 0) {
    std::memset(dst, 0, count * dtype_size(dtype));
    return;
  }
  switch (dtype) {
    case DType::kU8: return fill_value<std::uint8_t>(dst, count, v);
    case DType::kI8: return fill_value<std::int8_t>(dst, count, v);
    case DType::kI16: return fill_value<std::int16_t>(dst, count, v);
    case DType::kI32: return fill_value<std::int32_t>(dst, count, v);
    case DType::kI64: return fill_value<std::int64_t>(dst, count, v);
    case DType::kF32: return fill_value<float>(dst, count, v);
    case DType::kF64: return fill_value<double>(dst, count, v);
    default:
      throw Error(ErrorCode::kUnsupported, std::string("padded_batch: non-zero padding of ") + dtype_name(dtype),
                  {"padded_batch"});
  }
}

// Copies `src` (shape s) into the top-left corner of `dst` (shape d, same rank, d >= s).
void copy_padded(std::byte* dst, const Shape& d, const std::byte* src, const Shape& s, std::size_t esize) {
  if (s.rank() == 0) {
    std::memcpy(dst, src, esize);
    return;
  }
  if (s.rank() == 1) {
    std::memcpy(dst, src, static_cast<std::size_t>(s[0]) * esize);
    return;
  }
  Shape dsub = d.drop_front(), ssub = s.drop_front();
  std::size_t dstride = static_cast<std::size_t>(dsub.num_elements()) * esize;
  std::size_t sstride = static_cast<std::size_t>(ssub.num_elements()) * esize;
  for (std::int64_t i = 0; i < s[0]; ++i) {
    copy_padded(dst + static_cast<std::size_t>(i) * dstride, dsub, src + static_cast<std::size_t>(i) * sstride, ssub, esize);
  }
}

class PaddedBatchIterator final : public StageIterator {
 public:
  PaddedBatchIterator(const IterationContext& ctx, const BatchNode* n)
      : StageIterator(ctx, n), n_(n), input_(n->input_->make_iterator(ctx)) {}

  bool next(Element& out) override {
    TraceSpan span(rt_.trace(), "batch", "padded_batch");
    Element e;
    while (static_cast<std::int64_t>(held_.size()) < n_->size_ && input_) {
      if (!input_->next(e)) {
        input_.reset();
        break;
      }
      bump(counters_.elements_in);
      std::int64_t record = index_++;
      if (!held_.empty()) check_compatible(e, record);
      charges_.emplace_back(&rt_.budget(), &counters_, e.nbytes());
      held_.push_back(std::move(e));
    }
    std::int64_t rows = static_cast<std::int64_t>(held_.size());
    if (rows == 0 || (rows < n_->size_ && n_->drop_)) {
      held_.clear();
      charges_.clear();
      return false;
    }
    std::vector<DType> dtypes;
    std::vector<Shape> shapes;
    BatchLayout::describe(held_[0], dtypes, shapes);
    for (const Element& h : held_) {
      for (std::size_t k = 0; k < h.size(); ++k) {
        for (int d = 0; d < shapes[k].rank(); ++d) shapes[k][d] = std::max(shapes[k][d], h[k].shape()[d]);
      }
    }
    BatchLayout layout(dtypes, shapes, rows);
    std::shared_ptr<std::byte> storage = allocate_batch(rt_, counters_, layout.total, "padded_batch");
    for (std::size_t k = 0; k < dtypes.size(); ++k) {
      std::byte* base = storage.get() + layout.offsets[k];
      std::size_t esize = dtype_size(dtypes[k]);
      fill_padding(base, dtypes[k], static_cast<std::size_t>(shapes[k].num_elements() * rows), n_->pad_);
      for (std::int64_t r = 0; r < rows; ++r) {
        copy_padded(base + layout.row_bytes[k] * static_cast<std::size_t>(r), shapes[k],
                    held_[static_cast<std::size_t>(r)][k].data(), held_[static_cast<std::size_t>(r)][k].shape(), esize);
      }
    }
    out = layout.make(storage, rows);
    held_.clear();
    charges_.clear();
    bump(counters_.elements_out);
    return true;
  }

 private:
  void check_compatible(const Element& e, std::int64_t record) const {
    const Element& first = held_.front();
    if (e.size() != first.size()) {
      throw shape_error("padded_batch", record, "element has " + std::to_string(e.size()) +
                                                    " components but the batch's first has " + std::to_string(first.size()));
    }
    for (std::size_t k = 0; k < e.size(); ++k) {
      if (e[k].dtype() != first[k].dtype() || e[k].shape().rank() != first[k].shape().rank()) {
        throw shape_error("padded_batch", record,
                          "component " + std::to_string(k) + " is " + dtype_name(e[k].dtype()) + e[k].shape().to_string() +
                              " but the batch's first element has " + dtype_name(first[k].dtype()) +
                              first[k].shape().to_string() + "; padded_batch() needs the same dtype and rank");
      }
    }
  }

  const BatchNode* n_;
  std::unique_ptr<IteratorNode> input_;
  std::vector<Element> held_;
  std::vector<MemoryCharge> charges_;
  std::int64_t index_ = 0;
};

std::unique_ptr<IteratorNode> BatchNode::make_iterator(const IterationContext& ctx) const {
  if (padded_) return std::make_unique<PaddedBatchIterator>(ctx, this);
  return std::make_unique<BatchIterator>(ctx, this);
}

}  // namespace

Dataset Dataset::batch(std::int64_t batch_size, bool drop_remainder) const {
  if (batch_size < 1) throw Error(ErrorCode::kInvalidArgument, "batch: batch_size must be >= 1");
  return Dataset(std::make_shared<BatchNode>(node_, batch_size, drop_remainder, false, 0.0));
}

Dataset Dataset::padded_batch(std::int64_t batch_size, bool drop_remainder, double padding_value) const {
  if (batch_size < 1) throw Error(ErrorCode::kInvalidArgument, "padded_batch: batch_size must be >= 1");
  return Dataset(std::make_shared<BatchNode>(node_, batch_size, drop_remainder, true, padding_value));
}

std::size_t batch_storage_bytes(const Element& row, std::int64_t rows) {
  std::size_t total = 0;
  for (const Tensor& t : row) total += align_up(t.nbytes() * static_cast<std::size_t>(rows));
  return total;
}

}  // namespace stoker
