// map(fn): applies a user function to every element, in parallel on the runtime's TBB arena.
//
// The consumer thread pulls input serially and cuts it into chunks; each chunk is one TBB task
// (chunks amortise task overhead for cheap functions; their size adapts to the measured cost
// per element so an expensive function gets one element per task). With one thread each element
// is mapped in the caller's thread as it is pulled: no chunk, no task, no hand-off.
// Order: with deterministic=true the output is the input order; errors travel with their
// element and are raised (or skipped, under ErrorPolicy::kSkip) at its position.
// Memory bound: at most max_in_flight elements are launched or waiting; a new chunk is launched
// only while the memory budget has room and the window holds under 1/8 of it, and a chunk holds
// at most 1/16 of the budget. Cancellation: tasks check a stop flag between elements;
// the destructor waits for launched tasks, so nothing outlives the stage.
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "pipeline/dataset.h"
#include "pipeline/stage.h"

namespace stoker {
namespace {

using detail::StageIterator;

constexpr std::size_t kMaxChunk = 256;
constexpr double kTargetChunkNs = 250'000;  // aim for tasks of about 250 us

class MapNode final : public DatasetNode {
 public:
  MapNode(NodePtr input, MapFn fn, MapOptions options)
      : input_(std::move(input)), fn_(std::move(fn)), options_(std::move(options)) {}
  std::string name() const override { return options_.name; }
  std::string fingerprint() const override {
    return input_->fingerprint() + " | map " + options_.name + "(seed=" +
           (options_.seed ? std::to_string(*options_.seed) : std::string("auto")) +
           (options_.deterministic ? "" : ",unordered") + ")";
  }
  std::int64_t cardinality() const override { return input_->cardinality(); }
  std::string cannot_restore() const override {
    return options_.deterministic ? "" : "it runs with deterministic=false, so its output order depends on timing";
  }
  std::unique_ptr<IteratorNode> make_iterator(const IterationContext& ctx) const override;

  NodePtr input_;
  MapFn fn_;
  MapOptions options_;
};

struct Item {
  Element element;
  std::int64_t index = 0;      // position in this epoch's input; keys the element's Rng
  std::exception_ptr error;    // set: this item is an error to raise in its place
  bool from_upstream = false;  // the error came from the input (policy already applied there)
};

struct Chunk {
  std::vector<Item> items;
  std::size_t next_out = 0;  // consumer's read position
  bool done = false;         // guarded by Shared::mu
  MemoryCharge charge;       // input bytes while queued, output bytes once mapped
  std::size_t input_bytes = 0;
};

// State shared between the stage and its in-flight tasks; tasks keep it alive.
struct Shared {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  std::atomic<bool> stop{false};
  std::atomic<double> ns_per_element{0};  // moving average of the function's cost
};

class MapIterator final : public StageIterator {
 public:
  MapIterator(const IterationContext& ctx, const MapNode* n)
      : StageIterator(ctx, n),
        n_(n),
        input_(n->input_->make_iterator(ctx)),
        shared_(std::make_shared<Shared>()),
        seed_(n->options_.seed ? *n->options_.seed : detail::stage_seed(rt_, counters_)),
        parallel_(rt_.num_threads() > 1) {
    int cap = n->options_.max_in_flight;
    max_in_flight_ = cap > 0 ? static_cast<std::size_t>(cap) : 0;  // 0: decided per chunk size
  }

  ~MapIterator() override {
    shared_->stop.store(true);
    std::unique_lock lock(shared_->mu);
    shared_->cv.wait(lock, [&] { return shared_->in_flight == 0; });
  }

  bool next(Element& out) override {
    if (!parallel_) return next_inline(out);
    for (;;) {
      if (current_ && current_->next_out < current_->items.size()) {
        Item& item = current_->items[current_->next_out++];
        if (item.error) {
          if (item.from_upstream) {
            input_blocked_ = false;
            std::rethrow_exception(item.error);
          }
          try {
            std::rethrow_exception(item.error);
          } catch (const Error& e) {
            if (rt_.skip_error(counters_, e)) continue;
            throw;
          }
        }
        out = std::move(item.element);
        bump(counters_.elements_out);
        return true;
      }
      current_.reset();
      launch();
      if (window_.empty()) return false;
      current_ = take_ready();
    }
  }

