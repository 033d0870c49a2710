// CUDA backend: cuDNN (legacy v7-style API, still shipped in cuDNN 9) for convolution, pooling
// and standalone relu; cuBLAS (GemmEx, fp32 accumulate) for dense layers; our own kernels
// (cuda_kernels.h over kernels_math.h) for casts, bias + fused relu, dropout, softmax
// cross-entropy, gradient accumulation, finiteness and the optimizer.
//
// Layout: activations NHWC in the compute type (fp32, fp16 or bf16); master weights, gradients
// and optimizer state fp32 in one device block each. Conv kernels are stored KRSC (cuDNN's NHWC
// filter layout) on the device and transposed from/to Keras' HWIO at get/set_params. Under
// mixed precision a compute copy of the weights (refreshed after each update) feeds cuDNN and
// cuBLAS, and weight gradients are produced in the compute type and added to the fp32 gradients.
// Memory: every buffer is allocated in reserve() for the largest micro-batch; the cuDNN
// workspace is capped (PlanTarget::cuda_workspace) and algorithms are chosen within it.
// Input: a host batch (pageable or pinned) is uploaded micro-batch by micro-batch on the compute
// stream (the serial path); a device batch (BatchView::on_device, from the DeviceFeeder, already
// waited for on stream()) is read in place: the uint8->float cast and the loss read its slices.
// Limits: "same" padding must be symmetric (odd kernels at stride 1), as legacy cuDNN pads
// symmetrically; other cases throw kUnsupported.
// Files: this one holds the backend (buffers, the step, the optimizer, parameter I/O); each
// layer's descriptors and forward/backward are in cuda_layers.cc, the device RAII in cuda_handles.h.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "pipeline/error.h"
#include "trainer/backend.h"
#include "device/cuda_check.h"
#include "trainer/cuda_handles.h"
#include "trainer/cuda_kernels.h"
#include "trainer/cuda_layers.h"
#include "trainer/distributed.h"
#include "trainer/planner.h"

