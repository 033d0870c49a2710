// Training checkpoint file: serialisation, checksum and the atomic write (see checkpoint.h).
#include "trainer/checkpoint.h"


#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "pipeline/atomic_file.h"
#include "pipeline/error.h"
#include "trainer/byte_reader.h"

namespace stoker {
namespace {

using detail::ByteReader;
using detail::crc32_of;

constexpr char kMagic[8] = {'S', 'T', 'K', 'C', 'K', 'P', 'T', '1'};
constexpr std::size_t kHeaderBytes = sizeof kMagic + 4 + 8 + 4;

class Writer {
 public:
  template <class T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    put<std::uint64_t>(s.size());
    out += s;
  }
  void tensors(const std::vector<std::vector<float>>& ts) {
    put<std::uint64_t>(ts.size());
    for (const auto& t : ts) {
      put<std::uint64_t>(t.size());
      out.append(reinterpret_cast<const char*>(t.data()), t.size() * sizeof(float));
    }
  }
  std::string out;
};

// Tensors as Writer::tensors stores them: a count, then each one's length and floats.
std::vector<std::vector<float>> read_tensors(ByteReader& r, const char* what) {
  std::vector<std::vector<float>> ts(r.count<std::uint64_t>(8, what));
  for (auto& t : ts) {
    t.resize(r.count<std::uint64_t>(sizeof(float), what));
    r.bytes(t.data(), t.size() * sizeof(float), what);
  }
  return ts;
}

}  // namespace

void write_checkpoint(const std::string& path, const TrainingCheckpoint& c) {
  Writer w;
  w.str(c.model);
  for (auto d : c.input) w.put<std::int64_t>(d);
  w.put<std::int32_t>(static_cast<std::int32_t>(c.precision));
  const OptimizerConfig& o = c.optimizer;
  w.put<std::int32_t>(o.kind);
  w.put(o.learning_rate), w.put(o.beta1), w.put(o.beta2), w.put(o.epsilon), w.put(o.momentum);
  w.put<std::int32_t>(o.schedule);
  w.put<std::int64_t>(o.decay_steps);
  w.put(o.final_fraction);
  w.put<std::uint64_t>(c.seed);
  w.put<std::int64_t>(c.steps);
  w.tensors(c.params);
  const OptimizerState& s = c.optimizer_state;
  w.put<std::int64_t>(s.applied);
  w.tensors(s.m);
  w.tensors(s.v);
  w.put<std::uint8_t>(s.scaler.dynamic);
  w.put(s.scaler.scale);
  w.put<std::int32_t>(s.scaler.good_steps);
  w.put<std::int32_t>(s.scaler.growth_interval);
  const FitPosition& p = c.position;
  w.put<std::int32_t>(p.epoch);
  w.put<std::int64_t>(p.batches), w.put<std::int64_t>(p.steps), w.put<std::int64_t>(p.samples);
  w.put<std::int64_t>(p.skipped_steps);
  w.put(p.loss_sum), w.put(p.correct);
  w.str(p.iterator_state);
  w.str(c.run_key);

  Writer file;
  file.out.append(kMagic, sizeof kMagic);
  file.put<std::uint32_t>(kCheckpointVersion);
  file.put<std::uint64_t>(w.out.size());
  file.put<std::uint32_t>(crc32_of(w.out.data(), w.out.size()));
  file.out += w.out;
  write_file_atomically(path, file.out.data(), file.out.size(), "checkpoint");
}

TrainingCheckpoint read_checkpoint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorCode::kNotFound, "cannot open checkpoint file", {"checkpoint", path});
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw Error(ErrorCode::kIo, "cannot stat checkpoint file: " + ec.message(), {"checkpoint", path});
  std::string data(static_cast<std::size_t>(size), '\0');  // the file's own size, nothing more
  f.read(data.data(), static_cast<std::streamsize>(data.size()));
  if (static_cast<std::uint64_t>(f.gcount()) != size) throw Error(ErrorCode::kIo, "short read", {"checkpoint", path});

  ByteReader h(data, {"checkpoint", path});
  char magic[8];
  h.bytes(magic, sizeof magic, "the header");
  if (std::memcmp(magic, kMagic, sizeof magic) != 0) h.fail("not a stoker checkpoint (bad magic)");
  const auto version = h.get<std::uint32_t>("the header");
  if (version != kCheckpointVersion) {
    throw Error(ErrorCode::kUnsupported, "checkpoint format version " + std::to_string(version) + "; this build reads version " +
                                             std::to_string(kCheckpointVersion), {"checkpoint", path});
  }
  const auto payload = h.get<std::uint64_t>("the header");
  const auto crc = h.get<std::uint32_t>("the header");
  if (payload != size - kHeaderBytes) {
    h.fail("the header says " + std::to_string(payload) + " payload bytes, the file has " +
           std::to_string(size - kHeaderBytes) + " (truncated or appended to)");
  }
  if (crc32_of(data.data() + kHeaderBytes, payload) != crc) h.fail("checksum mismatch: the file is corrupt");

  ByteReader r(std::string_view(data).substr(kHeaderBytes), {"checkpoint", path});
  TrainingCheckpoint c;
  c.model = r.str<std::uint64_t>("the model text");
  for (auto& d : c.input) d = r.get<std::int64_t>("the input shape");
  c.precision = static_cast<Precision>(r.get<std::int32_t>("the precision"));
  OptimizerConfig& o = c.optimizer;
  o.kind = static_cast<OptimizerConfig::Kind>(r.get<std::int32_t>("the optimizer"));
  o.learning_rate = r.get<float>("the optimizer"), o.beta1 = r.get<float>("the optimizer");
  o.beta2 = r.get<float>("the optimizer"), o.epsilon = r.get<float>("the optimizer");
  o.momentum = r.get<float>("the optimizer");
  o.schedule = static_cast<OptimizerConfig::Schedule>(r.get<std::int32_t>("the schedule"));
  o.decay_steps = r.get<std::int64_t>("the schedule");
  o.final_fraction = r.get<float>("the schedule");
  c.seed = r.get<std::uint64_t>("the seed");
  c.steps = r.get<std::int64_t>("the step count");
  c.params = read_tensors(r, "the weights");
  OptimizerState& s = c.optimizer_state;
  s.applied = r.get<std::int64_t>("the optimizer state");
  s.m = read_tensors(r, "the first moments");
  s.v = read_tensors(r, "the second moments");
  s.scaler.dynamic = r.get<std::uint8_t>("the loss scaler") != 0;
  s.scaler.scale = r.get<float>("the loss scaler");
  s.scaler.good_steps = r.get<std::int32_t>("the loss scaler");
  s.scaler.growth_interval = r.get<std::int32_t>("the loss scaler");
  FitPosition& p = c.position;
  p.epoch = r.get<std::int32_t>("the position");
  p.batches = r.get<std::int64_t>("the position"), p.steps = r.get<std::int64_t>("the position");
  p.samples = r.get<std::int64_t>("the position"), p.skipped_steps = r.get<std::int64_t>("the position");
  p.loss_sum = r.get<double>("the position"), p.correct = r.get<double>("the position");
  p.iterator_state = r.str<std::uint64_t>("the iterator state");
  c.run_key = r.str<std::uint64_t>("the run key");
  if (!r.at_end()) r.fail("bytes left after the last field");
  if (p.epoch < 0 || p.batches < 0 || c.steps < 0 || s.applied < 0) r.fail("negative position or step count");
  return c;
}

}  // namespace stoker
