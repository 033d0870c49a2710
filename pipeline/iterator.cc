// Iterator and Dataset::iterator(): start, step and cancel a pipeline.
#include "pipeline/iterator.h"

#include "pipeline/dataset.h"
#include "pipeline/runtime.h"

namespace stoker {

Iterator Dataset::iterator(Options options) const {
  auto runtime = std::make_shared<Runtime>(std::move(options));
  IterationContext ctx{runtime.get(), 0};
  std::unique_ptr<IteratorNode> root = node_->make_iterator(ctx);
  return Iterator(std::move(runtime), node_, std::move(root));
}

Iterator::Iterator(std::shared_ptr<Runtime> runtime, NodePtr graph, std::unique_ptr<IteratorNode> root)
    : runtime_(std::move(runtime)), graph_(std::move(graph)), root_(std::move(root)) {
  if (runtime_) stages_hash_ = created_stages_hash();
}

Iterator::Iterator(Iterator&& o) noexcept = default;

Iterator& Iterator::operator=(Iterator&& o) noexcept {
  if (this != &o) {
    reset();
    runtime_ = std::move(o.runtime_);
    graph_ = std::move(o.graph_);
    root_ = std::move(o.root_);
    delivered_ = o.delivered_;
    stages_hash_ = o.stages_hash_;
  }
  return *this;
}

Iterator::~Iterator() { reset(); }

void Iterator::reset() {
  if (runtime_) runtime_->cancel();
  root_.reset();  // joins threads and waits for tasks, stage by stage
  graph_.reset();
  runtime_.reset();
}

bool Iterator::next(Element& out) {
  if (!root_) return false;
  try {
    const bool more = root_->next(out);
    delivered_ += more;
    return more;
  } catch (...) {
    ++delivered_;  // an error takes its element's place in the sequence
    throw;
  }
}

std::optional<Element> Iterator::next() {
  Element e;
  if (!next(e)) return std::nullopt;
  return e;
}

PipelineStats Iterator::stats() const { return runtime_ ? runtime_->stats() : PipelineStats{}; }

}  // namespace stoker
