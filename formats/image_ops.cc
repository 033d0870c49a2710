// Image op MapFns (resize, crops, flip, normalise, cast) and the crop geometry decode_jpeg shares.
#include "formats/image_ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "formats/image_cast.h"

namespace stoker {
namespace detail {

void image_dims(const Element& e, const char* op, int& h, int& w, int& c) {
  if (e.empty()) throw Error(ErrorCode::kInvalidArgument, std::string(op) + ": element has no components", {op});
  const Tensor& t = e[0];
  if (t.dtype() != DType::kU8 || t.shape().rank() != 3 || (t.shape()[2] != 1 && t.shape()[2] != 3)) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(op) + ": expected an HWC uint8 image with 1 or 3 channels, got " + dtype_name(t.dtype()) +
                    " " + t.shape().to_string(),
                {op});
  }
  h = static_cast<int>(t.shape()[0]);
  w = static_cast<int>(t.shape()[1]);
  c = static_cast<int>(t.shape()[2]);
}

Region random_resized_region(int src_h, int src_w, const RandomResizedCropParams& p, Rng& rng) {
  const double area = static_cast<double>(src_h) * src_w;
  const double log_lo = std::log(p.ratio_min), log_hi = std::log(p.ratio_max);
  for (int attempt = 0; attempt < p.attempts; ++attempt) {
    double target = area * rng.uniform(p.scale_min, p.scale_max);
    double ratio = std::exp(rng.uniform(log_lo, log_hi));
    auto w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    auto h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= src_w && h <= src_h) {
      auto y = static_cast<int>(rng.uniform_int(static_cast<std::uint64_t>(src_h - h + 1)));
      auto x = static_cast<int>(rng.uniform_int(static_cast<std::uint64_t>(src_w - w + 1)));
      return {double(x), double(y), double(w), double(h)};
    }
  }
  // Fallback: the largest centred window whose ratio is within bounds.
  double in_ratio = static_cast<double>(src_w) / src_h;
  int w = src_w, h = src_h;
  if (in_ratio < p.ratio_min) {
    h = std::max(1, static_cast<int>(std::lround(w / p.ratio_min)));
  } else if (in_ratio > p.ratio_max) {
    w = std::max(1, static_cast<int>(std::lround(h * p.ratio_max)));
  }
  h = std::min(h, src_h);
  w = std::min(w, src_w);
  return {double((src_w - w) / 2), double((src_h - h) / 2), double(w), double(h)};
}

Region crop_region(int src_h, int src_w, int out_h, int out_w, int shorter, bool random, Rng* rng) {
  // Scale from source to the resized image; the window is the output's size in resized pixels.
  double f = shorter > 0 ? static_cast<double>(shorter) / std::min(src_h, src_w) : 1.0;
  double w = std::min<double>(out_w / f, src_w);
  double h = std::min<double>(out_h / f, src_h);
  if (shorter == 0) {  // integral windows: a crop without resampling stays a plain copy
    w = std::floor(w);
    h = std::floor(h);
  }
  double x, y;
  if (random) {
    auto span_x = static_cast<std::uint64_t>(std::floor(src_w - w)) + 1;
    auto span_y = static_cast<std::uint64_t>(std::floor(src_h - h)) + 1;
    y = static_cast<double>(rng->uniform_int(span_y));
    x = static_cast<double>(rng->uniform_int(span_x));
  } else {
    x = (src_w - w) / 2;
    y = (src_h - h) / 2;
    if (shorter == 0) {
      x = std::floor(x);
      y = std::floor(y);
    }
  }
  return {x, y, w, h};
}

}  // namespace detail

namespace {

using detail::Region;

Element resized(Element e, const char* op, int out_h, int out_w, Region r, ResizeFilter filter, bool flip) {
  int h, w, c;
  detail::image_dims(e, op, h, w, c);
  Tensor out(DType::kU8, Shape{out_h, out_w, c});
  detail::resize_region(e[0].data_as<std::uint8_t>(), h, w, c, static_cast<std::size_t>(w) * c, r,
                        out.mutable_data_as<std::uint8_t>(), out_h, out_w, filter, flip);
  e[0] = std::move(out);
  return e;
}

void check_size(const char* op, int h, int w) {
  if (h <= 0 || w <= 0) {
    throw Error(ErrorCode::kInvalidArgument,
                std::string(op) + ": size must be positive, got " + std::to_string(h) + "x" + std::to_string(w), {op});
  }
}

MapFn crop(const char* op, int out_h, int out_w, bool random) {
  check_size(op, out_h, out_w);
  return [=](Element e, Rng& rng) {
    int h, w, c;
    detail::image_dims(e, op, h, w, c);
    if (h < out_h || w < out_w) {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string(op) + ": image " + std::to_string(h) + "x" + std::to_string(w) + " is smaller than the " +
                      std::to_string(out_h) + "x" + std::to_string(out_w) + " window",
                  {op});
    }
    Region r = detail::crop_region(h, w, out_h, out_w, 0, random, &rng);
    return resized(std::move(e), op, out_h, out_w, r, ResizeFilter::kBilinear, false);
  };
}

}  // namespace

MapFn resize(int height, int width, ResizeFilter filter) {
  check_size("resize", height, width);
  return [=](Element e, Rng&) {
    int h, w, c;
    detail::image_dims(e, "resize", h, w, c);
    return resized(std::move(e), "resize", height, width, Region{0, 0, double(w), double(h)}, filter, false);
  };
}

