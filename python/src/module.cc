// stoker._stoker: the compiled half of the Python package (the rest is python/stoker/*.py).
// Here: the module, the mapping of stoker::Error to the Python exception classes of
// stoker/_errors.py (each carrying code, stage, file, record), and the small converters.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "pipeline/dataset.h"
#include "pipeline/version.h"
#include "python/src/bindings.h"

namespace stoker::py {
namespace {

const char* error_class(ErrorCode c) {
  switch (c) {
    case ErrorCode::kInvalidArgument: return "InvalidArgumentError";
    case ErrorCode::kNotFound: return "NotFoundError";
    case ErrorCode::kIo: return "IOError";
    case ErrorCode::kDataLoss: return "DataLossError";
    case ErrorCode::kUnsupported: return "UnsupportedError";
    case ErrorCode::kOutOfMemory: return "OutOfMemoryError";
    case ErrorCode::kCuda: return "CudaError";
    case ErrorCode::kCancelled: return "CancelledError";
    case ErrorCode::kInternal: return "InternalError";
  }
  return "Error";
}

// Sets the Python error for `e`: stoker.<Code>Error(str(e)) with .code, .message, .stage, .file
// and .record (None when unknown).
void raise_stoker_error(const Error& e) {
  nb::module_ errors = nb::module_::import_("stoker._errors");
  nb::object cls = errors.attr(error_class(e.code()));
  const ErrorContext& c = e.context();
  nb::object exc = cls(e.what());
  exc.attr("code") = error_code_name(e.code());
  exc.attr("message") = e.message();
  exc.attr("stage") = c.stage.empty() ? nb::none() : nb::cast(c.stage);
  exc.attr("file") = c.source.empty() ? nb::none() : nb::cast(c.source);
  exc.attr("record") = c.record ? nb::cast(*c.record) : nb::none();
  PyErr_SetObject(cls.ptr(), exc.ptr());
}

}  // namespace

void bind_errors(nb::module_&) {
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const Error& e) {
      raise_stoker_error(e);
    }
  });
}

DType dtype_from_name(const std::string& name) {
  for (DType t : {DType::kU8, DType::kI8, DType::kI16, DType::kI32, DType::kI64, DType::kF16, DType::kBF16,
                  DType::kF32, DType::kF64}) {
    if (name == dtype_name(t)) return t;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "unknown dtype '" + name + "' (uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)");
}

std::size_t parse_bytes(nb::handle v) {
  if (nb::isinstance<nb::int_>(v)) {
    const long long n = nb::cast<long long>(v);
    if (n <= 0) throw Error(ErrorCode::kInvalidArgument, "memory_budget must be positive, got " + std::to_string(n));
    return static_cast<std::size_t>(n);
  }
  const std::string s = nb::cast<std::string>(v);
  char* end = nullptr;
  const double x = std::strtod(s.c_str(), &end);
  double mult = 1;
  const std::string suffix(end);
  if (suffix == "K" || suffix == "k") mult = 1024.0;
  else if (suffix == "M") mult = 1024.0 * 1024;
  else if (suffix == "G") mult = 1024.0 * 1024 * 1024;
  else if (!suffix.empty()) mult = -1;
  if (end == s.c_str() || mult < 0 || !(x > 0) || !std::isfinite(x * mult)) {
    throw Error(ErrorCode::kInvalidArgument, "memory_budget '" + s + "' is not a size like 512M, 2G or 1048576");
  }
  return static_cast<std::size_t>(x * mult);
}

nb::dict stats_to_dict(const PipelineStats& s) {
  nb::dict d;
  d["memory_budget"] = s.memory_budget;
  d["bytes_held"] = s.bytes_held;
  d["peak_bytes"] = s.peak_bytes;
  d["skipped"] = s.skipped;
  d["errors_seen"] = s.errors_seen;
  nb::list errors;
  for (const std::string& e : s.first_errors) errors.append(e);
  d["first_errors"] = errors;
  nb::list stages;
  for (const StageStats& st : s.stages) {
    nb::dict x;
    x["name"] = st.name;
    x["elements_in"] = st.elements_in;
    x["elements_out"] = st.elements_out;
    x["skipped"] = st.skipped;
    x["bytes_held"] = st.bytes_held;
    x["peak_bytes"] = st.peak_bytes;
    x["wait_input_s"] = st.wait_input_s;
    x["blocked_output_s"] = st.blocked_output_s;
    stages.append(x);
  }
  d["stages"] = stages;
  return d;
}

}  // namespace stoker::py

NB_MODULE(_stoker, m) {
  namespace py = stoker::py;
  m.doc() = "stoker's compiled core; use the `stoker` package.";
  m.attr("__version__") = stoker::version();
  m.attr("AUTOTUNE") = stoker::kAutotune;
  py::bind_errors(m);
  py::bind_tensor(m);
  py::bind_dataset(m);
  py::bind_ops(m);
}
