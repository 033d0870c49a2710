// Pipeline micro-benchmarks: framework overhead per element, parallel map scaling, and the time
// to cancel an iterator with slow work in flight.
//   build/bench/pipeline_bench --benchmark_repetitions=5 --benchmark_format=json > out.json
//   bench/ratio.py out.json BM_ParallelMap/threads:2 BM_ParallelMap/threads:1
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "pipeline/dataset.h"

namespace stoker {
namespace {

// The overhead case: 4-byte elements through source -> map(identity) -> batch(256) ->
// prefetch, one thread. Reports elements/s.
void BM_FrameworkOverhead(benchmark::State& state) {
  const std::int64_t n = 1 << 20;
  std::vector<Element> elements;
  elements.reserve(n);
  for (std::int64_t i = 0; i < n; ++i) elements.push_back(Element{Tensor::scalar<std::int32_t>(static_cast<std::int32_t>(i))});
  Dataset ds = Dataset::from_vector(std::move(elements)).map([](Element e) { return e; }).batch(256).prefetch(2);
  std::int64_t items = 0;
  for (auto _ : state) {
    Iterator it = ds.iterator({.num_threads = 1});
    while (auto b = it.next()) items += (*b)[0].shape()[0];
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_FrameworkOverhead)->Unit(benchmark::kMillisecond)->UseRealTime();

// About 50 us of arithmetic per element (calibrated once), so the map is CPU-bound.
double burn(std::int64_t iterations, double seed) {
  double x = seed;
  for (std::int64_t i = 0; i < iterations; ++i) x = std::sin(x) + 1.0001;
  return x;
}

std::int64_t iterations_for_50us() {
  static const std::int64_t it = [] {
    std::int64_t n = 1000;
    for (;;) {
      auto t0 = std::chrono::steady_clock::now();
      benchmark::DoNotOptimize(burn(n, 0.5));
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      if (us > 5000) return static_cast<std::int64_t>(static_cast<double>(n) * 50.0 / us);
      n *= 2;
    }
  }();
  return it;
}

void BM_ParallelMap(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const std::int64_t work = iterations_for_50us();
  Dataset ds = Dataset::range(4000)
                   .map([work](Element e) {
                     double v = burn(work, static_cast<double>(e[0].item<std::int64_t>()));
                     return Element{Tensor::scalar<double>(v)};
                   })
                   .batch(64)
                   .prefetch(2);
  std::int64_t items = 0;
  for (auto _ : state) {
    Iterator it = ds.iterator({.num_threads = threads});
    while (auto b = it.next()) items += (*b)[0].shape()[0];
  }
  state.SetItemsProcessed(items);
}
BENCHMARK(BM_ParallelMap)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// Time for ~Iterator() with a 20 ms-per-element map in flight on every thread (target: 100 ms).
void BM_CancelLatency(benchmark::State& state) {
  Dataset ds = Dataset::range(1'000'000)
                   .map([](Element e) {
                     std::this_thread::sleep_for(std::chrono::milliseconds(20));
                     return e;
                   })
                   .batch(4)
                   .prefetch(4);
  for (auto _ : state) {
    std::optional<Iterator> it(ds.iterator({.num_threads = 2}));
    it->next();
    auto t0 = std::chrono::steady_clock::now();
    it.reset();
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}
BENCHMARK(BM_CancelLatency)->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(10);

}  // namespace
}  // namespace stoker

BENCHMARK_MAIN();