namespace stoker {

bool cuda_backend_available() { return cuda_device_available(); }

std::pair<std::size_t, std::size_t> cuda_backend_memory_info() {
  std::size_t f = 0, t = 0;
  if (!cuda_backend_available() || cudaMemGetInfo(&f, &t) != cudaSuccess) return {0, 0};
  return {f, t};
}

namespace {

namespace ck = cuda_kernels;

using detail::CudaHandles;
using detail::DevBuf;

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelSpec& spec, const Hwc& input, const BackendConfig& cfg)
      : spec_(spec), input_(input), cfg_(cfg), shapes_(spec.shapes(input)), pinfo_(spec.params(input)),
        ct_(compute_type_code(cfg.precision)), esz_(ct_ ? 2 : 4), scaler_(LossScaler::for_precision(cfg.precision)) {
    // Checked before any handle exists: a constructor that throws runs no destructor.
    for (const LayerSpec& ls : spec_.layers()) {
      if (ls.kind == LayerKind::kConv2D && ls.same && (ls.stride != 1 || ls.kernel % 2 == 0)) {
        throw Error(ErrorCode::kUnsupported,
                    "cuda backend: conv2d 'same' padding with an even kernel or a stride > 1 pads asymmetrically, "
                    "which cuDNN's legacy API cannot express; use 'valid' padding or the cpu backend",
                    {"trainer/cuda"});
      }
    }
    dt_ = ct_ == 0 ? CUDNN_DATA_FLOAT : ct_ == 1 ? CUDNN_DATA_HALF : CUDNN_DATA_BFLOAT16;
    blas_t_ = ct_ == 0 ? CUDA_R_32F : ct_ == 1 ? CUDA_R_16F : CUDA_R_16BF;
    STOKER_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    STOKER_CUDA_CHECK(cublasCreate(&blas_));
    STOKER_CUDA_CHECK(cublasSetStream(blas_, stream_));
    STOKER_CUDA_CHECK(cudnnCreate(&dnn_));
    STOKER_CUDA_CHECK(cudnnSetStream(dnn_, stream_));
    STOKER_CUDA_CHECK(cudnnCreateActivationDescriptor(&relu_));
    STOKER_CUDA_CHECK(cudnnSetActivationDescriptor(relu_, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));

    LayerParams lp = layer_params(pinfo_, shapes_.size());
    layer_param_ = std::move(lp.param);
    need_dx_ = std::move(lp.need_dx);
    for (const auto& p : pinfo_) {
      poff_.push_back(ptotal_);
      ptotal_ += p.size;
    }
    const std::size_t pb = static_cast<std::size_t>(ptotal_) * 4;
    w_.alloc(pb), g_.alloc(pb), m_.alloc(pb);
    STOKER_CUDA_CHECK(cudaMemset(m_.get(), 0, pb));
    if (cfg.optimizer.kind == OptimizerConfig::kAdam) {
      v_.alloc(pb);
      STOKER_CUDA_CHECK(cudaMemset(v_.get(), 0, pb));
    }
    if (ct_) cw_.alloc(static_cast<std::size_t>(ptotal_) * esz_), cg_.alloc(static_cast<std::size_t>(ptotal_) * esz_);
    flag_.alloc(sizeof(int) * 2);

    dev_.resize(shapes_.size());
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      cuda_layers::create_descriptors(spec_.layers()[l], shapes_[l], dt_, ct_, dev_[l]);
    }
    set_params(spec.init_params(input, cfg.seed));
  }

  // Buffers (declared after h_) are freed first, then the handles; the stream is drained first.
  ~CudaBackend() override { cudaStreamSynchronize(stream_); }

  std::string name() const override { return "cuda"; }
  PlanTarget plan_target() const override { return PlanTarget{true, 1}; }
  std::size_t memory_available() const override { return cuda_backend_memory_info().first; }
  StreamHandle stream() const override { return stream_; }

  void reserve(std::int64_t max_batch) override {
    if (max_batch <= cap_) return;
    cap_ = max_batch;
    const std::size_t n = static_cast<std::size_t>(max_batch);
    std::int64_t max_act = numel(input_);
    act_.clear();
    act_.resize(shapes_.size() + 1);
    act_[0].alloc(n * static_cast<std::size_t>(numel(input_)) * esz_);
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      max_act = std::max(max_act, numel(shapes_[l].out));
      if (spec_.layers()[l].kind != LayerKind::kFlatten) act_[l + 1].alloc(n * static_cast<std::size_t>(numel(shapes_[l].out)) * esz_);
    }
    grad_a_.alloc(n * static_cast<std::size_t>(max_act) * esz_);
    grad_b_.alloc(n * static_cast<std::size_t>(max_act) * esz_);
    raw_x_.alloc(n * static_cast<std::size_t>(numel(input_)) * 4);
    const int classes = spec_.classes();
    raw_y_.alloc(n * std::max<std::size_t>(8, static_cast<std::size_t>(classes) * 4));
    logits_.alloc(n * static_cast<std::size_t>(classes) * 4);
    dlogits_.alloc(n * static_cast<std::size_t>(classes) * 4);
    loss_.alloc(n * 4);
    correct_.alloc(n * 4);
    host_loss_.resize(n);
    host_correct_.resize(n);
    ws_.alloc(PlanTarget{}.cuda_workspace);
    cur_n_ = 0;
  }

  void zero_grads() override { STOKER_CUDA_CHECK(cudaMemsetAsync(g_.get(), 0, static_cast<std::size_t>(ptotal_) * 4, stream_)); }

  StepStats forward_backward(const BatchView& b, std::int64_t begin, std::int64_t count, float loss_weight,
                             std::uint64_t step) override {
    return run(b, begin, count, true, loss_weight, step);
  }
  StepStats evaluate(const BatchView& b, std::int64_t begin, std::int64_t count) override {
    return run(b, begin, count, false, 0.f, 0);
  }

  bool apply_gradients() override {
    int* flag = flag_.get<int>();
    STOKER_CUDA_CHECK(cudaMemsetAsync(flag, 0, sizeof(int), stream_));
    ck::check_finite(g_.get<float>(), ptotal_, flag, stream_);
    STOKER_CUDA_CHECK(cudaGetLastError());
    int host_flag = 0;
    STOKER_CUDA_CHECK(cudaMemcpyAsync(&host_flag, flag, sizeof(int), cudaMemcpyDeviceToHost, stream_));
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    const float inv = 1.f / scaler_.scale;
    if (!scaler_.update(host_flag == 0)) return false;
    ++t_;
    const OptimizerConfig& o = cfg_.optimizer;
    const kmath::AdamParams ap = adam_params(o, t_);
    if (o.kind == OptimizerConfig::kAdam) {
      ck::adam(w_.get<float>(), m_.get<float>(), v_.get<float>(), g_.get<float>(), ptotal_, inv, ap, stream_);
    } else {
      ck::sgd(w_.get<float>(), m_.get<float>(), g_.get<float>(), ptotal_, inv, ap.lr, o.momentum, stream_);
    }
    if (ct_) ck::convert(w_.get(), 0, cw_.get(), ct_, ptotal_, stream_);
    STOKER_CUDA_CHECK(cudaGetLastError());
    return true;
  }

  void set_optimizer(const OptimizerConfig& o) override { cfg_.optimizer = o; }

  // Data parallel: NCCL on stream_ when the communicator has it; otherwise the flat fp32 gradient
  // goes through host memory to the MPI all-reduce and back (2 x 4 bytes per parameter a step).
  void reduce_gradients(Communicator& comm) override {
    if (comm.all_reduce_sum_device(g_.get<float>(), static_cast<std::size_t>(ptotal_), stream_)) return;
    std::vector<float> flat(static_cast<std::size_t>(ptotal_));
    STOKER_CUDA_CHECK(cudaMemcpyAsync(flat.data(), g_.get(), flat.size() * 4, cudaMemcpyDeviceToHost, stream_));
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    comm.all_reduce_sum(flat.data(), flat.size());
    STOKER_CUDA_CHECK(cudaMemcpyAsync(g_.get(), flat.data(), flat.size() * 4, cudaMemcpyHostToDevice, stream_));
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  std::vector<std::vector<float>> get_params() const override { return download(w_.get<float>(), 1.f); }
  std::vector<std::vector<float>> get_grads() const override { return download(g_.get<float>(), 1.f / scaler_.scale); }

  void set_params(const std::vector<std::vector<float>>& p) override {
    upload(p, w_.get<float>(), "set_params");
    if (ct_) ck::convert(w_.get(), 0, cw_.get(), ct_, ptotal_, stream_);
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  OptimizerState get_optimizer_state() const override {
    OptimizerState s{t_, download(m_.get<float>(), 1.f), {}, scaler_};
    if (cfg_.optimizer.kind == OptimizerConfig::kAdam) s.v = download(v_.get<float>(), 1.f);
    return s;
  }
  void set_optimizer_state(const OptimizerState& s) override {
    upload(s.m, m_.get<float>(), "set_optimizer_state: m");
    if (cfg_.optimizer.kind == OptimizerConfig::kAdam) upload(s.v, v_.get<float>(), "set_optimizer_state: v");
    else if (!s.v.empty()) throw Error(ErrorCode::kInvalidArgument, "set_optimizer_state: SGD keeps no second moment");
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    t_ = s.applied;
    scaler_ = s.scaler;
  }

  const LossScaler& loss_scaler() const override { return scaler_; }
  void set_loss_scaler(const LossScaler& s) override { scaler_ = s; }

  std::size_t bytes_allocated() const override {
    std::size_t b = w_.bytes() + g_.bytes() + m_.bytes() + v_.bytes() + cw_.bytes() + cg_.bytes() + ws_.bytes();
    for (const auto& a : act_) b += a.bytes();
    return b + grad_a_.bytes() + grad_b_.bytes() + raw_x_.bytes() + raw_y_.bytes() + logits_.bytes() +
           dlogits_.bytes() + loss_.bytes() + correct_.bytes();
  }

 private:

  // Copies Keras-layout tensors `p` (one per ParamInfo) to `dst`, a device buffer in this
  // backend's layout (conv kernels KRSC); synchronous with the host vector (pageable memcpy).
  void upload(const std::vector<std::vector<float>>& p, float* dst_dev, const char* what) {
    std::vector<float> flat = cuda_layers::to_device_layout(p, pinfo_, poff_, ptotal_, what);
    STOKER_CUDA_CHECK(cudaMemcpyAsync(dst_dev, flat.data(), flat.size() * 4, cudaMemcpyHostToDevice, stream_));
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `flat` dies at return
  }

  std::vector<std::vector<float>> download(const float* src, float scale) const {
    std::vector<float> flat(static_cast<std::size_t>(ptotal_));
    STOKER_CUDA_CHECK(cudaMemcpyAsync(flat.data(), src, flat.size() * 4, cudaMemcpyDeviceToHost, stream_));
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return cuda_layers::from_device_layout(flat, pinfo_, poff_, scale);
  }

  // Weights / gradient targets of parameter p in the compute type.
  void* wptr(std::size_t p) const {
    return ct_ ? static_cast<void*>(cw_.get<char>() + poff_[p] * 2) : static_cast<void*>(w_.get<float>() + poff_[p]);
  }
  float* gptr(std::size_t p) const { return g_.get<float>() + poff_[p]; }
  void* cgptr(std::size_t p) const { return cg_.get<char>() + poff_[p] * 2; }

  // Descriptors and algorithms for micro-batches of n samples.
  void set_batch(std::int64_t n) {
    if (n == cur_n_) return;
    cur_n_ = n;
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      cuda_layers::set_batch(dnn_, shapes_[l], dt_, cfg_.precision, static_cast<int>(n), ws_.bytes(), dev_[l]);
    }
  }

  // What cuda_layers' functions queue their work with; the workspace is the one reserve() made.
  cuda_layers::Ctx ctx() const { return {dnn_, blas_, stream_, relu_, ct_, blas_t_, ws_.get(), ws_.bytes(), cfg_.seed}; }
  // Layer l with its descriptors and its parameters on the device.
  cuda_layers::Layer layer(std::size_t l) const {
    cuda_layers::Layer L{spec_.layers()[l], shapes_[l], dev_[l], static_cast<int>(l)};
    if (layer_param_[l] >= 0) {
      const std::size_t p = static_cast<std::size_t>(layer_param_[l]);
      L.w = wptr(p), L.b = wptr(p + 1), L.dw = gptr(p), L.db = gptr(p + 1), L.w_size = pinfo_[p].size;
      if (ct_) L.cdw = cgptr(p);
    }
    return L;
  }

  StepStats run(const BatchView& b, std::int64_t begin, std::int64_t n, bool train, float loss_weight,
                std::uint64_t step) {
    if (n <= 0) return {};
    reserve(n);
    set_batch(n);
    const cuda_layers::Ctx c = ctx();
    const std::int64_t in_sz = numel(input_);
    const int classes = spec_.classes();
    if (b.x_dtype != DType::kU8 && b.x_dtype != DType::kF32) {
      throw Error(ErrorCode::kUnsupported, std::string("trainer: images must be uint8 or float32, got ") + dtype_name(b.x_dtype));
    }
    const std::size_t xsz = dtype_size(b.x_dtype);
    const int label_kind = b.one_hot ? 2 : b.y_dtype == DType::kI64 ? 1 : 0;
    const std::size_t ysz = b.one_hot ? static_cast<std::size_t>(classes) * 4 : dtype_size(b.y_dtype);
    const void* x_src = static_cast<const char*>(b.x) + begin * in_sz * static_cast<std::int64_t>(xsz);
    const void* labels = static_cast<const char*>(b.y) + begin * static_cast<std::int64_t>(ysz);
    if (!b.on_device) {
      // Serial path: the micro-batch is uploaded on the compute stream (pageable or pinned host
      // memory; cudaMemcpyDefault lets unified addressing pick the direction).
      STOKER_CUDA_CHECK(cudaMemcpyAsync(raw_x_.get(), x_src, static_cast<std::size_t>(n * in_sz) * xsz, cudaMemcpyDefault, stream_));
      STOKER_CUDA_CHECK(cudaMemcpyAsync(raw_y_.get(), labels, static_cast<std::size_t>(n) * ysz, cudaMemcpyDefault, stream_));
      x_src = raw_x_.get();
      labels = raw_y_.get();
    }
    // Device batches (the feeder's) are read in place: the cast below is the first reader of the
    // micro-batch's slice, the loss kernel the reader of its labels; no copy on this stream.
    ck::cast_input(x_src, b.x_dtype == DType::kU8, cfg_.input_scale, act_[0].get(), ct_, n * in_sz, stream_);

    // Forward. ptr[l]: input of layer l.
    std::vector<void*> ptr(shapes_.size() + 1, nullptr);
    ptr[0] = act_[0].get();
    for (std::size_t l = 0; l < shapes_.size(); ++l) {
      const LayerKind kind = spec_.layers()[l].kind;
      if (kind == LayerKind::kFlatten || (kind == LayerKind::kDropout && !train)) {
        ptr[l + 1] = ptr[l];  // passes its input through (dropout is the identity in inference)
        continue;
      }
      void* y = act_[l + 1].get();
      ptr[l + 1] = y;
      const void* x = ptr[l];
      switch (kind) {
        case LayerKind::kConv2D: cuda_layers::conv_forward(c, layer(l), x, y, n); break;
        case LayerKind::kMaxPool: cuda_layers::pool_forward(c, layer(l), x, y); break;
        case LayerKind::kDense: cuda_layers::dense_forward(c, layer(l), x, y, n); break;
        case LayerKind::kDropout: cuda_layers::dropout_forward(c, layer(l), x, y, n, begin, step); break;
        case LayerKind::kReLU: cuda_layers::relu_forward(c, layer(l), x, y); break;
        case LayerKind::kFlatten: break;
      }
    }

    // Loss in fp32 on the logits (Keras keeps the output layer's softmax in float32 too).
    ck::convert(ptr[shapes_.size()], ct_, logits_.get(), 0, n * classes, stream_);
    int* bad = flag_.get<int>() + 1;
    STOKER_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), stream_));
    ck::softmax_xent(logits_.get<float>(), classes, n, labels, label_kind, loss_weight * scaler_.scale,
                     train ? dlogits_.get<float>() : nullptr, loss_.get<float>(), correct_.get<int>(), bad, stream_);
    STOKER_CUDA_CHECK(cudaGetLastError());
    int host_bad = 0;
    STOKER_CUDA_CHECK(cudaMemcpyAsync(host_loss_.data(), loss_.get(), static_cast<std::size_t>(n) * 4, cudaMemcpyDeviceToHost, stream_));
    STOKER_CUDA_CHECK(cudaMemcpyAsync(host_correct_.data(), correct_.get(), static_cast<std::size_t>(n) * 4, cudaMemcpyDeviceToHost, stream_));
    STOKER_CUDA_CHECK(cudaMemcpyAsync(&host_bad, bad, sizeof(int), cudaMemcpyDeviceToHost, stream_));

    if (train) {
      ck::convert(dlogits_.get(), 0, grad_a_.get(), ct_, n * classes, stream_);
      void* cur = grad_a_.get();
      void* other = grad_b_.get();
      for (std::size_t l = shapes_.size(); l-- > 0;) {
        const LayerKind kind = spec_.layers()[l].kind;
        if (kind == LayerKind::kFlatten) continue;
        void* dx = need_dx_[l] ? other : nullptr;  // cur: the gradient of layer l's output
        const void* x = ptr[l];
        const void* y = ptr[l + 1];
        switch (kind) {
          case LayerKind::kConv2D: cuda_layers::conv_backward(c, layer(l), x, y, cur, dx, n); break;
          case LayerKind::kMaxPool: if (dx) cuda_layers::pool_backward(c, layer(l), x, y, cur, dx); break;
          case LayerKind::kDense: cuda_layers::dense_backward(c, layer(l), x, y, cur, dx, n); break;
          // The same mask on the gradient: dx = dy * mask / keep.
          case LayerKind::kDropout: if (dx) cuda_layers::dropout_forward(c, layer(l), cur, dx, n, begin, step); break;
          case LayerKind::kReLU: if (dx) cuda_layers::relu_backward(c, layer(l), x, y, cur, dx); break;
          case LayerKind::kFlatten: break;
        }
        if (!dx) break;
        std::swap(cur, other);
      }
      STOKER_CUDA_CHECK(cudaGetLastError());
    }
    STOKER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    if (host_bad) {
      throw Error(ErrorCode::kInvalidArgument, "a label is outside [0, " + std::to_string(classes) + ")",
                  {"trainer", "", begin + host_bad - 1});
    }
    StepStats st;
    st.count = n;
    for (std::int64_t i = 0; i < n; ++i) {
      st.loss_sum += host_loss_[static_cast<std::size_t>(i)];
      st.correct += host_correct_[static_cast<std::size_t>(i)];
    }
    return st;
  }

  CudaHandles h_;  // first member: constructed first, destroyed last
  ModelSpec spec_;
  Hwc input_;
  BackendConfig cfg_;
  std::vector<LayerShape> shapes_;
  std::vector<ParamInfo> pinfo_;
  int ct_;
  std::size_t esz_;
  LossScaler scaler_;
  cudnnDataType_t dt_{};
  cudaDataType_t blas_t_{};
  cudaStream_t& stream_ = h_.stream;
  cublasHandle_t& blas_ = h_.blas;
  cudnnHandle_t& dnn_ = h_.dnn;
  cudnnActivationDescriptor_t& relu_ = h_.relu;
  std::vector<int> layer_param_;
  std::vector<bool> need_dx_;
  std::vector<std::int64_t> poff_;
  std::int64_t ptotal_ = 0, cap_ = 0, cur_n_ = 0, t_ = 0;
  DevBuf w_, g_, m_, v_, cw_, cg_, flag_, ws_, grad_a_, grad_b_, raw_x_, raw_y_, logits_, dlogits_, loss_, correct_;
  std::vector<DevBuf> act_;
  std::vector<cuda_layers::LayerDev>& dev_ = h_.dev;
  std::vector<float> host_loss_;
  std::vector<int> host_correct_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const ModelSpec& spec, const Hwc& input, const BackendConfig& config) {
  return std::make_unique<CudaBackend>(spec, input, config);
}

}  // namespace stoker
