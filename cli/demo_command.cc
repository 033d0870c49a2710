// `stoker demo`: a self-contained end-to-end pipeline run on synthetic images, showing the
// stages, the memory bound and the per-stage stats. No input files needed.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.h"
#include "pipeline/dataset.h"

namespace stoker::cli {

int demo_command(const Args& args) {
  const std::int64_t n = args.get_count("images", 20000);
  const std::int64_t side = args.get_count("size", 64, false, 65535);
  const std::int64_t batch = args.get_count("batch", 256, false, kMaxBatch);
  const int threads = static_cast<int>(args.get_count("threads", 0, true, kMaxThreads));
  const std::size_t budget = static_cast<std::size_t>(args.get_count("memory-budget-mb", 64, false, 1 << 30)) << 20;
  args.reject_unknown();

  // Synthetic uint8 HWC images with int32 labels, generated on the fly: never all in memory.
  Dataset ds = Dataset::from_generator([n, side] {
                 return [i = std::int64_t{0}, n, side]() mutable -> std::optional<Element> {
                   if (i >= n) return std::nullopt;
                   Tensor img(DType::kU8, Shape{side, side, 3});
                   std::memset(img.mutable_data(), static_cast<int>(i * 7 & 0xff), img.nbytes());
                   Element e{img, Tensor::scalar<std::int32_t>(static_cast<std::int32_t>(i % 10))};
                   ++i;
                   return e;
                 };
               }, "synthetic")
                   .map([](Element e, Rng& rng) {
                     // Normalise to float32 with a random horizontal flip: a typical augmentation.
                     const Tensor& img = e[0];
                     const auto h = img.shape()[0], w = img.shape()[1], c = img.shape()[2];
                     Tensor out(DType::kF32, img.shape());
                     const auto* src = img.data_as<std::uint8_t>();
                     auto* dst = out.mutable_data_as<float>();
                     const bool flip = rng.bernoulli(0.5);
                     for (std::int64_t y = 0; y < h; ++y)
                       for (std::int64_t x = 0; x < w; ++x)
                         for (std::int64_t k = 0; k < c; ++k)
                           dst[(y * w + x) * c + k] = src[(y * w + (flip ? w - 1 - x : x)) * c + k] / 255.0f;
                     return Element{out, e[1]};
                   })
                   .shuffle(4096)
                   .batch(batch)
                   .prefetch(kAutotune);

  Iterator it = ds.iterator({.num_threads = threads, .memory_budget = budget, .seed = 1});
  auto t0 = std::chrono::steady_clock::now();
  std::int64_t images = 0, batches = 0;
  while (auto b = it.next()) {
    images += (*b)[0].shape()[0];
    ++batches;
  }
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  PipelineStats st = it.stats();
  std::printf("demo: %lld images of %lldx%lldx3 in %lld batches, %.2f s, %.0f images/s\n",
              static_cast<long long>(images), static_cast<long long>(side), static_cast<long long>(side),
              static_cast<long long>(batches), s, static_cast<double>(images) / s);
  std::printf("streamed %.1f MiB through a %.1f MiB budget (peak held %.1f MiB)\n\n%s",
              static_cast<double>(images * side * side * 3 * 4) / (1 << 20), static_cast<double>(budget) / (1 << 20),
              static_cast<double>(st.peak_bytes) / (1 << 20), st.to_string().c_str());
  return 0;
}

}  // namespace stoker::cli
