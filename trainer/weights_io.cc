// Weights file: a small binary format with a header, a format version and a CRC-32, so a file from
// another model or input shape, an older format, or a file with a flipped byte is refused with a
// message instead of loading garbage (format in trainer.h). Saved atomically (AtomicFile): a full
// disk or an interrupted save leaves the previous file as it was.

#include <cstring>
#include <fstream>

#include "pipeline/atomic_file.h"
#include "pipeline/error.h"
#include "trainer/byte_reader.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

using detail::ByteReader;
using detail::crc32_of;

constexpr char kMagicPrefix[6] = {'S', 'T', 'K', 'W', 'G', 'T'};  // then two version digits
constexpr char kMagic[8] = {'S', 'T', 'K', 'W', 'G', 'T', '0', '2'};
constexpr std::size_t kTrailerBytes = sizeof(std::uint32_t);  // CRC-32 of every byte before it
// Bytes a file may hold beyond its tensors (model text, names, shapes): a bound that keeps a
// corrupt or foreign file from making us read gigabytes.
constexpr std::uint64_t kMaxHeaderBytes = 4u << 20;

class Writer {
 public:
  template <class T>
  void put(T v) {
    bytes(&v, sizeof v);
  }
  void bytes(const void* p, std::size_t n) { buf_.insert(buf_.end(), static_cast<const char*>(p), static_cast<const char*>(p) + n); }
  void str(const std::string& s) {
    put<std::uint32_t>(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::vector<char>& buffer() { return buf_; }

 private:
  std::vector<char> buf_;
};

std::string hwc_str(const Hwc& s) {
  return "[" + std::to_string(s[0]) + "," + std::to_string(s[1]) + "," + std::to_string(s[2]) + "]";
}

// The whole file, its magic/version and CRC checked; the CRC trailer removed.
std::vector<char> read_checked(const std::string& path, std::uint64_t max_bytes) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(ErrorCode::kNotFound, "cannot open weights file", {"weights", path});
  const auto size = static_cast<std::uint64_t>(f.tellg());
  char magic[8] = {};
  f.seekg(0);
  f.read(magic, sizeof magic);
  if (f.gcount() != sizeof magic || std::memcmp(magic, kMagicPrefix, sizeof kMagicPrefix) != 0) {
    throw Error(ErrorCode::kDataLoss, "not a stoker weights file (bad magic)", {"weights", path});
  }
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) {
    throw Error(ErrorCode::kUnsupported,
                "weights file format version " + std::string(magic + 6, 2) + ", this stoker reads version " +
                    std::string(kMagic + 6, 2) + " only (version 01 files have no checksum); retrain and --save again",
                {"weights", path});
  }
  if (size > max_bytes) {
    throw Error(ErrorCode::kDataLoss, "weights file is " + std::to_string(size) + " bytes, more than the " +
                                          std::to_string(max_bytes) + " this model's weights can take", {"weights", path});
  }
  if (size < sizeof kMagic + kTrailerBytes) throw Error(ErrorCode::kDataLoss, "weights file truncated", {"weights", path});
  std::vector<char> data(size);
  f.seekg(0);
  f.read(data.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(f.gcount()) != size) throw Error(ErrorCode::kIo, "cannot read weights file", {"weights", path});
  std::uint32_t stored = 0;
  std::memcpy(&stored, data.data() + size - kTrailerBytes, kTrailerBytes);
  data.resize(size - kTrailerBytes);
  if (crc32_of(data.data(), data.size()) != stored) {
    throw Error(ErrorCode::kDataLoss, "weights file checksum mismatch (the file is corrupt or was cut short); not loaded",
                {"weights", path});
  }
  return data;
}

}  // namespace

void save_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input,
                       const std::vector<std::vector<float>>& params) {
  const auto info = spec.params(input);
  Writer w;
  w.bytes(kMagic, sizeof kMagic);
  w.str(spec.to_string());
  for (auto d : input) w.put<std::int64_t>(d);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(params.size()));
  for (std::size_t i = 0; i < params.size(); ++i) {
    w.str(info[i].name);
    w.put<std::uint32_t>(static_cast<std::uint32_t>(info[i].shape.size()));
    for (auto d : info[i].shape) w.put<std::int64_t>(d);
    w.bytes(params[i].data(), params[i].size() * sizeof(float));
  }
  std::vector<char>& buf = w.buffer();
  const std::uint32_t crc = crc32_of(buf.data(), buf.size());
  w.put<std::uint32_t>(crc);
  write_file_atomically(path, buf.data(), buf.size(), "weights");
}

std::vector<std::vector<float>> load_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input) {
  const auto info = spec.params(input);
  std::uint64_t max_bytes = kMaxHeaderBytes;
  for (const auto& p : info) max_bytes += static_cast<std::uint64_t>(p.size) * sizeof(float);
  const std::vector<char> data = read_checked(path, max_bytes);
  ByteReader r(std::string_view(data.data(), data.size()), {"weights", path});
  char magic[8];
  r.bytes(magic, sizeof magic, "the header");
  const std::string text = r.str<std::uint32_t>("the model text");
  Hwc file_input{};
  for (auto& d : file_input) d = r.get<std::int64_t>("the input shape");
  if (text != spec.to_string() || file_input != input) {
    throw Error(ErrorCode::kInvalidArgument,
                "weights were saved for model '" + text + "' on input " + hwc_str(file_input) + ", not for '" +
                    spec.to_string() + "' on input " + hwc_str(input),
                {"weights", path});
  }
  const auto count = r.get<std::uint32_t>("the tensor count");
  if (count != info.size()) {
    throw Error(ErrorCode::kDataLoss, "weights file holds " + std::to_string(count) + " tensors, the model has " +
                                          std::to_string(info.size()), {"weights", path});
  }
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < info.size(); ++i) {
    const std::string name = r.str<std::uint32_t>("a tensor name");
    const auto rank = r.get<std::uint32_t>("a tensor rank");
    if (rank > 8) throw Error(ErrorCode::kDataLoss, "implausible rank of " + name, {"weights", path});
    std::vector<std::int64_t> shape(rank);
    for (auto& d : shape) d = r.get<std::int64_t>("a tensor shape");
    if (name != info[i].name || shape != info[i].shape) {
      throw Error(ErrorCode::kDataLoss, "tensor " + std::to_string(i) + " is '" + name + "', expected '" + info[i].name + "'",
                  {"weights", path});
    }
    std::vector<float> v(static_cast<std::size_t>(info[i].size));
    r.bytes(v.data(), v.size() * 4, "tensor data");
    out.push_back(std::move(v));
  }
  if (!r.at_end()) throw Error(ErrorCode::kDataLoss, "weights file has bytes after the last tensor", {"weights", path});
  return out;
}

}  // namespace stoker
