// Shared plumbing for every stoker call into libhdf5: the process-wide lock, RAII handles,
// turning libhdf5's error stack into stoker::Error, and the dtype mapping.
//
// Locking rule: Debian's libhdf5 is the serial (not thread-safe) build, so *every* HDF5 call in
// the process made by stoker happens while holding hdf5_mutex() (an Hdf5Lock). The lock is
// recursive so helpers can take it again under a caller that already holds it. Keep the time
// under it short: decompression and copies happen outside (see hdf5_chunk.h).
// Error printing: the first lock silences libhdf5's automatic error-stack printing; failures are
// reported by reading the stack (hdf5_error_stack) into the stoker::Error message instead.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/error.h"
#include "pipeline/tensor.h"

namespace stoker::detail {

std::recursive_mutex& hdf5_mutex();

// Holds the process-wide HDF5 lock; the first one ever also initialises libhdf5 quietly.
// The time the lock is held (outermost holder only) is summed into hdf5_lock_held_ns(): with T
// threads decoding, the speedup over one thread is bounded by total time / lock time (Amdahl).
class Hdf5Lock {
 public:
  Hdf5Lock();
  ~Hdf5Lock();
  Hdf5Lock(const Hdf5Lock&) = delete;
  Hdf5Lock& operator=(const Hdf5Lock&) = delete;
  void unlock();
  void lock();

 private:
  void acquired();
  std::unique_lock<std::recursive_mutex> lock_;
  std::int64_t since_ns_ = -1;  // set while this holder is the outermost one
};

// Nanoseconds the HDF5 lock has been held in this process so far.
std::uint64_t hdf5_lock_held_ns();

// An HDF5 identifier (file, dataset, dataspace, type, property list) released on destruction,
// under the lock. Move-only; never throws from the destructor.
class H5Id {
 public:
  H5Id() = default;
  explicit H5Id(hid_t id) : id_(id) {}
  H5Id(H5Id&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  H5Id& operator=(H5Id&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;
  ~H5Id() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// The current thread's libhdf5 error stack as one line ("msg (func); ..."), then cleared.
// Call under the lock, right after the failing call.
std::string hdf5_error_stack();
// `name` as an absolute HDF5 path ("images" -> "/images").
std::string hdf5_abs_name(const std::string& name);

// Throws stoker::Error(code, what + ": " + libhdf5's stack) with `context`. Call under the lock.
[[noreturn]] void throw_hdf5(ErrorCode code, const std::string& what, ErrorContext context);

// The native HDF5 memory type of a stoker dtype (a predefined id, never closed).
hid_t hdf5_native_type(DType dtype);

// The stoker dtype matching an HDF5 integer/float type, or nullopt (with `why` set) for types we
// do not read (strings, compounds, enums, 16-bit floats, ...). Byte order may differ from native:
// reads convert through H5Dread.
std::optional<DType> hdf5_dtype(hid_t type, std::string* why = nullptr);

// True for variable-length sequences of 8-bit integers (h5py's vlen uint8 "bytes" layout).
bool hdf5_is_vlen_bytes(hid_t type);

// A human name for a filter id ("deflate", "shuffle", "lzf", "blosc", ...).
std::string hdf5_filter_name(int id);

// "/a/b" -> true if every link on the path exists (H5Lexists fails on a missing parent).
bool hdf5_path_exists(hid_t file, const std::string& path);

struct Hdf5FilterSpec {
  int id = 0;
  unsigned flags = 0;
  std::vector<unsigned> values;
  std::string name;  // as stored in the file, or our name for it
  bool available = false;
};

// Paths of every dataset in the file ("/a", "/g/b"), in name order. Call under the lock.
std::vector<std::string> hdf5_list_datasets(hid_t file);

// The filter pipeline of a dataset creation property list, in write order.
std::vector<Hdf5FilterSpec> hdf5_filters(hid_t dcpl);

// Throws kDataLoss naming `what` when a chunk dimension in `cdims` is 0 or larger than a fixed
// dimension of `space`: H5Dcreate never writes such a header, but a corrupt file can hold one,
// and libhdf5 then reads past its chunk buffer. Call under the lock.
void hdf5_check_chunk_dims(hid_t space, const std::vector<hsize_t>& cdims, const std::string& what,
                           const ErrorContext& ctx);

}  // namespace stoker::detail
