// ModelSpec parsing, shape inference and Keras-style initialisation (see model_spec.h).
#include "trainer/model_spec.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "pipeline/error.h"
#include "pipeline/rng.h"

namespace stoker {
namespace {

[[noreturn]] void bad(const std::string& token, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "model spec: '" + token + "': " + why, {"model"});
}

std::vector<std::string> split_args(const std::string& token, const std::string& inside) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : inside) {
    if (c == ',') {
      out.push_back(cur);
      cur.clear();
    } else if (!std::isspace(static_cast<unsigned char>(c))) {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  for (auto& a : out) {
    if (a.empty()) bad(token, "empty argument");
  }
  return out;
}

int to_int(const std::string& token, const std::string& s) {
  try {
    std::size_t pos = 0;
    int v = std::stoi(s, &pos);
    if (pos != s.size() || v <= 0) throw 0;
    return v;
  } catch (...) {
    bad(token, "'" + s + "' is not a positive integer");
  }
}

float to_rate(const std::string& token, const std::string& s) {
  try {
    std::size_t pos = 0;
    float v = std::stof(s, &pos);
    if (pos != s.size() || !(v >= 0.f && v < 1.f)) throw 0;
    return v;
  } catch (...) {
    bad(token, "dropout rate '" + s + "' must be in [0, 1)");
  }
}

}  // namespace

ModelSpec ModelSpec::parse(const std::string& text) {
  // Tokens are separated by whitespace outside parentheses (or by '-' / ';' / '|').
  std::vector<std::string> tokens;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    bool sep = depth == 0 && (std::isspace(static_cast<unsigned char>(c)) || c == ';' || c == '|');
    if (sep) {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) tokens.push_back(cur);
  if (depth != 0) bad(text, "unbalanced parentheses");

  ModelSpec spec;
  bool softmax_seen = false;
  for (const std::string& token : tokens) {
    if (softmax_seen) bad(token, "nothing may follow softmax (it is fused into the loss)");
    std::string name = token, inside;
    if (auto p = token.find('('); p != std::string::npos) {
      if (token.back() != ')') bad(token, "expected name(args)");
      name = token.substr(0, p);
      inside = token.substr(p + 1, token.size() - p - 2);
    }
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::vector<std::string> args = split_args(token, inside);
    LayerSpec l;
    auto activation = [&](const std::string& a) -> bool {
      if (a == "relu") l.activation = Activation::kReLU;
      else if (a == "linear" || a == "none") l.activation = Activation::kLinear;
      else if (a == "softmax") softmax_seen = true;
      else return false;
      return true;
    };
    if (name == "conv2d" || name == "conv") {
      l.kind = LayerKind::kConv2D;
      int positional = 0;
      for (const auto& a : args) {
        auto eq = a.find('=');
        std::string key = eq == std::string::npos ? "" : a.substr(0, eq);
        std::string val = eq == std::string::npos ? a : a.substr(eq + 1);
        if (key == "padding" || (key.empty() && (val == "same" || val == "valid"))) {
          if (val != "same" && val != "valid") bad(token, "padding must be valid or same");
          l.same = val == "same";
        } else if (key == "activation" || (key.empty() && !std::isdigit(static_cast<unsigned char>(val[0])))) {
          if (!activation(val)) bad(token, "unknown activation '" + val + "'");
        } else if (key == "filters" || (key.empty() && positional == 0)) {
          l.units = to_int(token, val), positional = std::max(positional, 1);
        } else if (key == "kernel" || key == "kernel_size" || (key.empty() && positional == 1)) {
          l.kernel = to_int(token, val), positional = std::max(positional, 2);
        } else if (key == "stride" || key == "strides" || (key.empty() && positional == 2)) {
          l.stride = to_int(token, val), positional = std::max(positional, 3);
        } else {
          bad(token, "unexpected argument '" + a + "'");
        }
      }
      if (l.units == 0 || l.kernel == 0) bad(token, "conv2d needs filters and kernel");
    } else if (name == "maxpool" || name == "maxpool2d" || name == "pool") {
      l.kind = LayerKind::kMaxPool;
      if (args.empty() || args.size() > 2) bad(token, "maxpool(pool[, stride])");
      l.kernel = to_int(token, args[0]);
      l.stride = args.size() == 2 ? to_int(token, args[1]) : l.kernel;
    } else if (name == "flatten") {
      l.kind = LayerKind::kFlatten;
      if (!args.empty()) bad(token, "flatten takes no arguments");
    } else if (name == "dense") {
      l.kind = LayerKind::kDense;
      if (args.empty() || args.size() > 2) bad(token, "dense(units[, activation])");
      l.units = to_int(token, args[0]);
      if (args.size() == 2 && !activation(args[1])) bad(token, "unknown activation '" + args[1] + "'");
    } else if (name == "dropout") {
      l.kind = LayerKind::kDropout;
      if (args.size() != 1) bad(token, "dropout(rate)");
      l.rate = to_rate(token, args[0]);
    } else if (name == "relu") {
      l.kind = LayerKind::kReLU;
    } else if (name == "softmax") {
      softmax_seen = true;
      continue;
    } else {
      bad(token, "unknown layer (conv2d, maxpool, flatten, dense, dropout, relu, softmax)");
    }
    spec.layers_.push_back(l);
  }
  if (spec.layers_.empty()) bad(text, "empty model");
  if (spec.layers_.back().kind != LayerKind::kDense) bad(text, "the model must end with a dense layer (the logits)");
  if (spec.layers_.back().activation != Activation::kLinear) {
    bad(text, "the last dense layer gives the logits: use no activation or softmax");
  }
  return spec;
}

