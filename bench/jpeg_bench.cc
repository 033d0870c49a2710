// JPEG input pipeline throughput: image_folder -> decode_jpeg (random-resized-crop 224, flip) ->
// batch 256 -> prefetch 2 on 2 threads, a first pass and later passes (MCU index warm), next to
// the ceiling: the same files read and fully decoded by TurboJPEG in a plain loop on 2
// std::threads, no pipeline.
//
// Data: a folder of ImageNet-like JPEGs (500x375, about 110 KB at quality 90) generated on first
// use: $STOKER_JPEG_BENCH_DIR (default /tmp/stoker_jpeg_bench), $STOKER_JPEG_BENCH_COUNT files
// (default 2000). Files are read from the page cache after the first pass.
//
// Output: the Google Benchmark table (each case with min/median/max over repetitions), then a
// side-by-side table: ceiling and pipeline runs interleaved (so load drift hits both), images/s
// min/median/max per case and the ratio pipeline / ceiling per repetition; then the process' CPU
// time (user + sys) per image and its ratio: the pipeline runs batch assembly on the consumer
// thread beside its 2 workers, so on a machine others load too it can win a larger share of the
// CPUs than the 2-thread loop; images per CPU-second do not depend on that share.
//   build/bench/jpeg_bench --benchmark_repetitions=3        (STOKER_BENCH_REPS: side-by-side reps;
//   STOKER_BENCH_REPS=0 --benchmark_filter=none: only generate the folder)
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "formats/file_source.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"

namespace {

namespace fs = std::filesystem;
using namespace stoker;

constexpr int kThreads = 2;
constexpr int kBatch = 256;
constexpr int kH = 375, kW = 500, kClasses = 10;

std::string bench_dir() {
  const char* d = std::getenv("STOKER_JPEG_BENCH_DIR");
  return d ? d : "/tmp/stoker_jpeg_bench";
}
int bench_count() {
  const char* c = std::getenv("STOKER_JPEG_BENCH_COUNT");
  return c ? std::max(kBatch, std::atoi(c)) : 2000;
}

std::uint64_t hash(std::uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Smooth value noise at `cell` pixels per lattice step, in [-1, 1].
double value_noise(double x, double y, double cell, std::uint64_t seed) {
  double fx = x / cell, fy = y / cell;
  auto ix = static_cast<std::int64_t>(std::floor(fx)), iy = static_cast<std::int64_t>(std::floor(fy));
  double tx = fx - ix, ty = fy - iy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  auto v = [&](std::int64_t a, std::int64_t b) {
    return static_cast<double>(hash(seed ^ hash(static_cast<std::uint64_t>(a) * 73856093u ^ static_cast<std::uint64_t>(b) * 19349663u)) >> 11) * 0x1.0p-52 - 1.0;
  };
  double top = v(ix, iy) * (1 - tx) + v(ix + 1, iy) * tx;
  double bot = v(ix, iy + 1) * (1 - tx) + v(ix + 1, iy + 1) * tx;
  return top * (1 - ty) + bot * ty;
}

// A photo-like image: a gradient, large blobs, mid-scale texture and fine grain, so quality 90
// gives ImageNet-like sizes (~110 KB at 500x375).
std::vector<std::uint8_t> synth(std::uint64_t seed) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(kH) * kW * 3);
  double gx = static_cast<double>(hash(seed) % 200) / 100.0 - 1, gy = static_cast<double>(hash(seed + 1) % 200) / 100.0 - 1;
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      double base = 60 * (gx * x / kW + gy * y / kH) + 55 * value_noise(x, y, 90, seed) + 30 * value_noise(x, y, 23, seed + 7);
      double tex = 54 * value_noise(x, y, 3.1, seed + 11) + 40 * value_noise(x, y, 1.3, seed + 13);
      for (int c = 0; c < 3; ++c) {
        double chroma = 35 * value_noise(x, y, 60, seed + 17 + c);
        double grain = static_cast<double>(hash(seed * 1000003 + static_cast<std::uint64_t>((y * kW + x) * 3 + c)) % 45) - 22;
        double v = 128 + base + chroma + tex + grain;
        px[(static_cast<std::size_t>(y) * kW + x) * 3 + c] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  return px;
}

// Generates the folder unless a complete one for this count exists. Returns all file paths.
std::vector<std::string> ensure_folder() {
  const std::string root = bench_dir();
  const int n = bench_count();
  const fs::path stamp = fs::path(root) / (".complete_" + std::to_string(n));
  if (!fs::exists(stamp)) {
    std::fprintf(stderr, "jpeg_bench: generating %d JPEGs in %s ...\n", n, root.c_str());
    fs::remove_all(root);
    for (int c = 0; c < kClasses; ++c) fs::create_directories(fs::path(root) / ("class" + std::to_string(c)));
    std::atomic<int> next{0};
    std::atomic<std::size_t> bytes{0};
    auto work = [&] {
      for (int i; (i = next.fetch_add(1)) < n;) {
        auto jpeg = encode_jpeg(synth(static_cast<std::uint64_t>(i) + 1).data(), kH, kW, 3, {.quality = 90});
        bytes += jpeg.size();
        std::ofstream f(fs::path(root) / ("class" + std::to_string(i % kClasses)) / ("img" + std::to_string(i) + ".jpg"),
                        std::ios::binary);
        f.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
      }
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < kThreads; ++t) ts.emplace_back(work);
    for (auto& t : ts) t.join();
    std::ofstream(stamp) << n << "\n";
    std::fprintf(stderr, "jpeg_bench: mean file size %.1f KB\n", static_cast<double>(bytes) / n / 1024.0);
  }
  return list_image_folder(root).paths;
}

const std::vector<std::string>& paths() {
  static const std::vector<std::string> p = ensure_folder();
  return p;
}

// Process CPU time (user + sys, all threads) in seconds.
double process_cpu_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}
// CPU microseconds per image of the last run_ceiling()/run_pipeline() call.
double g_cpu_us_per_image = 0;

