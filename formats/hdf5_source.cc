// The HDF5 source stage: a DatasetNode over validated file metadata and an iterator that reads
// blocks ahead on the Runtime's arena (see hdf5_source.h for the contract).
//
// Invariants of Hdf5Iterator:
//  - window_ holds the blocks started and not yet consumed, in delivery order; the block being
//    consumed (current_) is not in it. window_.size() <= read_ahead_blocks + (current_ ? 0 : 1).
//  - A started block is read by exactly one arena task; shared_->in_flight counts them and the
//    destructor waits for it to reach zero, so no task outlives the iterator or its file handles.
//  - Fixed-size block buffers come from hub_ (a free list per size). Copying mode: a buffer is in
//    the free list or in exactly one block, and the block's charge covers it. Zero-copy mode: a
//    buffer is leased: rows alias it, it is charged from lease to the drop of its last reference
//    (its deleter returns it to the free list), and the iterator's destructor releases whatever
//    is still leased from the budget before the Runtime can go away.
#include "formats/hdf5_source.h"

#include <condition_variable>
#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include "formats/hdf5_buffer_hub.h"
#include "formats/hdf5_files.h"
#include "formats/hdf5_reader.h"
#include "pipeline/runtime.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::BufferHub;
using detail::Hdf5Block;
using detail::Hdf5FileMeta;
using detail::Hdf5FileSet;
using detail::StageIterator;

class Hdf5Node final : public DatasetNode {
 public:
  Hdf5Node(std::shared_ptr<const Hdf5FileSet> set, Hdf5Options options, std::int64_t shard_num,
           std::int64_t shard_index)
      : set_(std::move(set)), options_(std::move(options)), shard_num_(shard_num), shard_index_(shard_index) {}

  std::string name() const override { return options_.name; }
  std::string fingerprint() const override {
    std::string s = options_.name + "(";
    for (const std::string& p : set_->paths) s += file_stamp(p) + ";";
    if (set_->reference) {
      for (const auto& d : set_->files[*set_->reference]->datasets) s += " " + d.name;
    }
    return s + "; shard " + std::to_string(shard_index_) + "/" + std::to_string(shard_num_) +
           (options_.shuffle_blocks ? "; shuffled blocks seed=" + (options_.seed ? std::to_string(*options_.seed) : std::string("auto")) : "") +
           ")";
  }

  // Counted per file, not listed: a sparse file may describe billions of blocks.
  std::int64_t cardinality() const override {
    std::int64_t rows = 0;
    for (std::size_t f = 0; f < set_->files.size(); ++f) {
      if (!set_->files[f]) continue;
      const Hdf5FileMeta& m = *set_->files[f];
      const std::int64_t a = set_->first_block[f], b = set_->first_block[f + 1];
      const std::int64_t n = shard_blocks_below(b) - shard_blocks_below(a);
      if (n == 0) continue;
      rows += n * m.block_rows;
      // The file's last block is short when its rows are not a multiple of block_rows.
      if ((b - 1) % shard_num_ == shard_index_) rows -= m.block_rows - (m.rows - (b - 1 - a) * m.block_rows);
    }
    return rows;
  }
  // This shard's blocks among global blocks [0, g).
  std::int64_t shard_blocks_below(std::int64_t g) const {
    return g > shard_index_ ? (g - 1 - shard_index_) / shard_num_ + 1 : 0;
  }

  // Shard of a shard: blocks b = i1 + n1*k with k % n2 == i2, i.e. b % (n1*n2) == i1 + n1*i2.
  std::shared_ptr<const DatasetNode> shard_source(std::int64_t num, std::int64_t index) const override {
    return std::make_shared<Hdf5Node>(set_, options_, shard_num_ * num, shard_index_ + shard_num_ * index);
  }

  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override;

  // This shard's global blocks (hdf5_files.h) in file order.
  std::vector<std::int64_t> blocks() const {
    std::vector<std::int64_t> out;
    for (std::int64_t g = shard_index_; g < set_->total_blocks(); g += shard_num_) out.push_back(g);
    return out;
  }

  std::shared_ptr<const Hdf5FileSet> set_;
  Hdf5Options options_;
  std::int64_t shard_num_, shard_index_;
};

struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::atomic<bool> stop{false};
};

struct Pending {
  std::shared_ptr<const Hdf5FileMeta> meta;  // the file the block is from
  Hdf5Block block;
  bool done = false;  // guarded by Shared::mu
};

