// Map functions for Dataset.map: the built-in ops (stoker.Op values wrapping the C++ MapFn
// factories of formats/: decode_jpeg, resize, crops, flip, normalize, cast, read_file), and
// Python callables.
//
// Built-in ops run on stoker's TBB threads without the GIL (parallel). A Python callable runs on
// the same threads but takes the GIL for each element, so Python map functions run one at a time
// and a loop over them is as fast as Python is: prefer built-in ops on hot paths. A callable gets
// the element as a tuple of stoker.Tensor and returns a tuple (or one array) of stoker.Tensor or
// anything numpy can view (copied once). An exception it raises becomes
// stoker.InvalidArgumentError naming the stage and element (or is skipped under on_error='skip').
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "formats/file_source.h"
#include "formats/image_ops.h"
#include "formats/jpeg_decode.h"
#include "python/src/bindings.h"

namespace stoker::py {
namespace {

struct Op {
  MapFn fn;
  std::string name;
};

// Owns a Python callable on behalf of C++ code that may drop it on any thread: the reference is
// released with the GIL held.
struct PyCallable {
  nb::object fn;
  explicit PyCallable(nb::object f) : fn(std::move(f)) {}
  ~PyCallable() {
    if (!Py_IsInitialized()) {
      fn.release();  // interpreter gone: leak rather than touch it
      return;
    }
    nb::gil_scoped_acquire locked;
    fn.reset();
  }
};

ResizeFilter filter_from(const std::string& f) {
  if (f == "bilinear") return ResizeFilter::kBilinear;
  if (f == "area") return ResizeFilter::kArea;
  throw Error(ErrorCode::kInvalidArgument, "filter must be 'bilinear' or 'area', got '" + f + "'");
}

CropMode crop_from(const std::optional<std::string>& c) {
  if (!c || *c == "none") return CropMode::kNone;
  if (*c == "center") return CropMode::kCenter;
  if (*c == "random") return CropMode::kRandom;
  if (*c == "random_resized") return CropMode::kRandomResized;
  throw Error(ErrorCode::kInvalidArgument,
              "crop must be None, 'center', 'random' or 'random_resized', got '" + *c + "'");
}

// size: None, an int (square) or (height, width).
std::pair<int, int> size_from(nb::handle size) {
  if (size.is_none()) return {0, 0};
  if (nb::isinstance<nb::int_>(size)) {
    const int s = nb::cast<int>(size);
    return {s, s};
  }
  auto [h, w] = nb::cast<std::tuple<int, int>>(size);
  return {h, w};
}

NormalizeOptions normalize_options(std::vector<float> mean, std::vector<float> std, float scale,
                                   const std::string& dtype) {
  NormalizeOptions o;
  o.mean = std::move(mean);
  o.std = std::move(std);
  o.scale = scale;
  o.out = dtype_from_name(dtype);
  return o;
}

}  // namespace

MapFn map_fn_from_python(nb::handle fn, std::string& name) {
  if (nb::isinstance<Op>(fn)) {
    const Op& op = nb::cast<const Op&>(fn);
    name = op.name;
    return op.fn;
  }
  if (!PyCallable_Check(fn.ptr())) {
    throw Error(ErrorCode::kInvalidArgument, "map() takes a stoker op (e.g. stoker.decode_jpeg()) or a callable");
  }
  name = "py_map";
  auto holder = std::make_shared<PyCallable>(nb::borrow<nb::object>(fn));
  return [holder](Element&& e, Rng&) -> Element {
    nb::gil_scoped_acquire locked;
    try {
      nb::object out = holder->fn(*element_to_tuple(std::move(e)));
      return element_from_python(out);
    } catch (const nb::python_error& err) {
      // Turned into a stoker::Error here, with the GIL held: the Python exception object must not
      // travel to a thread that does not hold it.
      std::string what = err.what();
      throw Error(ErrorCode::kInvalidArgument, "Python map function raised: " + what);
    }
  };
}

void bind_ops(nb::module_& m) {
  nb::class_<Op>(m, "Op", "A built-in map function; pass it to Dataset.map().")
      .def_ro("name", &Op::name)
      .def("__repr__", [](const Op& o) { return "stoker.Op(" + o.name + ")"; });

  m.def(
      "decode_jpeg",
      [](nb::handle size, std::optional<std::string> crop, int resize_shorter, std::tuple<double, double> scale,
         std::tuple<double, double> ratio, const std::string& filter, double flip, bool gray, nb::handle normalize,
         bool strict, std::int64_t max_pixels, bool fast_dct, bool dct_scaling, bool partial_decode,
         std::int64_t mcu_index_bytes) {
        DecodeJpegOptions o;
        std::tie(o.height, o.width) = size_from(size);
        o.crop = crop_from(crop);
        o.resize_shorter = resize_shorter;
        std::tie(o.rrc.scale_min, o.rrc.scale_max) = scale;
        std::tie(o.rrc.ratio_min, o.rrc.ratio_max) = ratio;
        o.filter = filter_from(filter);
        o.flip_probability = flip;
        o.color = gray ? JpegColor::kGray : JpegColor::kRGB;
        if (nb::isinstance<nb::bool_>(normalize)) {
          if (nb::cast<bool>(normalize)) o.normalize = NormalizeOptions{};
        } else if (!normalize.is_none()) {
          nb::dict d = nb::cast<nb::dict>(normalize);
          NormalizeOptions n;
          if (d.contains("mean")) n.mean = nb::cast<std::vector<float>>(d["mean"]);
          if (d.contains("std")) n.std = nb::cast<std::vector<float>>(d["std"]);
          if (d.contains("scale")) n.scale = nb::cast<float>(d["scale"]);
          if (d.contains("dtype")) n.out = dtype_from_name(nb::cast<std::string>(d["dtype"]));
          o.normalize = n;
        }
        o.strict = strict;
        o.max_pixels = max_pixels;
        o.fast_dct = fast_dct;
        o.dct_scaling = dct_scaling;
        o.partial_decode = partial_decode;
        if (mcu_index_bytes < 0) throw Error(ErrorCode::kInvalidArgument, "decode_jpeg: mcu_index_bytes must be >= 0");
        o.mcu_index_bytes = static_cast<std::size_t>(mcu_index_bytes);
        return Op{decode_jpeg(o), "decode_jpeg"};
      },
      nb::arg("size") = nb::none(), nb::arg("crop") = nb::none(), nb::arg("resize_shorter") = 0,
      nb::arg("scale") = std::make_tuple(0.08, 1.0), nb::arg("ratio") = std::make_tuple(3.0 / 4.0, 4.0 / 3.0),
      nb::arg("filter") = "bilinear", nb::arg("flip") = 0.0, nb::arg("gray") = false, nb::arg("normalize") = nb::none(),
      nb::arg("strict") = false, nb::arg("max_pixels") = 100'000'000, nb::arg("fast_dct") = false,
      nb::arg("dct_scaling") = true, nb::arg("partial_decode") = true, nb::arg("mcu_index_bytes") = 0,
      "Component 0 (a path from image_folder/files, or JPEG bytes) -> uint8 HWC image, fused with\n"
      "crop (None|'center'|'random'|'random_resized'; scale/ratio for random_resized), resize to size\n"
      "(int or (h, w)), horizontal flip with probability flip, and normalize (True: ImageNet mean/std\n"
      "to float32; or a dict with mean, std, scale, dtype).\n"
      "mcu_index_bytes > 0 (with a crop): remember where each file's MCUs begin, up to that many bytes\n"
      "(~12 KB per 500x375 photo), so later passes decode only the MCUs under each crop (same pixels;\n"
      "the first pass scans each file once more). Held outside the iterator's memory budget.");
  m.def(
      "normalize",
      [](std::vector<float> mean, std::vector<float> std, float scale, const std::string& dtype) {
        return Op{normalize(normalize_options(std::move(mean), std::move(std), scale, dtype)), "normalize"};
      },
      nb::arg("mean") = std::vector<float>{0.485f, 0.456f, 0.406f},
      nb::arg("std") = std::vector<float>{0.229f, 0.224f, 0.225f}, nb::arg("scale") = 1.0f / 255.0f,
      nb::arg("dtype") = "float32", "uint8 HWC -> (x * scale - mean[c]) / std[c] as float32/float16/bfloat16.");
  m.def(
      "cast", [](const std::string& dtype) { return Op{cast(dtype_from_name(dtype)), "cast"}; }, nb::arg("dtype"),
      "Component 0: float32 -> float16/bfloat16, or uint8 -> float32.");
  m.def(
      "resize",
      [](nb::handle size, const std::string& filter) {
        auto [h, w] = size_from(size);
        return Op{resize(h, w, filter_from(filter)), "resize"};
      },
      nb::arg("size"), nb::arg("filter") = "bilinear");
  m.def(
      "center_crop",
      [](nb::handle size) {
        auto [h, w] = size_from(size);
        return Op{center_crop(h, w), "center_crop"};
      },
      nb::arg("size"));
  m.def(
      "random_crop",
      [](nb::handle size) {
        auto [h, w] = size_from(size);
        return Op{random_crop(h, w), "random_crop"};
      },
      nb::arg("size"));
  m.def(
      "random_flip", [](double p) { return Op{random_flip(p), "random_flip"}; }, nb::arg("p") = 0.5);
  m.def(
      "read_file", [] { return Op{read_file(), "read_file"}; }, "(path, ...) -> (bytes uint8 [n], ...).");
}

}  // namespace stoker::py
