// Device feeder benchmarks (need a CUDA device; each skips with a message otherwise):
//   BM_H2D/pinned, BM_H2D/pageable   cudaMemcpyAsync of one 64 MB batch, bytes_per_second.
//   BM_FeederCopy                    the feeder alone over pre-filled pinned 64 MB batches: its H2D GB/s.
//   BM_FeederStall/<ms>              a real pipeline (map -> batch into a 2-slot pinned ring ->
//                                    prefetch) feeding a kernel that spends <ms> per 64 MB batch:
//                                    input stall %, H2D GB/s and the ring's back-pressure wait.
#include <benchmark/benchmark.h>

#include <cstring>
#include <memory>
#include <vector>

#include "device/cuda_check.h"
#include "device/device_feeder.h"
#include "pipeline/dataset.h"

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
#include "device/busy_kernel.h"
#endif

namespace stoker {
namespace {

constexpr std::size_t kBatchBytes = std::size_t{64} << 20;

bool skip_without_gpu(benchmark::State& state) {
  if (cuda_device_available()) return false;
  state.SkipWithError("no CUDA device (or built without CUDA): skipped");
  return true;
}

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA

void BM_H2D(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  bool pinned = state.range(0) == 1;
  Stream stream = Stream::create();
  DeviceBuffer dst(kBatchBytes);
  PinnedBuffer pinned_src;
  std::vector<std::byte> pageable_src;
  std::byte* src = nullptr;
  if (pinned) {
    pinned_src = PinnedBuffer(kBatchBytes);
    src = pinned_src.data();
  } else {
    pageable_src.resize(kBatchBytes);
    src = pageable_src.data();
  }
  std::memset(src, 1, kBatchBytes);
  Event a = Event::create(true), b = Event::create(true);
  for (auto _ : state) {
    a.record(stream.get());
    STOKER_CUDA_CHECK(cudaMemcpyAsync(dst.data(), src, kBatchBytes, cudaMemcpyHostToDevice, stream.get()));
    b.record(stream.get());
    b.synchronize();
    state.SetIterationTime(Event::elapsed_ms(a, b) * 1e-3);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBatchBytes));
  state.SetLabel(pinned ? "pinned" : "pageable");
}
BENCHMARK(BM_H2D)->Arg(1)->Arg(0)->UseManualTime()->Unit(benchmark::kMillisecond);

void report(benchmark::State& state, const FeederStats& s) {
  state.counters["stall_pct"] = s.input_stall_pct;
  state.counters["h2d_GBps"] = s.h2d_gbps;
  state.counters["gpu_idle_ms"] = s.gpu_idle_s * 1e3;
  state.counters["ring_wait_ms"] = s.ring_wait_s * 1e3;
  state.counters["batches"] = static_cast<double>(s.batches);
  state.SetLabel(s.to_string());
}

// The feeder over two pre-filled pinned 64 MB batches used in turn: no host work at all.
void BM_FeederCopy(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  constexpr std::int64_t kBatches = 32;
  auto host = std::make_shared<PinnedBuffer>(2 * kBatchBytes);
  std::memset(host->data(), 3, host->size());
  Stream compute = Stream::create();
  FeederStats stats;
  for (auto _ : state) {
    auto ds = Dataset::from_generator([host] {
      auto i = std::make_shared<std::int64_t>(0);
      return [host, i]() -> std::optional<Element> {
        if (*i >= kBatches) return std::nullopt;
        std::shared_ptr<std::byte> view(host, host->data() + static_cast<std::size_t>(*i % 2) * kBatchBytes);
        ++*i;
        return Element{Tensor(DType::kU8, Shape{static_cast<std::int64_t>(kBatchBytes)}, view)};
      };
    });
    DeviceFeeder feeder(ds.iterator({.num_threads = 1}), {.buffer_bytes = kBatchBytes});
    while (auto b = feeder.next()) b->wait_on(compute.get());
    compute.synchronize();
    stats = feeder.stats();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBatches * kBatchBytes));
  report(state, stats);
}
BENCHMARK(BM_FeederCopy)->Unit(benchmark::kMillisecond)->UseRealTime();

// 64 rows of 1 MB (uint8, filled by the map) per batch; a kernel consumes each batch in
// state.range(0) milliseconds. Stall % = compute-stream idle time / wall time.
void BM_FeederStall(benchmark::State& state) {
  if (skip_without_gpu(state)) return;
  constexpr std::int64_t kRows = 64, kRowBytes = std::int64_t{1} << 20, kBatches = 24;
  const std::uint64_t consume_ns = static_cast<std::uint64_t>(state.range(0)) * 1'000'000;
  Element row{Tensor(DType::kU8, Shape{kRowBytes})};
  auto ring = std::make_shared<PinnedRing>(PinnedRing::slot_bytes_for(row, kRows), 2);
  Stream compute = Stream::create();
  FeederStats stats;
  for (auto _ : state) {
    auto ds = Dataset::range(kRows * kBatches)
                  .map([](Element e) {
                    Tensor t(DType::kU8, Shape{kRowBytes});
                    std::memset(t.mutable_data(), static_cast<int>(e[0].item<std::int64_t>() & 0xff), t.nbytes());
                    return Element{t};
                  })
                  .batch(kRows)
                  .prefetch(2);
    DeviceFeeder feeder(ds.iterator({.batch_allocator = ring}), {.ring = ring});
    while (auto b = feeder.next()) {
      b->wait_on(compute.get());
      test_support::launch_busy_wait(compute.get(), consume_ns);
    }
    compute.synchronize();
    stats = feeder.stats();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kBatches * kRows * kRowBytes));
  report(state, stats);
}
BENCHMARK(BM_FeederStall)->Arg(2)->Arg(10)->Arg(30)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(2);

#else

void BM_SkippedWithoutCuda(benchmark::State& state) {
  skip_without_gpu(state);
  for (auto _ : state) {
  }
}
BENCHMARK(BM_SkippedWithoutCuda);

#endif

}  // namespace
}  // namespace stoker

BENCHMARK_MAIN();