// This shard's blocks, refused (kOutOfMemory) when their order, 8 bytes a block, would take more
// than a quarter of the memory budget: a small sparse file can declare billions of rows.
std::vector<std::int64_t> checked_blocks(const Hdf5Node* n, std::size_t budget) {
  const auto blocks = static_cast<std::uint64_t>(n->shard_blocks_below(n->set_->total_blocks()));
  if (blocks > budget / 4 / sizeof(std::int64_t)) {
    throw Error(ErrorCode::kOutOfMemory,
                std::to_string(blocks) + " blocks: the block order alone needs " +
                    std::to_string(blocks * sizeof(std::int64_t)) + " bytes, over a quarter of the memory budget (" +
                    std::to_string(budget) + " bytes); raise the budget or Hdf5Options::block_rows",
                {n->options_.name, n->set_->paths.empty() ? "" : n->set_->paths.front(), std::nullopt});
  }
  return n->blocks();
}

class Hdf5Iterator final : public StageIterator {
 public:
  Hdf5Iterator(const IterationContext& ctx, const Hdf5Node* n)
      : StageIterator(ctx, n),
        n_(n),
        set_(*n->set_),
        handles_(static_cast<std::size_t>(n->options_.max_open_files)),
        shared_(std::make_shared<Shared>()),
        order_(checked_blocks(n, rt_.budget().limit())),
        zero_copy_(n->options_.zero_copy_rows),
        read_ahead_(read_ahead(n->options_.read_ahead_blocks)),
        hub_(std::make_shared<BufferHub>(&rt_.budget(), &counters_, static_cast<std::size_t>(read_ahead_) + 2)) {
    if (n->options_.shuffle_blocks && order_.size() > 1) {
      Rng rng(n->options_.seed ? *n->options_.seed : detail::stage_seed(rt_, counters_), ctx.epoch);
      for (std::size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[rng.uniform_int(i + 1)]);
    }
  }

  ~Hdf5Iterator() override {
    shared_->stop.store(true);
    std::unique_lock lock(shared_->mu);
    shared_->cv.wait(lock, [&] { return shared_->in_flight == 0; });
    lock.unlock();
    release_current();
    window_.clear();
    hub_->detach();
  }

  // Bulk rows for a batch stage right after this source (IteratorNode::bulk_read): when every
  // file is good and every dataset fixed-size and read by H5Dread (uncompressed, or filters read
  // through libhdf5), and errors fail the run, rows go from the file straight into the batch's
  // memory in delivery order, one H5Dread per dataset and run of rows. Compressed datasets keep
  // the block path, whose chunks inflate in parallel; bad files and the skip policy keep it too.
  bool bulk_layout(std::vector<DType>* dtypes, std::vector<Shape>* row_shapes) override {
    if (current_ || next_block_ > 0 || !set_.reference || rt_.options().error_policy != ErrorPolicy::kFail) return false;
    for (std::size_t f = 0; f < set_.files.size(); ++f) {
      if (!set_.files[f]) return false;
      for (const auto& m : set_.files[f]->datasets) {
        if (m.vlen || m.raw_decode) return false;
      }
    }
    for (const auto& m : set_.files[*set_.reference]->datasets) {
      dtypes->push_back(m.dtype);
      row_shapes->push_back(m.row_shape);
    }
    return true;
  }

  std::int64_t bulk_read(std::int64_t max_rows, std::byte* const* dst) override {
    const auto& ref = set_.files[*set_.reference]->datasets;
    std::vector<std::byte*> at(dst, dst + ref.size());
    std::int64_t got = 0;
    while (got < max_rows && bulk_block_ < order_.size()) {
      if (rt_.is_cancelled()) throw Error(ErrorCode::kCancelled, "iterator destroyed", {n_->options_.name});
      const auto [f, id] = set_.locate(order_[bulk_block_]);
      const Hdf5FileMeta& meta = *set_.files[f];
      const std::int64_t end = std::min(meta.rows, (id + 1) * meta.block_rows);
      if (bulk_row_ < 0) bulk_row_ = id * meta.block_rows;
      const std::int64_t k = std::min(max_rows - got, end - bulk_row_);
      detail::read_rows_into(meta, *handles_.get(f, meta), bulk_row_, bulk_row_ + k, at.data(), n_->options_.name);
      for (std::size_t d = 0; d < at.size(); ++d) at[d] += static_cast<std::size_t>(k) * ref[d].row_bytes;
      bulk_row_ += k;
      got += k;
      if (bulk_row_ == end) ++bulk_block_, bulk_row_ = -1;
    }
    if (bulk_block_ == order_.size()) handles_.clear();
    bump(counters_.elements_out, static_cast<std::uint64_t>(got));
    return got;
  }

