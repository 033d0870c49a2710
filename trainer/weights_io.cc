// Weights file: a small binary format with a header, so a file from another model or input
// shape is refused with a message instead of loading garbage (see trainer.h).
#include <cstring>
#include <fstream>

#include "pipeline/error.h"
#include "trainer/trainer.h"

namespace stoker {
namespace {

constexpr char kMagic[8] = {'S', 'T', 'K', 'W', 'G', 'T', '0', '1'};

template <class T>
void put(std::ofstream& f, T v) {
  f.write(reinterpret_cast<const char*>(&v), sizeof v);
}

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path), f_(path, std::ios::binary) {
    if (!f_) throw Error(ErrorCode::kNotFound, "cannot open weights file", {"weights", path_});
  }
  void bytes(void* dst, std::size_t n, const char* what) {
    f_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::size_t>(f_.gcount()) != n) {
      throw Error(ErrorCode::kDataLoss, std::string("weights file truncated while reading ") + what, {"weights", path_});
    }
  }
  template <class T>
  T get(const char* what) {
    T v;
    bytes(&v, sizeof v, what);
    return v;
  }
  std::string str(const char* what) {
    auto n = get<std::uint32_t>(what);
    if (n > (1u << 20)) throw Error(ErrorCode::kDataLoss, std::string("implausible length of ") + what, {"weights", path_});
    std::string s(n, '\0');
    bytes(s.data(), n, what);
    return s;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream f_;
};

std::string hwc_str(const Hwc& s) {
  return "[" + std::to_string(s[0]) + "," + std::to_string(s[1]) + "," + std::to_string(s[2]) + "]";
}

}  // namespace

void save_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input,
                       const std::vector<std::vector<float>>& params) {
  const auto info = spec.params(input);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw Error(ErrorCode::kIo, "cannot write weights file", {"weights", path});
  f.write(kMagic, sizeof kMagic);
  const std::string text = spec.to_string();
  put<std::uint32_t>(f, static_cast<std::uint32_t>(text.size()));
  f.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (auto d : input) put<std::int64_t>(f, d);
  put<std::uint32_t>(f, static_cast<std::uint32_t>(params.size()));
  for (std::size_t i = 0; i < params.size(); ++i) {
    put<std::uint32_t>(f, static_cast<std::uint32_t>(info[i].name.size()));
    f.write(info[i].name.data(), static_cast<std::streamsize>(info[i].name.size()));
    put<std::uint32_t>(f, static_cast<std::uint32_t>(info[i].shape.size()));
    for (auto d : info[i].shape) put<std::int64_t>(f, d);
    f.write(reinterpret_cast<const char*>(params[i].data()), static_cast<std::streamsize>(params[i].size() * 4));
  }
  f.flush();
  if (!f) throw Error(ErrorCode::kIo, "writing the weights file failed (disk full?)", {"weights", path});
}

std::vector<std::vector<float>> load_weights_file(const std::string& path, const ModelSpec& spec, const Hwc& input) {
  Reader r(path);
  char magic[8];
  r.bytes(magic, sizeof magic, "the header");
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) {
    throw Error(ErrorCode::kDataLoss, "not a stoker weights file (bad magic)", {"weights", path});
  }
  const std::string text = r.str("the model text");
  Hwc file_input{};
  for (auto& d : file_input) d = r.get<std::int64_t>("the input shape");
  if (text != spec.to_string() || file_input != input) {
    throw Error(ErrorCode::kInvalidArgument,
                "weights were saved for model '" + text + "' on input " + hwc_str(file_input) + ", not for '" +
                    spec.to_string() + "' on input " + hwc_str(input),
                {"weights", path});
  }
  const auto info = spec.params(input);
  const auto count = r.get<std::uint32_t>("the tensor count");
  if (count != info.size()) {
    throw Error(ErrorCode::kDataLoss, "weights file holds " + std::to_string(count) + " tensors, the model has " +
                                          std::to_string(info.size()), {"weights", path});
  }
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < info.size(); ++i) {
    const std::string name = r.str("a tensor name");
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
  return out;
}

}  // namespace stoker