 private:
  std::size_t chunk_size() const {
    double ns = shared_->ns_per_element.load(std::memory_order_relaxed);
    std::size_t c = ns <= 0 ? 1 : static_cast<std::size_t>(std::clamp(kTargetChunkNs / ns, 1.0, double(kMaxChunk)));
    if (max_in_flight_ > 0) c = std::min(c, std::max<std::size_t>(1, max_in_flight_ / rt_.num_threads()));
    // A chunk is at most 1/16 of the memory budget, so the window's overshoot stays small.
    if (bytes_per_element_ > 0) {
      c = std::min(c, std::max<std::size_t>(1, rt_.budget().limit() / 16 / bytes_per_element_));
    }
    return c;
  }

  // Automatic: 4 chunks per thread, and at least ~5 ms of work per thread, so workers stay busy
  // across the scheduling delays of the thread that launches chunks (it shares the cores).
  std::size_t in_flight_limit(std::size_t chunk) const {
    if (max_in_flight_ > 0) return max_in_flight_;
    const auto threads = static_cast<std::size_t>(rt_.num_threads());
    double ns = shared_->ns_per_element.load(std::memory_order_relaxed);
    std::size_t by_time = ns > 0 ? static_cast<std::size_t>(std::min(5e6 / ns, 4096.0)) : 0;
    return std::max(chunk * 4, by_time) * threads;
  }

  // One thread: map each element in the caller's thread as it is pulled (no chunk, no window).
  bool next_inline(Element& out) {
    for (;;) {
      if (!input_) return false;
      if (!input_->next(out)) {
        input_.reset();
        return false;
      }
      bump(counters_.elements_in);
      std::int64_t index = next_index_++;
      try {
        Rng rng(seed_, ctx_.epoch, static_cast<std::uint64_t>(index));
        out = n_->fn_(std::move(out), rng);
      } catch (...) {
        Error e = detail::current_error_as({n_->options_.name, "", index});
        if (rt_.skip_error(counters_, e)) continue;
        throw e;
      }
      bump(counters_.elements_out);
      return true;
    }
  }

  // Pulls input into new chunks and starts them, while the window and the budget allow.
  void launch() {
    for (;;) {
      if (!input_ || input_blocked_ || rt_.is_cancelled()) return;
      std::size_t chunk = chunk_size();
      if (window_elements_ + chunk > in_flight_limit(chunk) && !window_.empty()) return;
      if (!window_.empty() && (!rt_.budget().has_room(last_chunk_bytes_) ||
                               window_bytes_ + last_chunk_bytes_ > rt_.budget().limit() / 8)) {
        return;
      }

      auto c = std::make_shared<Chunk>();
      c->items.reserve(chunk);
      std::size_t bytes = 0;
      while (c->items.size() < chunk) {
        Item& item = c->items.emplace_back();  // filled in place: elements are moved once
        try {
          if (!input_->next(item.element)) {
            c->items.pop_back();
            input_.reset();
            break;
          }
        } catch (...) {
          item.error = std::current_exception();
          item.from_upstream = true;
          input_blocked_ = true;  // pull again only after this error has been delivered
          break;
        }
        bump(counters_.elements_in);
        item.index = next_index_++;
        bytes += item.element.nbytes();
      }
      if (c->items.empty()) return;
      last_chunk_bytes_ = bytes;
      bytes_per_element_ = std::max<std::size_t>(1, bytes / c->items.size());
      c->charge = MemoryCharge(&rt_.budget(), &counters_, bytes);
      window_elements_ += c->items.size();
      window_bytes_ += bytes;
      c->input_bytes = bytes;
      window_.push_back(c);
      {
        std::lock_guard lock(shared_->mu);
        ++shared_->in_flight;
      }
      // The task holds the chunk by raw pointer: window_ owns it until the task marks it done, and
      // TBB destroys this functor only after it returns, when the Runtime may already be gone; so
      // the functor must own nothing that touches the Runtime (a chunk's charge does).
      detail::submit(rt_, [this_shared = shared_, chunk = c.get(), fn = &n_->fn_, rt = &rt_, counters = &counters_,
                           seed = seed_, epoch = ctx_.epoch, name = &n_->options_.name] {
        MapIterator::run_chunk(*chunk, *fn, *rt, *counters, seed, epoch, *name, *this_shared);
        std::lock_guard lock(this_shared->mu);
        chunk->done = true;
        --this_shared->in_flight;
        this_shared->cv.notify_all();
      });
    }
  }