ModelSpec ModelSpec::preset(const std::string& name, int classes) {
  std::string c = std::to_string(classes);
  if (name == "seed") return parse("conv2d(32,3,relu) maxpool(2) flatten dense(" + c + ",softmax)");
  if (name == "convnet") {
    return parse("conv2d(32,5,same,relu) maxpool(2) conv2d(64,5,same,relu) maxpool(2) flatten dense(1024,relu) "
                 "dropout(0.4) dense(" + c + ",softmax)");
  }
  throw Error(ErrorCode::kInvalidArgument, "unknown model preset '" + name + "' (seed, convnet)", {"model"});
}

ModelSpec ModelSpec::from_string(const std::string& text, int classes) {
  if (text == "seed" || text == "convnet") return preset(text, classes);
  return parse(text);
}

std::string ModelSpec::to_string() const {
  std::ostringstream os;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    if (i) os << ' ';
    const char* act = l.activation == Activation::kReLU ? ",relu" : "";
    switch (l.kind) {
      case LayerKind::kConv2D:
        os << "conv2d(" << l.units << ',' << l.kernel << ',' << l.stride << ',' << (l.same ? "same" : "valid") << act << ')';
        break;
      case LayerKind::kMaxPool: os << "maxpool(" << l.kernel << ',' << l.stride << ')'; break;
      case LayerKind::kFlatten: os << "flatten"; break;
      case LayerKind::kDense: os << "dense(" << l.units << act << ')'; break;
      case LayerKind::kDropout: os << "dropout(" << l.rate << ')'; break;
      case LayerKind::kReLU: os << "relu"; break;
    }
  }
  os << " softmax";
  return os.str();
}

int ModelSpec::classes() const { return layers_.empty() ? 0 : layers_.back().units; }

