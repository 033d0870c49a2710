// Shared declarations of the nanobind module stoker._stoker: one bind_* per source file, and the
// conversions between stoker's C++ values and Python objects that more than one file needs.
#pragma once

#include <nanobind/nanobind.h>

#include <cstddef>
#include <functional>
#include <string>

#include "pipeline/element.h"
#include "pipeline/error.h"
#include "pipeline/rng.h"
#include "pipeline/stats.h"
#include "pipeline/tensor.h"

namespace stoker::py {

namespace nb = nanobind;

void bind_errors(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_dataset(nb::module_& m);
void bind_ops(nb::module_& m);

// "uint8", "float32", ... <-> DType. Throws stoker::Error(kInvalidArgument) for an unknown name.
DType dtype_from_name(const std::string& name);
// An element as a tuple of stoker.Tensor (each owns a reference to its C++ tensor's storage).
nb::tuple element_to_tuple(Element&& e);
// A tuple/list of tensors (stoker.Tensor, or anything exposing a C-contiguous CPU buffer or
// DLPack: numpy, torch) as an Element; foreign arrays are copied once.
Element element_from_python(nb::handle obj);
nb::dict stats_to_dict(const PipelineStats& s);
// "512M", "2G", "1.5G", 1024 -> bytes. Throws stoker::Error(kInvalidArgument).
std::size_t parse_bytes(nb::handle v);

}  // namespace stoker::py

namespace stoker::py {
// A map function from Python: a stoker.Op (built-in, runs without the GIL) or a callable (runs
// holding the GIL; see ops_py.cc). Sets `name` to the op's name for stats.
std::function<Element(Element&&, Rng&)> map_fn_from_python(nb::handle fn, std::string& name);
}  // namespace stoker::py
