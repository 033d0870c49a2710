// CPU backend (see cpu_backend.h): buffers, chunking over TBB, gradient reduction and the
// optimizer; the per-chunk arithmetic of each layer is in cpu_layers.cc.
#include "trainer/cpu_backend.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "trainer/cpu_blas.h"
#include "trainer/cpu_layers.h"
#include "trainer/distributed.h"
#include "trainer/kernels_math.h"
#include "trainer/planner.h"

namespace stoker {
namespace {

// Flush-to-zero and denormals-are-zero for one task's arithmetic, restored when it ends (the TBB
// thread goes back to its own mode). Adam's moments of weights whose gradient is exactly 0 (inputs
// that are always 0, dead ReLUs) decay geometrically through the denormal range, where each x86
// operation on them is ~100x slower; values below 1.2e-38 carry nothing a float32 model can use.
// TensorFlow's CPU kernels flush them too.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelSpec& spec, const Hwc& input, const BackendConfig& cfg)
      : spec_(spec), input_(input), cfg_(cfg), shapes_(spec.shapes(input)), pinfo_(spec.params(input)),
        ctype_(compute_type_code(cfg.precision)), scaler_(LossScaler::for_precision(cfg.precision)),
        slots_(cpu_backend_slots(cfg.num_threads)), arena_(slots_) {
    cpu_blas::core_name();  // load OpenBLAS now: a missing library fails here, with its fix
    LayerParams lp = layer_params(pinfo_, shapes_.size());
    layer_param_ = std::move(lp.param);
    need_dx_ = std::move(lp.need_dx);
    max_act_ = numel(input);
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      max_act_ = std::max(max_act_, numel(shapes_[l].out));
      const LayerSpec& ls = spec_.layers()[l];
      if (ls.kind == LayerKind::kConv2D) {
        std::int64_t cols = shapes_[l].out[0] * shapes_[l].out[1] * ls.kernel * ls.kernel * shapes_[l].in[2];
        max_ws_ = std::max(max_ws_, conv_group_size(cols) * cols);
      }
    }
    auto init = spec.init_params(input, cfg.seed);
    params_ = init;
    for (auto& v : init) std::fill(v.begin(), v.end(), 0.f);
    grads_ = init;
    m_ = init;
    if (cfg.optimizer.kind == OptimizerConfig::kAdam) v_ = init;
    slot_.resize(static_cast<std::size_t>(slots_));
    for (auto& s : slot_) {
      s.grads = init;
      s.cols.resize(static_cast<std::size_t>(max_ws_));
      s.dcols.resize(static_cast<std::size_t>(max_ws_));
    }
    refresh_compute_params();
  }

  std::string name() const override { return "cpu"; }
  PlanTarget plan_target() const override { return PlanTarget{false, slots_}; }
  std::size_t memory_available() const override { return host_memory_available(); }