// Ceiling: read + full-size decode of every file by TurboJPEG on kThreads plain threads.
double run_ceiling() {
  const auto& ps = paths();
  std::atomic<std::size_t> next{0};
  const double c0 = process_cpu_s();
  auto t0 = std::chrono::steady_clock::now();
  auto work = [&] {
    tjhandle h = tjInitDecompress();
    std::vector<unsigned char> file, out;
    for (std::size_t i; (i = next.fetch_add(1)) < ps.size();) {
      std::ifstream f(ps[i], std::ios::binary | std::ios::ate);
      file.resize(static_cast<std::size_t>(f.tellg()));
      f.seekg(0);
      f.read(reinterpret_cast<char*>(file.data()), static_cast<std::streamsize>(file.size()));
      int w = 0, hh = 0, sub = 0, cs = 0;
      if (tjDecompressHeader3(h, file.data(), file.size(), &w, &hh, &sub, &cs) != 0) std::abort();
      out.resize(static_cast<std::size_t>(w) * hh * 3);
      if (tjDecompress2(h, file.data(), file.size(), out.data(), w, 0, hh, TJPF_RGB, 0) != 0) std::abort();
      benchmark::DoNotOptimize(out.data());
    }
    tjDestroy(h);
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) ts.emplace_back(work);
  for (auto& t : ts) t.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  g_cpu_us_per_image = (process_cpu_s() - c0) / static_cast<double>(ps.size()) * 1e6;
  return static_cast<double>(ps.size()) / s;
}

// kRrcFlip: a new dataset each run (a first pass, no index). kRrcFlipIndexed: one dataset whose
// decode keeps an MCU index (DecodeJpegOptions::mcu_index_bytes), built by one pass before the
// timed runs (reported on its own): every timed run is a later pass of training, which
// entropy-decodes only the MCUs under each window.
enum class Case { kRrcFlip, kRrcFlipIndexed, kFullDecode };
constexpr std::size_t kMcuIndexBytes = std::size_t{64} << 20;

