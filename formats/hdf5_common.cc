// HDF5 lock, handles, error-stack capture and dtype mapping (see hdf5_common.h).
#include "formats/hdf5_common.h"

#include <atomic>
#include <chrono>
#include <cstring>

namespace stoker::detail {

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex mu;
  return mu;
}

namespace {

std::atomic<std::uint64_t> g_lock_held_ns{0};
thread_local int t_lock_depth = 0;

std::int64_t mono_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::uint64_t hdf5_lock_held_ns() { return g_lock_held_ns.load(std::memory_order_relaxed); }

Hdf5Lock::Hdf5Lock() : lock_(hdf5_mutex()) {
  static const bool initialised = [] {
    // No library shutdown at exit: after a write failure (disk full) libhdf5 1.10 keeps a half-
    // closed dataset in its ID table and H5_term_library crashes on it (SIGSEGV in H5D_close),
    // turning a clean error exit into a crash. Every file we open is closed explicitly, so the
    // shutdown has nothing left to flush.
    H5dont_atexit();
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)initialised;
  acquired();
}

void Hdf5Lock::acquired() {
  if (t_lock_depth++ == 0) since_ns_ = mono_ns();
}

void Hdf5Lock::unlock() {
  if (--t_lock_depth == 0 && since_ns_ >= 0) {
    g_lock_held_ns.fetch_add(static_cast<std::uint64_t>(mono_ns() - since_ns_), std::memory_order_relaxed);
  }
  since_ns_ = -1;
  lock_.unlock();
}

void Hdf5Lock::lock() {
  lock_.lock();
  acquired();
}

Hdf5Lock::~Hdf5Lock() {
  if (lock_.owns_lock()) unlock();
}

void H5Id::reset() {
  if (id_ >= 0) {
    std::lock_guard lock(hdf5_mutex());
    if (H5Iis_valid(id_) > 0) H5Idec_ref(id_);
    H5Eclear2(H5E_DEFAULT);
  }
  id_ = H5I_INVALID_HID;
}

namespace {

herr_t collect_error(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n > 6) return 0;  // the innermost few entries say what happened; the rest is call path
  if (!out->empty()) *out += "; ";
  *out += e->desc ? e->desc : "?";
  if (e->func_name) {
    *out += " (";
    *out += e->func_name;
    *out += ")";
  }
  return 0;
}

}  // namespace

std::string hdf5_abs_name(const std::string& name) { return name.empty() || name[0] != '/' ? "/" + name : name; }

std::string hdf5_error_stack() {
  std::string s;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, collect_error, &s);
  H5Eclear2(H5E_DEFAULT);
  return s.empty() ? "no libhdf5 error detail" : s;
}

void throw_hdf5(ErrorCode code, const std::string& what, ErrorContext context) {
  throw Error(code, what + ": libhdf5: " + hdf5_error_stack(), std::move(context));
}

hid_t hdf5_native_type(DType dtype) {
  switch (dtype) {
    case DType::kU8: return H5T_NATIVE_UINT8;
    case DType::kI8: return H5T_NATIVE_INT8;
    case DType::kI16: return H5T_NATIVE_INT16;
    case DType::kI32: return H5T_NATIVE_INT32;
    case DType::kI64: return H5T_NATIVE_INT64;
    case DType::kF32: return H5T_NATIVE_FLOAT;
    case DType::kF64: return H5T_NATIVE_DOUBLE;
    default: break;
  }
  throw Error(ErrorCode::kUnsupported, std::string("HDF5: no native type for dtype ") + dtype_name(dtype));
}

std::optional<DType> hdf5_dtype(hid_t type, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<DType> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  H5T_class_t cls = H5Tget_class(type);
  std::size_t size = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    switch (size) {
      case 1: return is_signed ? DType::kI8 : DType::kU8;
      case 2: if (is_signed) return DType::kI16; break;
      case 4: if (is_signed) return DType::kI32; break;
      case 8: if (is_signed) return DType::kI64; break;
      default: break;
    }
    return fail(std::string(is_signed ? "int" : "uint") + std::to_string(size * 8) +
                " (stoker reads uint8, int8, int16, int32, int64)");
  }
  if (cls == H5T_FLOAT) {
    if (size == 4) return DType::kF32;
    if (size == 8) return DType::kF64;
    return fail("float" + std::to_string(size * 8) + " (stoker reads float32, float64)");
  }
  switch (cls) {
    case H5T_STRING: return fail("string");
    case H5T_COMPOUND: return fail("compound");
    case H5T_ENUM: return fail("enum");
    case H5T_VLEN: return fail("variable-length sequence (only vlen uint8 bytes are read)");
    case H5T_ARRAY: return fail("array");
    case H5T_OPAQUE: return fail("opaque");
    case H5T_REFERENCE: return fail("reference");
    case H5T_BITFIELD: return fail("bitfield");
    default: return fail("type class " + std::to_string(static_cast<int>(cls)));
  }
}