  bool next(Element& out) override {
    // Bad files first: the run fails before any row, or (skip) counts each once.
    while (next_bad_file_ < set_.errors.size()) {
      const std::optional<Error>& e = set_.errors[next_bad_file_++];
      if (e && !rt_.skip_error(counters_, *e)) throw *e;
    }
    for (;;) {
      if (current_ && row_ < current_->block.row_end) {
        const Hdf5FileMeta& meta = *current_->meta;
        Hdf5Block& b = current_->block;
        std::int64_t r = row_;
        if (bad_ < b.bad.size() && r >= b.bad[bad_].begin) {
          const Hdf5Block::Bad& bad = b.bad[bad_++];
          row_ = bad.end;
          if (r < bad.end && !rt_.skip_error(counters_, bad.error, static_cast<std::uint64_t>(bad.end - r))) throw bad.error;
          continue;
        }
        ++row_;
        out = Element();
        out.resize(meta.datasets.size());
        std::size_t i = static_cast<std::size_t>(r - b.row_begin);
        for (std::size_t d = 0; d < meta.datasets.size(); ++d) {
          const detail::Hdf5DatasetMeta& m = meta.datasets[d];
          if (m.vlen) {
            out[d] = b.vlen[d][i];
          } else if (zero_copy_ && m.row_bytes > Tensor::kInlineBytes && m.row_bytes % 16 == 0) {
            out[d] = Tensor(m.dtype, m.row_shape, std::shared_ptr<std::byte>(b.fixed[d], b.fixed[d].get() + i * m.row_bytes));
          } else {
            Tensor t(m.dtype, m.row_shape);
            std::memcpy(t.mutable_data(), b.fixed[d].get() + i * m.row_bytes, m.row_bytes);
            out[d] = std::move(t);
          }
        }
        bump(counters_.elements_out);
        return true;
      }
      release_current();
      launch();
      if (window_.empty()) {
        hub_->clear_free();
        handles_.clear();
        return false;
      }
      take_ready();
    }
  }

 private:
  // Explicit, or automatic: enough blocks in flight that decoding keeps every thread busy.
  int read_ahead(int requested) const {
    if (requested >= 0) return requested;
    if (!set_.reference) return 1;
    const Hdf5FileMeta& ref = *set_.files[*set_.reference];
    std::int64_t chunks_per_block = 0;
    for (const auto& m : ref.datasets) {
      if (m.raw_decode) chunks_per_block += (ref.block_rows + m.chunk_rows - 1) / m.chunk_rows;
    }
    if (chunks_per_block == 0) return 1;
    std::int64_t want = (2 * rt_.num_threads() + chunks_per_block - 1) / chunks_per_block;
    return static_cast<int>(std::clamp<std::int64_t>(want, 1, 16));
  }

  void release_current() {
    if (!current_) return;
    if (!zero_copy_) {
      for (std::size_t d = 0; d < current_->block.fixed.size(); ++d) {
        if (current_->block.fixed[d]) {
          hub_->give_back(std::move(current_->block.fixed[d]), block_bytes(*current_->meta, d), false);
        }
      }
    }
    current_.reset();  // zero-copy: the leases end with the last row that aliases them
  }

  static std::size_t block_bytes(const Hdf5FileMeta& meta, std::size_t d) {
    return static_cast<std::size_t>(meta.block_rows) * meta.datasets[d].row_bytes;
  }

