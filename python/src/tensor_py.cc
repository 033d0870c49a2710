// stoker.Tensor: a batch component handed to Python without a copy.
//
// Ownership: the Python object holds a stoker::Tensor, which holds a reference to the batch's
// storage (heap buffer or ring slot; see pipeline/tensor.h). Every export keeps that Python object
// alive until the consumer lets go:
//   __dlpack__            a DLManagedTensor (made by nanobind's ndarray) whose owner is this
//                         object; its deleter drops the reference when torch/numpy/JAX free it
//   __array_interface__   numpy keeps the object that exposed it as the array's base
//   buffer protocol       via numpy() below (an ndarray view on the same bytes)
// So a batch may outlive its iterator and the pipeline: the bytes stay until the last view goes.
// Small tensors (<= Tensor::kInlineBytes) keep their bytes inside the C++ Tensor, i.e. inside this
// Python object: the same rule keeps them alive.
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "python/src/bindings.h"

namespace stoker::py {
namespace {

nb::dlpack::dtype dl_dtype(DType t) {
  using nb::dlpack::dtype_code;
  auto d = [](dtype_code c, int bits) {
    return nb::dlpack::dtype{static_cast<std::uint8_t>(c), static_cast<std::uint8_t>(bits), 1};
  };
  switch (t) {
    case DType::kU8: return d(dtype_code::UInt, 8);
    case DType::kI8: return d(dtype_code::Int, 8);
    case DType::kI16: return d(dtype_code::Int, 16);
    case DType::kI32: return d(dtype_code::Int, 32);
    case DType::kI64: return d(dtype_code::Int, 64);
    case DType::kF16: return d(dtype_code::Float, 16);
    case DType::kBF16: return d(dtype_code::Bfloat, 16);
    case DType::kF32: return d(dtype_code::Float, 32);
    case DType::kF64: return d(dtype_code::Float, 64);
  }
  throw Error(ErrorCode::kInternal, "unknown dtype");
}

// numpy's array-interface typestr ("<f4"); bfloat16 has none.
const char* typestr(DType t) {
  switch (t) {
    case DType::kU8: return "|u1";
    case DType::kI8: return "|i1";
    case DType::kI16: return "<i2";
    case DType::kI32: return "<i4";
    case DType::kI64: return "<i8";
    case DType::kF16: return "<f2";
    case DType::kF32: return "<f4";
    case DType::kF64: return "<f8";
    case DType::kBF16: return nullptr;
  }
  return nullptr;
}

std::vector<std::size_t> dims(const Tensor& t) {
  std::vector<std::size_t> d;
  for (std::int64_t x : t.shape().dims()) d.push_back(static_cast<std::size_t>(x));
  return d;
}

// A CPU nanobind ndarray (nb_ndarray: __dlpack__, buffer protocol) over the tensor's bytes,
// owned by `self` (the stoker.Tensor object): the DLManagedTensor it exports holds a reference to
// `self` until the consumer's deleter runs.
nb::object as_ndarray(nb::handle self) {
  Tensor& t = nb::cast<Tensor&>(self);
  std::vector<std::size_t> d = dims(t);
  nb::ndarray<nb::array_api> arr(static_cast<void*>(t.mutable_data()), d.size(), d.data(), self, nullptr,
                                 dl_dtype(t.dtype()), nb::device::cpu::value);
  return nb::cast(arr, nb::rv_policy::reference);
}

}  // namespace

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor>(m, "Tensor",
                     "One component of an element or batch: dtype, shape and bytes (C order, CPU memory).\n"
                     "Zero-copy exports: __dlpack__ (torch.from_dlpack, numpy.from_dlpack, jax.dlpack),\n"
                     "__array_interface__ (numpy.asarray). The bytes live until the last export is dropped.")
      .def_prop_ro("shape",
                   [](const Tensor& t) {
                     nb::list l;
                     for (std::int64_t x : t.shape().dims()) l.append(x);
                     return nb::tuple(l);
                   })
      .def_prop_ro("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_prop_ro("nbytes", &Tensor::nbytes)
      .def_prop_ro("ndim", [](const Tensor& t) { return t.shape().rank(); })
      .def_prop_ro("data_ptr", [](const Tensor& t) { return reinterpret_cast<std::uintptr_t>(t.data()); },
                   "Address of the first byte (for checking that views share memory).")
      .def("__int__",
           [](const Tensor& t) {
             if (t.shape().num_elements() != 1) throw nb::type_error("int() of a tensor of more than one value");
             return t.item<std::int64_t>();
           })
      .def("__float__",
           [](const Tensor& t) {
             if (t.shape().num_elements() != 1) throw nb::type_error("float() of a tensor of more than one value");
             return t.item<double>();
           })
      .def("__len__",
           [](const Tensor& t) {
             if (t.shape().rank() == 0) throw nb::type_error("len() of a 0-d tensor");
             return t.shape()[0];
           })
      .def(
          "__dlpack__",
          [](nb::handle self, nb::kwargs kwargs) { return as_ndarray(self).attr("__dlpack__")(**kwargs); },
          "DLPack capsule over these bytes (no copy); the consumer's deleter releases this tensor.")
      .def("__dlpack_device__", [](nb::handle) { return nb::make_tuple(1, 0); }, "(kDLCPU, 0)")
      .def_prop_ro("__array_interface__",
                   [](nb::handle self) {
                     const Tensor& t = nb::cast<const Tensor&>(self);
                     const char* ts = typestr(t.dtype());
                     if (!ts) throw nb::attribute_error("bfloat16 has no numpy array interface; use __dlpack__");
                     nb::dict d;
                     nb::list shape;
                     for (std::int64_t x : t.shape().dims()) shape.append(x);
                     d["shape"] = nb::tuple(shape);
                     d["typestr"] = ts;
                     d["data"] = nb::make_tuple(reinterpret_cast<std::uintptr_t>(t.data()), false);
                     d["version"] = 3;
                     return d;
                   })
      .def(
          "numpy",
          [](nb::handle self) {
            return nb::module_::import_("numpy").attr("asarray")(self);
          },
          "A numpy array viewing these bytes (no copy).")
      .def("__repr__", [](const Tensor& t) {
        return "stoker.Tensor(dtype=" + std::string(dtype_name(t.dtype())) + ", shape=" + t.shape().to_string() + ")";
      });
}

Element element_from_python(nb::handle obj) {
  if (nb::isinstance<Tensor>(obj)) return Element{nb::cast<Tensor>(obj)};
  if (!nb::isinstance<nb::tuple>(obj) && !nb::isinstance<nb::list>(obj)) {
    nb::tuple one = nb::make_tuple(obj);
    return element_from_python(one);
  }
  Element e;
  for (nb::handle item : obj) {
    if (nb::isinstance<Tensor>(item)) {
      e.push_back(nb::cast<Tensor>(item));
      continue;
    }
    // A foreign array: one copy into stoker-owned storage (Python memory cannot cross threads
    // without the GIL).
    nb::ndarray<nb::c_contig, nb::device::cpu> a;
    if (!nb::try_cast(item, a)) {
      // numpy scalars and non-contiguous arrays: asarray keeps a 0-d value 0-d (ascontiguousarray
      // alone would make it 1-d); a 0-d array is always contiguous.
      nb::module_ np = nb::module_::import_("numpy");
      nb::object arr = np.attr("asarray")(item);
      if (!nb::try_cast(arr, a)) {
        a = nb::cast<nb::ndarray<nb::c_contig, nb::device::cpu>>(np.attr("ascontiguousarray")(arr));
      }
    }
    std::vector<std::int64_t> shape(a.shape_ptr(), a.shape_ptr() + a.ndim());
    DType dt = DType::kU8;
    const nb::dlpack::dtype d = a.dtype();
    const bool found = [&] {
      for (DType c : {DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kI64, DType::kF16, DType::kBF16,
                      DType::kF32, DType::kF64}) {
        if (dl_dtype(c) == d) {
          dt = c;
          return true;
        }
      }
      return false;
    }();
    if (!found) throw Error(ErrorCode::kUnsupported, "map function returned an array of a dtype stoker does not hold");
    Tensor t(dt, Shape::from(shape));
    if (t.nbytes()) std::memcpy(t.mutable_data(), a.data(), t.nbytes());
    e.push_back(std::move(t));
  }
  return e;
}

nb::tuple element_to_tuple(Element&& e) {
  nb::list l;
  for (Tensor& t : e) l.append(nb::cast(std::move(t)));
  return nb::tuple(l);
}

}  // namespace stoker::py
