// HDF5 deflate chunks inflated by libdeflate (what the raw-chunk reader uses) and by zlib's
// streaming inflate (what it used before), on the same chunks: one core, bytes decoded per second.
// Chunks: 64 rows of 128x128x3 uint8 synthetic photos-like images (smooth gradients plus noise,
// as make-dataset writes), compressed by zlib at level 4 like `stoker convert --deflate 4`.
//   build/test/bench/inflate_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstdint>
#include <vector>

#include "formats/inflate.h"
#include "pipeline/rng.h"

namespace {

constexpr std::size_t kChunkBytes = std::size_t{64} * 128 * 128 * 3;

struct Chunks {
  std::vector<std::vector<std::byte>> compressed;
  Chunks() {
    stoker::Rng rng(7);
    for (int c = 0; c < 8; ++c) {
      std::vector<std::uint8_t> raw(kChunkBytes);
      for (std::size_t i = 0; i < raw.size(); ++i) {
        const std::size_t px = i / 3 % (128 * 128), y = px / 128, x = px % 128;
        raw[i] = static_cast<std::uint8_t>((x * (c + 1) + y * 2 + (i % 3) * 40) / 3 + rng.uniform_int(4));
      }
      uLongf n = compressBound(raw.size());
      std::vector<std::byte> z(n);
      compress2(reinterpret_cast<Bytef*>(z.data()), &n, raw.data(), raw.size(), 4);
      z.resize(n);
      compressed.push_back(std::move(z));
    }
  }
};

const Chunks& chunks() {
  static const Chunks c;
  return c;
}

template <void (*Inflate)(std::span<const std::byte>, std::byte*, std::size_t)>
void BM_Inflate(benchmark::State& state) {
  const Chunks& c = chunks();
  std::vector<std::byte> out(kChunkBytes);
  std::size_t i = 0, in_bytes = 0;
  for (auto _ : state) {
    const auto& z = c.compressed[i++ % c.compressed.size()];
    Inflate(z, out.data(), out.size());
    in_bytes += z.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kChunkBytes));
  state.counters["ratio"] = double(state.iterations() * kChunkBytes) / double(in_bytes);
}

BENCHMARK(BM_Inflate<stoker::detail::inflate_zlib>)->Name("BM_InflateLibdeflate")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Inflate<stoker::detail::inflate_zlib_streaming>)->Name("BM_InflateZlib")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
