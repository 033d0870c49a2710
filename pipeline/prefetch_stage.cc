// prefetch(n): a background thread runs the input ahead of the consumer into a bounded queue.
//
// This is the pipeline's asynchrony: the producer thread drives every stage below it (which in
// turn run their parallel work on the TBB arena) while the consumer trains. One thread per
// prefetch stage, joined by the destructor.
// Memory bound: the queue holds at most `n` elements and takes another only while the budget has
// room and the queue holds under 1/4 of it (it may always hold one). kAutotune starts at 2 and doubles, up to 64, each time the
// consumer finds the queue empty. Errors are queued in order; after one, the producer pauses
// until the consumer has taken it (so a failing source cannot flood the queue with errors).
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

constexpr std::size_t kAutotuneStart = 2;
constexpr std::size_t kAutotuneMax = 64;

class PrefetchNode final : public DatasetNode {
 public:
  PrefetchNode(NodePtr input, std::int64_t n) : input_(std::move(input)), n_(n) {}
  std::string name() const override { return "prefetch"; }
  std::string fingerprint() const override { return input_->fingerprint(); }  // order and values unchanged
  std::int64_t cardinality() const override { return input_->cardinality(); }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override;

  NodePtr input_;
  std::int64_t n_;
};

class PrefetchIterator final : public StageIterator {
 public:
  PrefetchIterator(const IterationContext& ctx, const PrefetchNode* n)
      : StageIterator(ctx, n),
        input_(n->input_->make_iterator(ctx)),
        autotune_(n->n_ == kAutotune),
        capacity_(autotune_ ? kAutotuneStart : static_cast<std::size_t>(n->n_)) {
    thread_ = std::thread([this] { produce(); });
  }

  ~PrefetchIterator() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    to_producer_.notify_all();
    thread_.join();
  }

  bool next(Element& out) override {
    std::unique_lock lock(mu_);
    if (queue_.empty() && !done_) {
      if (autotune_ && capacity_ < kAutotuneMax) {
        capacity_ *= 2;
        to_producer_.notify_all();
      }
      std::uint64_t t0 = detail::now_ns();
      TraceSpan span(rt_.trace(), "wait", "wait: prefetch queue");
      to_consumer_.wait(lock, [&] { return !queue_.empty() || done_; });
      counters_.wait_input_ns.fetch_add(detail::now_ns() - t0, std::memory_order_relaxed);
    }
    if (queue_.empty()) return false;
    Slot slot = std::move(queue_.front());
    queue_.pop_front();
    queue_bytes_ -= slot.charge.bytes();
    if (slot.error) error_pending_ = false;
    lock.unlock();
    to_producer_.notify_all();
    if (slot.error) std::rethrow_exception(slot.error);
    out = std::move(slot.element);
    bump(counters_.elements_out);
    return true;
  }

 private:
  struct Slot {
    Element element;
    std::exception_ptr error;
    MemoryCharge charge;
  };

  bool has_space() const {
    if (error_pending_ || queue_.size() >= capacity_) return false;
    if (queue_.empty()) return true;
    return rt_.budget().has_room(last_bytes_) && queue_bytes_ + last_bytes_ <= rt_.budget().limit() / 4;
  }

  void produce() {
    if (TraceRecorder* t = rt_.trace()) t->name_thread("prefetch");
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (!has_space() && !stop_) {
          std::uint64_t t0 = detail::now_ns();
          TraceSpan span(rt_.trace(), "wait", "wait: room in prefetch queue (budget)");
          to_producer_.wait(lock, [&] { return stop_ || has_space(); });
          counters_.blocked_output_ns.fetch_add(detail::now_ns() - t0, std::memory_order_relaxed);
        }
        if (stop_) break;
      }
      Slot slot;
      bool got = false;
      try {
        got = input_->next(slot.element);
      } catch (...) {
        slot.error = current_error_for_handoff();  // the consumer's alone once queued
      }
      if (!got && !slot.error) break;
      std::size_t bytes = slot.element.nbytes();
      slot.charge = MemoryCharge(&rt_.budget(), &counters_, bytes);
      {
        std::lock_guard lock(mu_);
        if (slot.error) {
          error_pending_ = true;
        } else {
          last_bytes_ = bytes;
          bump(counters_.elements_in);
        }
        queue_bytes_ += slot.charge.bytes();
        queue_.push_back(std::move(slot));
      }
      to_consumer_.notify_one();
    }
    // Release the input's resources on this thread, then announce the end.
    input_.reset();
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    to_consumer_.notify_all();
  }

  std::unique_ptr<IteratorNode> input_;  // used only by the producer thread
  const bool autotune_;

  std::mutex mu_;
  std::condition_variable to_producer_, to_consumer_;
  std::deque<Slot> queue_;       // guarded by mu_
  std::size_t capacity_;         // guarded by mu_
  std::size_t last_bytes_ = 0;   // guarded by mu_
  std::size_t queue_bytes_ = 0;  // guarded by mu_
  bool error_pending_ = false;   // guarded by mu_
  bool done_ = false;            // guarded by mu_
  bool stop_ = false;            // guarded by mu_
  std::thread thread_;           // last: started after every field above is initialised
};

std::unique_ptr<IteratorNode> PrefetchNode::make_iterator(const IterationContext& ctx) const {
  return std::make_unique<PrefetchIterator>(ctx, this);
}

}  // namespace

Dataset Dataset::prefetch(std::int64_t buffer_size) const {
  if (buffer_size < 1 && buffer_size != kAutotune) {
    throw Error(ErrorCode::kInvalidArgument, "prefetch: buffer_size must be >= 1, or kAutotune");
  }
  return Dataset(std::make_shared<PrefetchNode>(node_, buffer_size));
}

}  // namespace stoker