  void reserve(std::int64_t max_batch) override {
    if (max_batch <= cap_) return;
    cap_ = max_batch;
    const std::size_t n = static_cast<std::size_t>(max_batch);
    act_.assign(shapes_.size() + 1, {});
    act_[0].resize(n * static_cast<std::size_t>(numel(input_)));
    argmax_.assign(shapes_.size(), {});
    mask_.assign(shapes_.size(), {});
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      const LayerSpec& ls = spec_.layers()[l];
      const std::size_t out = n * static_cast<std::size_t>(numel(shapes_[l].out));
      if (ls.kind != LayerKind::kFlatten) act_[l + 1].resize(out);
      if (ls.kind == LayerKind::kMaxPool) argmax_[l].resize(out);
      if (ls.kind == LayerKind::kDropout) mask_[l].resize(out);
    }
    // Each chunk's gradient buffers cover the largest chunk.
    const std::size_t chunk = (n + static_cast<std::size_t>(slots_) - 1) / static_cast<std::size_t>(slots_);
    for (auto& s : slot_) {
      s.g0.resize(chunk * static_cast<std::size_t>(max_act_));
      s.g1.resize(chunk * static_cast<std::size_t>(max_act_));
    }
  }

  void zero_grads() override {
    for (auto& g : grads_) std::fill(g.begin(), g.end(), 0.f);
  }

  StepStats forward_backward(const BatchView& b, std::int64_t begin, std::int64_t count, float loss_weight,
                             std::uint64_t step) override {
    return run(b, begin, count, /*train=*/true, loss_weight, step);
  }

  StepStats evaluate(const BatchView& b, std::int64_t begin, std::int64_t count) override {
    return run(b, begin, count, /*train=*/false, 0.f, 0);
  }

  void reduce_gradients(Communicator& comm) override {
    for (auto& g : grads_) comm.all_reduce_sum(g.data(), g.size());
  }

  bool apply_gradients() override {
    const float inv = 1.f / scaler_.scale;
    std::atomic<bool> finite{true};
    arena_.execute([&] {
      for (const auto& g : grads_) {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, g.size(), 1 << 14), [&](const auto& r) {
          bool ok = true;
          for (std::size_t i = r.begin(); i < r.end(); ++i) ok &= kmath::is_finite(g[i]);
          if (!ok) finite.store(false, std::memory_order_relaxed);
        });
      }
    });
    if (!scaler_.update(finite.load())) return false;
    ++t_;
    const OptimizerConfig& o = cfg_.optimizer;
    const kmath::AdamParams ap = adam_params(o, t_);
    arena_.execute([&] {
      for (std::size_t p = 0; p < params_.size(); ++p) {
        tbb::parallel_for(tbb::blocked_range<std::size_t>(0, params_[p].size(), 1 << 14), [&](const auto& r) {
          FlushDenormals ftz;
          for (std::size_t i = r.begin(); i < r.end(); ++i) {
            const float g = kmath::unscale(grads_[p][i], inv);
            if (o.kind == OptimizerConfig::kAdam) kmath::adam_update(&params_[p][i], &m_[p][i], &v_[p][i], g, ap);
            else kmath::sgd_update(&params_[p][i], &m_[p][i], g, ap.lr, o.momentum);
            if (ctype_) cparams_[p][i] = kmath::round_to(ctype_, params_[p][i]);  // the compute copy, same pass
          }
        });
      }
    });
    return true;
  }

  void set_optimizer(const OptimizerConfig& o) override { cfg_.optimizer = o; }

  std::vector<std::vector<float>> get_params() const override { return params_; }
  void set_params(const std::vector<std::vector<float>>& p) override {
    check_like_params(p, "set_params");
    params_ = p;
    refresh_compute_params();
  }
  OptimizerState get_optimizer_state() const override { return {t_, m_, v_, scaler_}; }
  void set_optimizer_state(const OptimizerState& s) override {
    check_like_params(s.m, "set_optimizer_state: m");
    if (cfg_.optimizer.kind == OptimizerConfig::kAdam) check_like_params(s.v, "set_optimizer_state: v");
    else if (!s.v.empty()) throw Error(ErrorCode::kInvalidArgument, "set_optimizer_state: SGD keeps no second moment");
    t_ = s.applied;
    m_ = s.m;
    v_ = s.v;
    scaler_ = s.scaler;
  }
  std::vector<std::vector<float>> get_grads() const override {
    auto g = grads_;
    const float inv = 1.f / scaler_.scale;
    for (auto& v : g) for (float& x : v) x = kmath::unscale(x, inv);
    return g;
  }
  const LossScaler& loss_scaler() const override { return scaler_; }
  void set_loss_scaler(const LossScaler& s) override { scaler_ = s; }

  std::size_t bytes_allocated() const override {
    std::size_t b = 0;
    auto add = [&](const auto& vv) { for (const auto& v : vv) b += v.size() * sizeof(v[0]); };
    add(params_), add(grads_), add(m_), add(v_), add(act_), add(argmax_), add(mask_);
    if (ctype_ != 0) add(cparams_);
    for (const auto& s : slot_) {
      add(s.grads);
      b += (s.cols.size() + s.dcols.size() + s.g0.size() + s.g1.size()) * 4;
    }
    return b;
  }

 private:
  struct Slot {
    StepStats stats;  // of this slot's chunk in the last run()
    std::vector<float> cols, dcols, g0, g1;
    std::vector<std::vector<float>> grads;
    std::vector<float*> ptr;  // input of each layer for this chunk (reused; sized once)
  };

  void check_like_params(const std::vector<std::vector<float>>& p, const char* what) const {
    if (p.size() != params_.size()) {
      throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + std::to_string(p.size()) + " tensors, the model has " +
                                                   std::to_string(params_.size()));
    }
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (p[i].size() != params_[i].size()) {
        throw Error(ErrorCode::kInvalidArgument, std::string(what) + ": " + pinfo_[i].name + " has " +
                                                     std::to_string(p[i].size()) + " values, expected " +
                                                     std::to_string(params_[i].size()));
      }
    }
  }

  // The weights the arithmetic uses: the master weights, or their rounded copy under mixed precision.
  const float* w(std::size_t p) const { return ctype_ ? cparams_[p].data() : params_[p].data(); }
  void refresh_compute_params() {
    if (!ctype_) return;
    cparams_ = params_;
    for (auto& v : cparams_) for (float& x : v) x = kmath::round_to(ctype_, x);
  }
  // Layer l as cpu_layers' functions see it, with this chunk's gradients.
  cpu_layers::Layer layer(std::size_t l, Slot& slot) const {
    cpu_layers::Layer L{spec_.layers()[l], shapes_[l]};
    if (layer_param_[l] >= 0) {
      const std::size_t p = static_cast<std::size_t>(layer_param_[l]);
      L.w = w(p), L.b = w(p + 1), L.dw = slot.grads[p].data(), L.db = slot.grads[p + 1].data();
    }
    return L;
  }
  void round_span(float* p, std::size_t n) const {
    if (!ctype_) return;
    for (std::size_t i = 0; i < n; ++i) p[i] = kmath::round_to(ctype_, p[i]);
  }

  StepStats run(const BatchView& b, std::int64_t begin, std::int64_t count, bool train, float loss_weight,
                std::uint64_t step) {
    if (count <= 0) return {};
    if (begin < 0 || begin + count > b.n) throw Error(ErrorCode::kInternal, "cpu backend: sample range outside the batch");
    if (b.on_device) {
      throw Error(ErrorCode::kInvalidArgument,
                  "cpu backend: the batch is in device memory; feed it host batches (or a host-mode DeviceFeeder)",
                  {"trainer"});
    }
    reserve(count);
    const int chunks = static_cast<int>(std::min<std::int64_t>(slots_, count));
    std::exception_ptr error;
    std::mutex error_mu;
    arena_.execute([&] {
      tbb::parallel_for(0, chunks, [&](int c) {
        const std::int64_t s0 = count * c / chunks, s1 = count * (c + 1) / chunks;
        FlushDenormals ftz;
        try {
          slot_[static_cast<std::size_t>(c)].stats = run_chunk(b, begin, s0, s1 - s0, train, loss_weight, step, slot_[static_cast<std::size_t>(c)]);
        } catch (...) {
          std::lock_guard lock(error_mu);
          if (!error) error = std::current_exception();
        }
      });
    });
    if (error) {
      // A chunk that failed may have added part of its gradient: clear every slot so the next
      // step starts clean.
      for (auto& sl : slot_)
        for (auto& g : sl.grads) std::fill(g.begin(), g.end(), 0.f);
      std::rethrow_exception(error);
    }
    StepStats total;
    for (int c = 0; c < chunks; ++c) total += slot_[static_cast<std::size_t>(c)].stats;
    if (train) {
      // Reduce the chunks' weight gradients in chunk order (deterministic for a given thread count).
      arena_.execute([&] {
        for (std::size_t p = 0; p < grads_.size(); ++p) {
          tbb::parallel_for(tbb::blocked_range<std::size_t>(0, grads_[p].size(), 1 << 14), [&](const auto& r) {
            FlushDenormals ftz;
            for (int c = 0; c < chunks; ++c) {
              float* src = slot_[static_cast<std::size_t>(c)].grads[p].data();
              for (std::size_t i = r.begin(); i < r.end(); ++i) {
                grads_[p][i] += kmath::round_to(ctype_, src[i]);
                src[i] = 0.f;
              }
            }
          });
        }
      });
    }
    return total;
  }

  // Forward (and backward when training) of samples [off, off + n) of this micro-batch, which
  // are samples [begin + off, ...) of the batch.
  StepStats run_chunk(const BatchView& b, std::int64_t begin, std::int64_t off, std::int64_t n, bool train,
                      float loss_weight, std::uint64_t step, Slot& slot) {
    // Cast the input.
    const std::int64_t in_sz = numel(input_);
    float* x0 = act_[0].data() + off * in_sz;
    cpu_layers::cast_input(b, begin + off, n, in_sz, ctype_, cfg_.input_scale, x0);

    // Forward. ptr[l] is the input of layer l (flatten passes its input through).
    std::vector<float*>& ptr = slot.ptr;
    ptr.assign(shapes_.size() + 1, nullptr);
    ptr[0] = x0;
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      const LayerSpec& ls = spec_.layers()[l];
      const LayerShape& sh = shapes_[l];
      const std::int64_t osz = numel(sh.out);
      if (ls.kind == LayerKind::kFlatten || (ls.kind == LayerKind::kDropout && !train)) {
        ptr[l + 1] = ptr[l];  // passes its input through (dropout is the identity in inference)
        continue;
      }
      float* y = act_[l + 1].data() + off * osz;
      ptr[l + 1] = y;
      const float* x = ptr[l];
      switch (ls.kind) {
        case LayerKind::kConv2D: cpu_layers::conv_forward(layer(l, slot), x, y, n, slot.cols.data()); break;
        case LayerKind::kMaxPool: cpu_layers::pool_forward(layer(l, slot), x, y, argmax_[l].data() + off * osz, n); break;
        case LayerKind::kDense: cpu_layers::dense_forward(layer(l, slot), x, y, n); break;
        case LayerKind::kDropout:
          cpu_layers::dropout_forward(layer(l, slot), cfg_.seed, static_cast<int>(l), x, y, mask_[l].data() + off * osz, n,
                                      begin + off, step);
          break;
        case LayerKind::kReLU: cpu_layers::relu_forward(x, y, n * osz); break;
        case LayerKind::kFlatten: break;
      }
      round_span(y, static_cast<std::size_t>(n * osz));
    }

    // Loss on the logits; the gradient (scaled by loss_weight and the loss scale) goes to g0.
    const int classes = spec_.classes();
    const float* logits = ptr[shapes_.size()];
    float* dy = train ? slot.g0.data() : nullptr;
    const float grad_scale = loss_weight * scaler_.scale;
    const StepStats st = cpu_layers::softmax_xent(b, begin + off, n, classes, logits, grad_scale, dy);
    if (!train) return st;
    round_span(dy, static_cast<std::size_t>(n * classes));

    // Backward: dy holds the gradient of layer l's output; dx receives its input's gradient.
    float* cur = slot.g0.data();
    float* other = slot.g1.data();
    for (std::size_t l = shapes_.size(); l-- > 0;) {
      const LayerSpec& ls = spec_.layers()[l];
      const LayerShape& sh = shapes_[l];
      const std::int64_t isz = numel(sh.in), osz = numel(sh.out);
      if (ls.kind == LayerKind::kFlatten) continue;
      const bool dx_needed = need_dx_[l];
      const float* x = ptr[l];
      const float* y = ptr[l + 1];
      float* dx = other;
      switch (ls.kind) {
        case LayerKind::kConv2D:
          cpu_layers::conv_backward(layer(l, slot), x, y, cur, dx_needed ? dx : nullptr, n, slot.cols.data(), slot.dcols.data());
          break;
        case LayerKind::kMaxPool: if (dx_needed) cpu_layers::pool_backward(layer(l, slot), cur, argmax_[l].data() + off * osz, dx, n); break;
        case LayerKind::kDense: cpu_layers::dense_backward(layer(l, slot), x, y, cur, dx_needed ? dx : nullptr, n); break;
        case LayerKind::kDropout: if (dx_needed) cpu_layers::dropout_backward(layer(l, slot), cur, mask_[l].data() + off * osz, dx, n); break;
        case LayerKind::kReLU: if (dx_needed) cpu_layers::relu_backward(y, cur, dx, n * osz); break;
        case LayerKind::kFlatten: break;
      }
      if (!dx_needed) break;
      round_span(dx, static_cast<std::size_t>(n * isz));
      std::swap(cur, other);
    }
    return st;
  }

  ModelSpec spec_;
  Hwc input_;
  BackendConfig cfg_;
  std::vector<LayerShape> shapes_;
  std::vector<ParamInfo> pinfo_;
  int ctype_;
  LossScaler scaler_;
  int slots_;
  tbb::task_arena arena_;
  std::vector<int> layer_param_;  // layer -> index of its kernel in params_ (bias follows), or -1
  std::vector<bool> need_dx_;
  std::int64_t max_act_ = 0, max_ws_ = 0, cap_ = 0;
  std::int64_t t_ = 0;  // optimizer steps applied
  std::vector<std::vector<float>> params_, grads_, m_, v_, cparams_;
  std::vector<std::vector<float>> act_;  // act_[l + 1]: output of layer l for the micro-batch (empty for flatten)
  std::vector<std::vector<std::int32_t>> argmax_;
  std::vector<std::vector<std::uint8_t>> mask_;
  std::vector<Slot> slot_;
};

}  // namespace

int cpu_backend_slots(int num_threads) {
  if (num_threads > 0) return num_threads;
  return std::max(1, tbb::this_task_arena::max_concurrency());
}

std::unique_ptr<Backend> make_cpu_backend(const ModelSpec& spec, const Hwc& input, const BackendConfig& config) {
  return std::make_unique<CpuBackend>(spec, input, config);
}

}  // namespace stoker