  // Starts reads of the next blocks while the window and the memory budget allow (always at least
  // one block when nothing is held, so the source makes progress).
  void launch() {
    const std::size_t max_window = static_cast<std::size_t>(read_ahead_) + (current_ ? 0 : 1);
    while (next_block_ < order_.size() && window_.size() < max_window && !rt_.is_cancelled()) {
      const auto [f, id] = set_.locate(order_[next_block_]);
      const std::shared_ptr<const Hdf5FileMeta>& file_meta = set_.files[f];
      const Hdf5FileMeta& meta = *file_meta;
      std::int64_t lo = id * meta.block_rows, hi = std::min(meta.rows, lo + meta.block_rows);
      std::size_t fixed_bytes = 0;
      for (const auto& m : meta.datasets) fixed_bytes += static_cast<std::size_t>(meta.block_rows) * m.row_bytes;
      bool holding = current_ || !window_.empty();
      if (holding && !rt_.budget().has_room(fixed_bytes)) return;
      // The one block taken without room must still fit the whole budget (a crafted chunk shape
      // can make a block of gigabytes from a file of kilobytes).
      if (!rt_.budget().fits(fixed_bytes)) {
        rt_.budget().refuse(fixed_bytes, "a block of " + std::to_string(meta.block_rows) + " rows (whole chunks)",
                            {n_->options_.name, meta.path, lo});
      }
      ++next_block_;
      auto p = std::make_shared<Pending>();
      p->meta = file_meta;
      Hdf5Block& b = p->block;
      b.row_begin = lo;
      b.row_end = hi;
      b.fixed.resize(meta.datasets.size());
      b.vlen.resize(meta.datasets.size());
      std::shared_ptr<detail::Hdf5OpenFile> handle;
      try {
        handle = handles_.get(f, meta);
      } catch (const Error& e) {
        // Validated when the Dataset was made but gone or broken now: its rows fail (or are skipped).
        b.bad.push_back({lo, hi, e.with_context({n_->options_.name, meta.path, lo})});
        p->done = true;  // not yet shared with any task
        window_.push_back(p);
        continue;
      }
      for (std::size_t d = 0; d < meta.datasets.size(); ++d) {
        const auto& m = meta.datasets[d];
        if (!m.vlen) b.fixed[d] = hub_->take(block_bytes(meta, d), zero_copy_);
      }
      if (!zero_copy_) b.charge = MemoryCharge(&rt_.budget(), &counters_, fixed_bytes);
      window_.push_back(p);
      {
        std::lock_guard lock(shared_->mu);
        ++shared_->in_flight;
      }
      // The task holds no owning reference to the block: its MemoryCharges point into the Runtime,
      // which may go away right after the destructor has seen in_flight reach zero (runtime.h).
      // The task shares the file's handle, so evicting it from handles_ never closes it under a read;
      // the task drops it before signalling, so none outlives the iterator.
      detail::submit(rt_, [shared = shared_, p = p.get(), meta = file_meta, file = std::move(handle),
                           name = &n_->options_.name, rt = &rt_, counters = &counters_]() mutable {
        {  // the span ends before the stage can see the task done (and the Runtime go away)
          TraceSpan span(rt->trace(), "read", "hdf5 block");
          detail::read_hdf5_block(*meta, *file, p->block, *name, shared->stop, &rt->budget(), counters);
        }
        file.reset();
        std::lock_guard lock(shared->mu);
        p->done = true;
        --shared->in_flight;
        shared->cv.notify_all();
      });
    }
  }

  void take_ready() {
    std::uint64_t t0 = detail::now_ns();
    TraceSpan span(rt_.trace(), "wait", "wait: hdf5 read");
    std::shared_ptr<Pending> p = window_.front();
    {
      std::unique_lock lock(shared_->mu);
      shared_->cv.wait(lock, [&] { return p->done; });
    }
    counters_.wait_input_ns.fetch_add(detail::now_ns() - t0, std::memory_order_relaxed);
    window_.pop_front();
    current_ = std::move(p);
    row_ = current_->block.row_begin;
    bad_ = 0;
    launch();  // keep reading ahead while this block is consumed
    if (current_->block.fatal) {
      std::exception_ptr e = current_->block.fatal;
      release_current();
      std::rethrow_exception(e);
    }
  }

  const Hdf5Node* n_;
  const Hdf5FileSet& set_;
  detail::Hdf5HandleCache handles_;
  std::size_t next_bad_file_ = 0;
  std::shared_ptr<Shared> shared_;
  std::vector<std::int64_t> order_;
  std::size_t next_block_ = 0;
  std::deque<std::shared_ptr<Pending>> window_;
  std::shared_ptr<Pending> current_;
  std::int64_t row_ = 0;
  std::size_t bad_ = 0;
  std::size_t bulk_block_ = 0;  // bulk_read(): next block of order_, and the next row in it (-1: its first)
  std::int64_t bulk_row_ = -1;
  bool zero_copy_;
  int read_ahead_;
  std::shared_ptr<BufferHub> hub_;
};

std::unique_ptr<IteratorNode> Hdf5Node::make_iterator(const IterationContext& ctx) const {
  return std::make_unique<Hdf5Iterator>(ctx, this);
}

}  // namespace

Dataset hdf5(std::string path, std::vector<std::string> datasets, Hdf5Options options) {
  auto meta = detail::open_hdf5_meta(path, datasets, options);
  return Dataset(std::make_shared<Hdf5Node>(detail::hdf5_file_set(std::move(meta)), std::move(options), 1, 0));
}

Dataset hdf5(std::vector<std::string> paths, std::vector<std::string> datasets, Hdf5Options options) {
  auto set = detail::open_hdf5_files(paths, datasets, options);
  return Dataset(std::make_shared<Hdf5Node>(std::move(set), std::move(options), 1, 0));
}

}  // namespace stoker