  // Maps every item of `c` in place. Runs on a worker (or inline); touches only `c`, atomics and
  // the runtime's thread-safe parts. The MapNode (and so fn) outlives it: the stage's destructor
  // waits for every task and the Iterator keeps the node graph alive.
  static void run_chunk(Chunk& c, const MapFn& fn, Runtime& rt, StageCounters& counters, std::uint64_t seed,
                        std::uint64_t epoch, const std::string& name, Shared& shared) {
    TraceSpan span(rt.trace(), "map", name);
    std::uint64_t t0 = detail::now_ns();
    std::size_t mapped = 0;
    std::size_t bytes = 0;
    for (Item& item : c.items) {
      if (item.error) continue;
      if (shared.stop.load(std::memory_order_relaxed) || rt.is_cancelled()) {
        item.error = std::make_exception_ptr(Error(ErrorCode::kCancelled, "iterator destroyed", {name}));
        continue;
      }
      try {
        Rng rng(seed, epoch, static_cast<std::uint64_t>(item.index));
        item.element = fn(std::move(item.element), rng);
        if (!rt.budget().fits(item.element.nbytes())) rt.budget().refuse(item.element.nbytes(), "one element", {});
        bytes += item.element.nbytes();
      } catch (...) {
        item.error = std::make_exception_ptr(detail::current_error_as({name, "", item.index}));
        item.element = Element();
      }
      ++mapped;
    }
    if (mapped > 0) {
      double per = static_cast<double>(detail::now_ns() - t0) / static_cast<double>(mapped);
      double old = shared.ns_per_element.load(std::memory_order_relaxed);
      shared.ns_per_element.store(old <= 0 ? per : 0.8 * old + 0.2 * per, std::memory_order_relaxed);
    }
    c.charge = MemoryCharge(&rt.budget(), &counters, bytes);
  }

  // The next chunk to read: the oldest (deterministic) or any finished one.
  std::shared_ptr<Chunk> take_ready() {
    std::uint64_t t0 = detail::now_ns();
    TraceSpan span(rt_.trace(), "wait", "wait: map output");
    std::unique_lock lock(shared_->mu);
    auto pick = window_.begin();
    if (n_->options_.deterministic) {
      shared_->cv.wait(lock, [&] { return window_.front()->done; });
    } else {
      shared_->cv.wait(lock, [&] {
        pick = std::find_if(window_.begin(), window_.end(), [](const auto& c) { return c->done; });
        return pick != window_.end();
      });
    }
    lock.unlock();
    counters_.wait_input_ns.fetch_add(detail::now_ns() - t0, std::memory_order_relaxed);
    std::shared_ptr<Chunk> c = std::move(*pick);
    window_.erase(pick);
    window_elements_ -= c->items.size();
    window_bytes_ -= c->input_bytes;
    return c;
  }

  const MapNode* n_;
  std::unique_ptr<IteratorNode> input_;
  std::shared_ptr<Shared> shared_;
  std::uint64_t seed_;
  bool parallel_;
  std::size_t max_in_flight_;
  std::deque<std::shared_ptr<Chunk>> window_;
  std::size_t window_elements_ = 0;
  std::size_t window_bytes_ = 0;  // input bytes of the chunks in window_
  std::shared_ptr<Chunk> current_;
  bool input_blocked_ = false;
  std::size_t last_chunk_bytes_ = 0;
  std::size_t bytes_per_element_ = 0;  // of the input, measured on the last chunk
  std::int64_t next_index_ = 0;
};

std::unique_ptr<IteratorNode> MapNode::make_iterator(const IterationContext& ctx) const {
  return std::make_unique<MapIterator>(ctx, this);
}

}  // namespace

Dataset Dataset::map(MapFn fn, MapOptions options) const {
  if (!fn) throw Error(ErrorCode::kInvalidArgument, "map: empty function");
  return Dataset(std::make_shared<MapNode>(node_, std::move(fn), std::move(options)));
}

}  // namespace stoker
