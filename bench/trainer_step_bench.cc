// trainer_step_bench: samples/s of one optimizer step (forward, backward, Adam) on synthetic
// Fashion-MNIST-shaped batches, per model, batch size and precision; no input pipeline, so
// this is the trainer's own ceiling. CPU by default; the cuda variants run when a device exists.
#include <benchmark/benchmark.h>

#include <string>

#include "pipeline/rng.h"
#include "trainer/trainer.h"

namespace {

stoker::Element make_batch(std::int64_t n) {
  stoker::Tensor x(stoker::DType::kU8, stoker::Shape{n, 28, 28, 1});
  stoker::Tensor y(stoker::DType::kI32, stoker::Shape{n});
  stoker::Rng rng(1);
  for (std::int64_t i = 0; i < n * 784; ++i) x.mutable_data_as<std::uint8_t>()[i] = static_cast<std::uint8_t>(rng.uniform_int(256));
  for (std::int64_t i = 0; i < n; ++i) y.mutable_data_as<std::int32_t>()[i] = static_cast<std::int32_t>(rng.uniform_int(10));
  return stoker::Element{x, y};
}

void step(benchmark::State& state, const std::string& model, const std::string& backend, stoker::Precision p) {
  if (backend == "cuda" && !stoker::cuda_backend_available()) {
    state.SkipWithError("no CUDA device");
    return;
  }
  const std::int64_t batch = state.range(0);
  stoker::TrainerConfig cfg;
  cfg.backend = backend;
  cfg.precision = p;
  cfg.batch_size = batch;
  cfg.num_threads = static_cast<int>(state.range(1));
  cfg.input_scale = 1.f / 255;
  stoker::Trainer t(stoker::ModelSpec::preset(model, 10), {28, 28, 1}, cfg);
  const stoker::Element b = make_batch(batch);
  t.train_step(b);  // warm-up: workspaces, cuDNN algorithm choice
  for (auto _ : state) benchmark::DoNotOptimize(t.train_step(b));
  state.SetItemsProcessed(state.iterations() * batch);
}

void BM_SeedCpu(benchmark::State& s) { step(s, "seed", "cpu", stoker::Precision::kFloat32); }
void BM_ConvnetCpu(benchmark::State& s) { step(s, "convnet", "cpu", stoker::Precision::kFloat32); }
void BM_SeedCuda(benchmark::State& s) { step(s, "seed", "cuda", stoker::Precision::kFloat32); }
void BM_ConvnetCudaFp32(benchmark::State& s) { step(s, "convnet", "cuda", stoker::Precision::kFloat32); }
void BM_ConvnetCudaFp16(benchmark::State& s) { step(s, "convnet", "cuda", stoker::Precision::kMixedFloat16); }

BENCHMARK(BM_SeedCpu)->Args({32, 1})->Args({32, 2})->Args({256, 2})->UseRealTime();
BENCHMARK(BM_ConvnetCpu)->Args({32, 1})->Args({32, 2})->UseRealTime();
BENCHMARK(BM_SeedCuda)->Args({32, 1})->Args({256, 1})->UseRealTime();
BENCHMARK(BM_ConvnetCudaFp32)->Args({128, 1})->UseRealTime();
BENCHMARK(BM_ConvnetCudaFp16)->Args({128, 1})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
