// The CPU backend's per-chunk arithmetic: the input cast, one forward and one backward function
// per layer kind, and the loss, on one chunk of n samples (cpu_backend.h: each chunk runs as one
// TBB task). Internal to trainer/ (only cpu_backend.cc calls them).
//
// Shapes: x [n, in], y [n, out], NHWC flattened per sample, float32. dy is the gradient of y
// (modified in place by a fused relu); dx receives the gradient of x (nullptr: not needed).
// Weight gradients are added (+=) to the chunk's own gradient copy; nothing here allocates:
// conv's im2col workspace is the caller's, sized for conv_group_size() samples (planner.h).
// Under mixed precision the caller rounds outputs and gradients; arithmetic here is fp32.
#pragma once

#include <cstdint>

#include "trainer/backend.h"
#include "trainer/model_spec.h"

namespace stoker::cpu_layers {

// One layer as its functions see it: its spec and shape, the weights the arithmetic uses (the
// master weights or their rounded compute copy) and the chunk's gradients. Not owned; w/b/dw/db
// are null for layers without parameters.
struct Layer {
  const LayerSpec& spec;
  const LayerShape& shape;
  const float* w = nullptr;  // conv HWIO [KH*KW*C, F]; dense [in, out] (Keras layouts)
  const float* b = nullptr;  // [out channels]
  float* dw = nullptr;       // same layout as w
  float* db = nullptr;
};

// x0 [n, in_sz] = the images of samples [first, first + n) of `b` (uint8 or float32, host memory)
// cast to float, times `scale`, rounded to compute type `ct` (kmath::round_to). Throws
// kUnsupported for any other dtype.
void cast_input(const BatchView& b, std::int64_t first, std::int64_t n, std::int64_t in_sz, int ct, float scale, float* x0);

// Softmax cross-entropy of logits [n, classes] against the labels of samples [first, first + n)
// of `b`: the samples' losses and correct predictions, and (dy not null) the gradient of
// grad_scale * loss into dy [n, classes]. Throws kInvalidArgument naming the sample for a
// sparse label outside [0, classes).
StepStats softmax_xent(const BatchView& b, std::int64_t first, std::int64_t n, int classes, const float* logits,
                       float grad_scale, float* dy);

// y = x W + b (then relu).  W [in, out] (Keras layout), b [out].
void dense_forward(const Layer& L, const float* x, float* y, std::int64_t n);
// dW += x^T dz, db += sum_i dz, dx = dz W^T, with dz = dy masked by the fused relu.
void dense_backward(const Layer& L, const float* x, const float* y, float* dy, float* dx, std::int64_t n);

// y = x * mask / keep; mask [n, out] drawn from (seed, layer, step, sample index first + i, j).
void dropout_forward(const Layer& L, std::uint64_t seed, int layer, const float* x, float* y, std::uint8_t* mask,
                     std::int64_t n, std::int64_t first, std::uint64_t step);
void dropout_backward(const Layer& L, const float* dy, const std::uint8_t* mask, float* dx, std::int64_t n);

void relu_forward(const float* x, float* y, std::int64_t count);
void relu_backward(const float* y, const float* dy, float* dx, std::int64_t count);

// Max pooling; window positions in row-major order, the first maximum wins (ties keep the
// earliest position). argmax [n, out] holds the index in the sample's input of each maximum.
void pool_forward(const Layer& L, const float* x, float* y, std::int32_t* argmax, std::int64_t n);
// dx = 0, then each output's gradient goes to the input its max came from.
void pool_backward(const Layer& L, const float* dy, const std::int32_t* argmax, float* dx, std::int64_t n);

// Convolution as im2col + sgemm over groups of conv_group_size() samples. cols and dcols hold
// one group's columns [g*OH*OW, KH*KW*C].
// y = conv(x, W) + b (then relu).
void conv_forward(const Layer& L, const float* x, float* y, std::int64_t n, float* cols);
// dz = dy masked by the fused relu; db += sum dz; dW += cols^T dz; dx = col2im(dz W^T).
void conv_backward(const Layer& L, const float* x, const float* y, float* dy, float* dx, std::int64_t n, float* cols,
                   float* dcols);

}  // namespace stoker::cpu_layers