Dataset make_pipeline(Case c) {
  DecodeJpegOptions o;
  if (c != Case::kFullDecode) {
    o = {.height = 224, .width = 224, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
    if (c == Case::kRrcFlipIndexed) o.mcu_index_bytes = kMcuIndexBytes;
  }
  return image_folder(bench_dir()).map(decode_jpeg(o), {.name = "decode_jpeg"}).batch(kBatch).prefetch(2);
}

// One epoch of `ds`; returns images/s (iterator start to last batch).
double run_epoch(const Dataset& ds, std::uint64_t seed) {
  const double c0 = process_cpu_s();
  auto t0 = std::chrono::steady_clock::now();
  auto it = ds.iterator({.num_threads = kThreads, .memory_budget = std::size_t{2} << 30, .seed = seed});
  std::int64_t n = 0;
  while (auto b = it.next()) n += (*b)[0].shape()[0];
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (n != static_cast<std::int64_t>(paths().size())) std::abort();
  g_cpu_us_per_image = (process_cpu_s() - c0) / static_cast<double>(n) * 1e6;
  return static_cast<double>(n) / s;
}

double g_index_pass_images_per_s = 0, g_index_pass_cpu_us = 0;  // the pass that built the index

double run_pipeline(Case c, std::uint64_t seed) {
  if (c != Case::kRrcFlipIndexed) return run_epoch(make_pipeline(c), seed);
  static const Dataset warm = [] {
    Dataset ds = make_pipeline(Case::kRrcFlipIndexed);
    g_index_pass_images_per_s = run_epoch(ds, 1);  // the first pass scans every file once
    g_index_pass_cpu_us = g_cpu_us_per_image;
    return ds;
  }();
  return run_epoch(warm, seed);
}

void BM_Ceiling_TurboJpegLoop(benchmark::State& state) {
  for (auto _ : state) state.counters["images_per_s"] = run_ceiling();
}
void BM_Pipeline(benchmark::State& state) {
  std::uint64_t seed = 0;
  for (auto _ : state) state.counters["images_per_s"] = run_pipeline(static_cast<Case>(state.range(0)), ++seed);
}

// Single-thread cost per image of the pieces (CPU time: robust to a loaded machine).
std::vector<std::uint8_t> first_file() {
  std::ifstream f(paths()[0], std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
}
void BM_TurboJpegFullDecode(benchmark::State& state) {
  auto file = first_file();
  tjhandle h = tjInitDecompress();
  std::vector<unsigned char> out(static_cast<std::size_t>(kW) * kH * 3);
  for (auto _ : state) {
    if (tjDecompress2(h, file.data(), file.size(), out.data(), kW, 0, kH, TJPF_RGB, 0) != 0) std::abort();
  }
  tjDestroy(h);
  state.SetItemsProcessed(state.iterations());
}
void BM_DecodeJpegMapFn(benchmark::State& state) {
  auto file = first_file();
  Tensor bytes(DType::kU8, Shape{static_cast<std::int64_t>(file.size())});
  std::memcpy(bytes.mutable_data(), file.data(), file.size());
  DecodeJpegOptions o;
  if (state.range(0) != 2) {
    o = {.height = 224, .width = 224, .crop = CropMode::kRandomResized, .flip_probability = 0.5,
         .dct_scaling = state.range(0) == 0, .partial_decode = state.range(0) != 3};
  }
  MapFn fn = decode_jpeg(o);
  std::uint64_t i = 0;
  for (auto _ : state) {
    Rng rng(1, 0, ++i);
    benchmark::DoNotOptimize(fn(Element{bytes}, rng));
  }
  state.SetItemsProcessed(state.iterations());
}
// Resampling a 320x320 RGB window (an average random-resized-crop of a 500x375 image) to 224x224.
// case 0: bilinear; 1: area; 2: bilinear, mirrored (the random flip's other half).
void BM_Resize320To224(benchmark::State& state) {
  std::vector<std::uint8_t> src(320 * 320 * 3), dst(224 * 224 * 3);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::uint8_t>(i * 7);
  const auto filter = state.range(0) == 1 ? ResizeFilter::kArea : ResizeFilter::kBilinear;
  const bool flip = state.range(0) == 2;
  for (auto _ : state) {
    detail::resize_region(src.data(), 320, 320, 3, 320 * 3, {0.5, 0.5, 319, 319}, dst.data(), 224, 224, filter, flip);
    benchmark::DoNotOptimize(dst.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Resize320To224)->ArgName("case")->Arg(0)->Arg(1)->Arg(2);
BENCHMARK(BM_TurboJpegFullDecode);
// case 0: rrc224+flip, all fusions; 1: no DCT scaling; 2: plain full decode; 3: no partial decode.
BENCHMARK(BM_DecodeJpegMapFn)->ArgName("case")->Arg(0)->Arg(1)->Arg(2)->Arg(3);

double stat_min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }
double stat_max(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

BENCHMARK(BM_Ceiling_TurboJpegLoop)->Unit(benchmark::kSecond)->Iterations(1)
    ->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);
BENCHMARK(BM_Pipeline)->ArgName("case")->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kSecond)->Iterations(1)
    ->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);

void side_by_side(int reps) {
  const char* names[] = {"ceiling: TurboJPEG loop, full decode", "pipeline: rrc224+flip+batch256, first pass",
                         "pipeline: rrc224+flip+batch256, later passes", "pipeline: full decode+batch256"};
  std::vector<double> v[4], ratio[3], cpu[4], cpu_ratio[3];
  for (int r = 0; r < reps; ++r) {
    v[0].push_back(run_ceiling());
    cpu[0].push_back(g_cpu_us_per_image);
    for (int c = 0; c < 3; ++c) {
      v[c + 1].push_back(run_pipeline(static_cast<Case>(c), static_cast<std::uint64_t>(r) + 100));
      ratio[c].push_back(v[c + 1].back() / v[0].back());
      cpu[c + 1].push_back(g_cpu_us_per_image);
      cpu_ratio[c].push_back(cpu[0].back() / cpu[c + 1].back());
    }
  }
  std::printf("\nside by side, %zu files (%dx%d JPEG), %d threads, %d repetitions (interleaved)\n", paths().size(), kW,
              kH, kThreads, reps);
  std::printf("%-50s %10s %10s %10s   %s\n", "case", "min img/s", "median", "max", "ratio to ceiling min/median/max");
  for (int c = 0; c < 4; ++c) {
    std::printf("%-50s %10.0f %10.0f %10.0f", names[c], stat_min(v[c]), median(v[c]), stat_max(v[c]));
    if (c > 0) std::printf("   %.2f / %.2f / %.2f", stat_min(ratio[c - 1]), median(ratio[c - 1]), stat_max(ratio[c - 1]));
    std::printf("\n");
  }
  std::printf("%-50s %10s %10s %10s   %s\n", "CPU time per image (user+sys, all threads)", "min us", "median", "max",
              "images per CPU-second, ratio to ceiling min/median/max");
  for (int c = 0; c < 4; ++c) {
    std::printf("%-50s %10.0f %10.0f %10.0f", names[c], stat_min(cpu[c]), median(cpu[c]), stat_max(cpu[c]));
    if (c > 0) {
      std::printf("   %.2f / %.2f / %.2f", stat_min(cpu_ratio[c - 1]), median(cpu_ratio[c - 1]), stat_max(cpu_ratio[c - 1]));
    }
    std::printf("\n");
  }
  std::printf("the pass that built the MCU index (once, before the runs above): %.0f img/s, %.0f CPU us per image\n",
              g_index_pass_images_per_s, g_index_pass_cpu_us);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  paths();  // generate before timing anything
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const char* reps = std::getenv("STOKER_BENCH_REPS");
  if (reps && std::atoi(reps) <= 0) return 0;  // the folder only (bench/compare makes its photos so)
  side_by_side(reps ? std::atoi(reps) : 5);
  return 0;
}