bool hdf5_is_vlen_bytes(hid_t type) {
  if (H5Tget_class(type) != H5T_VLEN) return false;
  H5Id base(H5Tget_super(type));
  return base.valid() && H5Tget_class(base.get()) == H5T_INTEGER && H5Tget_size(base.get()) == 1;
}

std::string hdf5_filter_name(int id) {
  switch (id) {
    case H5Z_FILTER_DEFLATE: return "deflate";
    case H5Z_FILTER_SHUFFLE: return "shuffle";
    case H5Z_FILTER_FLETCHER32: return "fletcher32";
    case H5Z_FILTER_SZIP: return "szip";
    case H5Z_FILTER_NBIT: return "nbit";
    case H5Z_FILTER_SCALEOFFSET: return "scaleoffset";
    case 32000: return "lzf";
    case 32001: return "blosc";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    case 32015: return "zstd";
    case 307: return "bzip2";
    default: return "filter " + std::to_string(id);
  }
}

bool hdf5_path_exists(hid_t file, const std::string& path) {
  std::size_t pos = 0;
  while (pos < path.size()) {
    std::size_t next = path.find('/', pos + 1);
    std::string prefix = path.substr(0, next);
    if (!prefix.empty() && prefix != "/") {
      if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (next == std::string::npos) break;
    pos = next;
  }
  return true;
}

namespace {

herr_t visit_link(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  if (info->type != H5L_TYPE_HARD) return 0;
  hid_t obj = H5Oopen(group, name, H5P_DEFAULT);
  if (obj < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  if (H5Iget_type(obj) == H5I_DATASET) static_cast<std::vector<std::string>*>(data)->push_back(std::string("/") + name);
  H5Oclose(obj);
  return 0;
}

}  // namespace

std::vector<std::string> hdf5_list_datasets(hid_t file) {
  std::vector<std::string> out;
  if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_INC, visit_link, &out) < 0) H5Eclear2(H5E_DEFAULT);
  return out;
}

std::vector<Hdf5FilterSpec> hdf5_filters(hid_t dcpl) {
  std::vector<Hdf5FilterSpec> out;
  int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; ++i) {
    Hdf5FilterSpec f;
    unsigned values[16];
    std::size_t nvalues = 16;
    char name[128] = {};
    unsigned config = 0;
    H5Z_filter_t id = H5Pget_filter2(dcpl, static_cast<unsigned>(i), &f.flags, &nvalues, values, sizeof name,
                                     name, &config);
    f.id = static_cast<int>(id);
    f.values.assign(values, values + std::min<std::size_t>(nvalues, 16));
    f.name = hdf5_filter_name(f.id);
    if (f.name.rfind("filter ", 0) == 0 && name[0]) f.name = name;
    f.available = H5Zfilter_avail(id) > 0;
    H5Eclear2(H5E_DEFAULT);
    out.push_back(std::move(f));
  }
  return out;
}

void hdf5_check_chunk_dims(hid_t space, const std::vector<hsize_t>& cdims, const std::string& what,
                           const ErrorContext& ctx) {
  std::vector<hsize_t> maxdims(cdims.size());
  H5Sget_simple_extent_dims(space, nullptr, maxdims.data());
  auto text = [](const std::vector<hsize_t>& v) {
    std::string s = "[";
    for (std::size_t k = 0; k < v.size(); ++k) {
      if (k) s += ',';
      s += std::to_string(v[k]);
    }
    return s + "]";
  };
  for (std::size_t i = 0; i < cdims.size(); ++i) {
    if (cdims[i] == 0 || (maxdims[i] != H5S_UNLIMITED && cdims[i] > maxdims[i])) {
      throw Error(ErrorCode::kDataLoss,
                  what + " has chunks " + text(cdims) + " larger than its fixed dimensions " + text(maxdims) +
                      " (corrupt dataset header)",
                  ctx);
    }
  }
}

}  // namespace stoker::detail