MapFn resize_shorter(int size, ResizeFilter filter) {
  check_size("resize_shorter", size, size);
  return [=](Element e, Rng&) {
    int h, w, c;
    detail::image_dims(e, "resize_shorter", h, w, c);
    double f = static_cast<double>(size) / std::min(h, w);
    int oh = h <= w ? size : static_cast<int>(std::lround(h * f));
    int ow = w < h ? size : static_cast<int>(std::lround(w * f));
    return resized(std::move(e), "resize_shorter", oh, ow, Region{0, 0, double(w), double(h)}, filter, false);
  };
}

MapFn center_crop(int height, int width) { return crop("center_crop", height, width, false); }
MapFn random_crop(int height, int width) { return crop("random_crop", height, width, true); }

MapFn random_resized_crop(int height, int width, RandomResizedCropParams params, ResizeFilter filter) {
  check_size("random_resized_crop", height, width);
  return [=](Element e, Rng& rng) {
    int h, w, c;
    detail::image_dims(e, "random_resized_crop", h, w, c);
    Region r = detail::random_resized_region(h, w, params, rng);
    return resized(std::move(e), "random_resized_crop", height, width, r, filter, false);
  };
}

MapFn random_flip(double p) {
  return [=](Element e, Rng& rng) {
    int h, w, c;
    detail::image_dims(e, "random_flip", h, w, c);
    if (!rng.bernoulli(p)) return e;
    return resized(std::move(e), "random_flip", h, w, Region{0, 0, double(w), double(h)}, ResizeFilter::kBilinear, true);
  };
}

MapFn normalize(NormalizeOptions o) {
  if (o.mean.empty() || o.mean.size() != o.std.size()) {
    throw Error(ErrorCode::kInvalidArgument, "normalize: mean and std need the same, non-zero number of entries");
  }
  if (o.out != DType::kF32 && o.out != DType::kF16 && o.out != DType::kBF16) {
    throw Error(ErrorCode::kInvalidArgument, std::string("normalize: output must be float32, float16 or bfloat16, not ") +
                                                 dtype_name(o.out));
  }
  for (float s : o.std) {
    if (s == 0) throw Error(ErrorCode::kInvalidArgument, "normalize: std must not be 0");
  }
  // y = x * a[k] + b[k] via a 256-entry table per mean/std entry k, built once: one lookup per
  // value. Channel ch reads table ch (one entry per channel) or table 0 (one for all).
  struct Tables {
    std::vector<float> f32;
    std::vector<std::uint16_t> u16;  // f32 converted to the output type (float16 / bfloat16)
  };
  auto t = std::make_shared<Tables>();
  t->f32.resize(256 * o.mean.size());
  for (std::size_t k = 0; k < o.mean.size(); ++k) {
    for (int v = 0; v < 256; ++v) t->f32[k * 256 + static_cast<std::size_t>(v)] = (v * o.scale - o.mean[k]) / o.std[k];
  }
  if (o.out != DType::kF32) {
    t->u16.resize(t->f32.size());
    for (std::size_t i = 0; i < t->f32.size(); ++i)
      t->u16[i] = o.out == DType::kF16 ? float_to_half_bits(t->f32[i]) : float_to_bfloat16_bits(t->f32[i]);
  }
  return [o, t = std::shared_ptr<const Tables>(std::move(t))](Element e, Rng&) {
    int h, w, c;
    detail::image_dims(e, "normalize", h, w, c);
    if (o.mean.size() != 1 && o.mean.size() != static_cast<std::size_t>(c)) {
      throw Error(ErrorCode::kInvalidArgument, "normalize: " + std::to_string(o.mean.size()) + " means for " +
                                                   std::to_string(c) + " channels", {"normalize"});
    }
    const std::size_t stride = o.mean.size() == 1 ? 0 : 256;  // table offset per channel
    Tensor out(o.out, e[0].shape());
    const std::uint8_t* in = e[0].data_as<std::uint8_t>();
    const auto n = static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
    auto apply = [&](auto* d, const auto& lut) {
      for (std::size_t i = 0; i < n; ++i)
        for (int ch = 0; ch < c; ++ch) d[i * c + ch] = lut[static_cast<std::size_t>(ch) * stride + in[i * c + ch]];
    };
    if (o.out == DType::kF32) apply(out.mutable_data_as<float>(), t->f32);
    else apply(out.mutable_data_as<std::uint16_t>(), t->u16);
    e[0] = std::move(out);
    return e;
  };
}

MapFn cast(DType to) {
  if (to != DType::kF16 && to != DType::kBF16 && to != DType::kF32) {
    throw Error(ErrorCode::kInvalidArgument, std::string("cast: unsupported target ") + dtype_name(to));
  }
  return [to](Element e, Rng&) {
    if (e.empty()) throw Error(ErrorCode::kInvalidArgument, "cast: element has no components", {"cast"});
    const Tensor& in = e[0];
    const auto n = static_cast<std::size_t>(in.shape().num_elements());
    Tensor out(to, in.shape());
    if (in.dtype() == DType::kU8 && to == DType::kF32) {
      const auto* s = in.data_as<std::uint8_t>();
      float* d = out.mutable_data_as<float>();
      for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
    } else if (in.dtype() == DType::kF32 && to != DType::kF32) {
      const float* s = in.data_as<float>();
      auto* d = out.mutable_data_as<std::uint16_t>();
      if (to == DType::kF16) {
        for (std::size_t i = 0; i < n; ++i) d[i] = float_to_half_bits(s[i]);
      } else {
        for (std::size_t i = 0; i < n; ++i) d[i] = float_to_bfloat16_bits(s[i]);
      }
    } else {
      throw Error(ErrorCode::kInvalidArgument,
                  std::string("cast: cannot cast ") + dtype_name(in.dtype()) + " to " + dtype_name(to), {"cast"});
    }
    e[0] = std::move(out);
    return e;
  };
}

}  // namespace stoker