std::vector<LayerShape> ModelSpec::shapes(const Hwc& input) const {
  std::vector<LayerShape> out;
  Hwc cur = input;
  if (cur[0] <= 0 || cur[1] <= 0 || cur[2] <= 0) {
    throw Error(ErrorCode::kInvalidArgument, "model input shape must be positive [H,W,C]", {"model"});
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    LayerShape s;
    s.in = cur;
    auto fail = [&](const std::string& why) {
      throw Error(ErrorCode::kInvalidArgument,
                  "model layer " + std::to_string(i) + ": " + why + " (input [" + std::to_string(cur[0]) + "," +
                      std::to_string(cur[1]) + "," + std::to_string(cur[2]) + "])",
                  {"model"});
    };
    switch (l.kind) {
      case LayerKind::kConv2D: {
        if (l.same) {
          std::int64_t oh = (cur[0] + l.stride - 1) / l.stride, ow = (cur[1] + l.stride - 1) / l.stride;
          std::int64_t ph = std::max<std::int64_t>(0, (oh - 1) * l.stride + l.kernel - cur[0]);
          std::int64_t pw = std::max<std::int64_t>(0, (ow - 1) * l.stride + l.kernel - cur[1]);
          s.pad_top = ph / 2;
          s.pad_left = pw / 2;
          s.out = {oh, ow, l.units};
        } else {
          if (cur[0] < l.kernel || cur[1] < l.kernel) fail("conv2d kernel larger than its input");
          s.out = {(cur[0] - l.kernel) / l.stride + 1, (cur[1] - l.kernel) / l.stride + 1, l.units};
        }
        break;
      }
      case LayerKind::kMaxPool:
        if (cur[0] < l.kernel || cur[1] < l.kernel) fail("maxpool window larger than its input");
        s.out = {(cur[0] - l.kernel) / l.stride + 1, (cur[1] - l.kernel) / l.stride + 1, cur[2]};
        break;
      case LayerKind::kFlatten: s.out = {1, 1, cur[0] * cur[1] * cur[2]}; break;
      case LayerKind::kDense:
        if (cur[0] != 1 || cur[1] != 1) fail("dense needs a flat input: add flatten before it");
        s.out = {1, 1, l.units};
        break;
      case LayerKind::kDropout:
      case LayerKind::kReLU: s.out = cur; break;
    }
    out.push_back(s);
    cur = s.out;
  }
  return out;
}

std::vector<ParamInfo> ModelSpec::params(const Hwc& input) const {
  std::vector<LayerShape> sh = shapes(input);
  std::vector<ParamInfo> out;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& l = layers_[i];
    std::string base = (l.kind == LayerKind::kConv2D ? "conv2d_" : "dense_") + std::to_string(i);
    if (l.kind == LayerKind::kConv2D) {
      std::int64_t k = l.kernel, in = sh[i].in[2], f = l.units;
      out.push_back({base + "/kernel", {k, k, in, f}, k * k * in * f, k * k * in, k * k * f, static_cast<int>(i)});
      out.push_back({base + "/bias", {f}, f, 0, 0, static_cast<int>(i)});
    } else if (l.kind == LayerKind::kDense) {
      std::int64_t in = sh[i].in[2], u = l.units;
      out.push_back({base + "/kernel", {in, u}, in * u, in, u, static_cast<int>(i)});
      out.push_back({base + "/bias", {u}, u, 0, 0, static_cast<int>(i)});
    }
  }
  return out;
}

std::vector<std::vector<float>> ModelSpec::init_params(const Hwc& input, std::uint64_t seed) const {
  std::vector<ParamInfo> ps = params(input);
  std::vector<std::vector<float>> out;
  for (std::size_t p = 0; p < ps.size(); ++p) {
    std::vector<float> v(static_cast<std::size_t>(ps[p].size), 0.f);
    if (ps[p].fan_in > 0) {
      const double limit = std::sqrt(6.0 / static_cast<double>(ps[p].fan_in + ps[p].fan_out));
      Rng rng(seed, /*epoch=*/0x1417, /*index=*/p);
      for (float& x : v) x = static_cast<float>(rng.uniform(-limit, limit));
    }
    out.push_back(std::move(v));
  }
  return out;
}

LayerParams layer_params(const std::vector<ParamInfo>& params, std::size_t layers) {
  LayerParams lp{std::vector<int>(layers, -1), std::vector<bool>(layers, false)};
  for (std::size_t p = 0; p < params.size(); p += 2) lp.param[static_cast<std::size_t>(params[p].layer)] = static_cast<int>(p);
  bool seen = false;
  for (std::size_t l = 0; l < layers; ++l) {
    lp.need_dx[l] = seen;
    seen |= lp.param[l] >= 0;
  }
  return lp;
}

}  // namespace stoker
