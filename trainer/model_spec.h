// ModelSpec: a sequential model described in a short text, plus its shapes and parameters.
//
//   "conv2d(32,3,relu) maxpool(2) flatten dense(10,softmax)"          (preset "seed")
//   "conv2d(32,5,same,relu) maxpool(2) conv2d(64,5,same,relu) maxpool(2) flatten
//    dense(1024,relu) dropout(0.4) dense(10,softmax)"                   (preset "convnet")
//
// Layers: conv2d(filters, kernel[, stride][, valid|same][, relu|linear]) (also key=value:
// filters=, kernel=, stride=, padding=, activation=), maxpool(pool[, stride]) (valid padding,
// stride defaults to pool, as Keras), flatten, dense(units[, relu|softmax|linear]),
// dropout(rate), relu, softmax. The model's last output is a vector of logits: a softmax at the
// end (as an activation or a layer) is fused into the cross-entropy loss and must be last.
// Tensors are NHWC; weights use Keras' layouts (conv HWIO [kh,kw,in,out], dense [in,out]) so a
// weights file means the same thing on every backend.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace stoker {

enum class LayerKind { kConv2D, kMaxPool, kFlatten, kDense, kDropout, kReLU };
enum class Activation { kLinear, kReLU };

struct LayerSpec {
  LayerKind kind = LayerKind::kFlatten;
  int units = 0;          // conv filters or dense units
  int kernel = 0;         // conv kernel size or pool size
  int stride = 1;         // conv / pool stride
  bool same = false;      // conv padding "same" (else "valid")
  Activation activation = Activation::kLinear;
  float rate = 0.f;       // dropout rate
};

// Height, width, channels of one sample (flattened vectors: [1, 1, n]).
using Hwc = std::array<std::int64_t, 3>;
inline std::int64_t numel(const Hwc& s) { return s[0] * s[1] * s[2]; }

struct LayerShape {
  Hwc in, out;
  std::int64_t pad_top = 0, pad_left = 0;  // conv "same" padding (Keras/TF split: extra at the bottom/right)
};

struct ParamInfo {
  std::string name;                 // "conv2d_0/kernel"
  std::vector<std::int64_t> shape;  // Keras layout
  std::int64_t size = 0;
  std::int64_t fan_in = 0, fan_out = 0;  // for Glorot; 0 for biases
  int layer = 0;
};

// Which parameters each layer owns, as both backends index them.
struct LayerParams {
  std::vector<int> param;     // layer -> index of its kernel in params() (its bias follows), or -1
  std::vector<bool> need_dx;  // layer passes a gradient to its input: some layer below has weights
};
LayerParams layer_params(const std::vector<ParamInfo>& params, std::size_t layers);

class ModelSpec {
 public:
  ModelSpec() = default;
  // Parses the text form; throws Error(kInvalidArgument) naming the bad token.
  static ModelSpec parse(const std::string& text);
  // "seed" (the seed's Keras model) or "convnet" (TensorFlow's layers tutorial), with `classes` outputs.
  static ModelSpec preset(const std::string& name, int classes = 10);
  // A preset name or a spec text.
  static ModelSpec from_string(const std::string& text_or_preset, int classes = 10);

  const std::vector<LayerSpec>& layers() const { return layers_; }
  std::string to_string() const;  // canonical text; parse(to_string()) gives the same model

  // Shapes of every layer for `input`; throws kInvalidArgument when a layer does not fit
  // (e.g. a kernel larger than its input) or the model does not end in a dense layer.
  std::vector<LayerShape> shapes(const Hwc& input) const;
  std::vector<ParamInfo> params(const Hwc& input) const;
  int classes() const;  // units of the last dense layer

  // Glorot-uniform kernels and zero biases, as Keras initialises them; deterministic in `seed`.
  std::vector<std::vector<float>> init_params(const Hwc& input, std::uint64_t seed) const;

 private:
  std::vector<LayerSpec> layers_;
};

}  // namespace stoker
