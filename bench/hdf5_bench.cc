// HDF5 source throughput: stoker's hdf5() -> batch(64) against a plain H5Dread loop over the same
// uncompressed chunked file, and the same data gzip-chunked decoded on 1 vs 2 threads.
//
// Data: N x 128 x 128 x 3 uint8 "images" (gradients plus 3 bits of noise: deflate(1) saves only
// ~12%, like natural photos, so inflate is the expensive literal-heavy kind), in
// chunks of 16 rows; one uncompressed file and one deflate(1) file, generated on first use (and
// kept) next to STOKER_HDF5_BENCH_FILE:
//   STOKER_HDF5_BENCH_FILE  base path (default /tmp/stoker_hdf5_bench); files <base>_<MB>_raw.h5
//                           and <base>_<MB>_gzip.h5
//   STOKER_HDF5_BENCH_MB    uncompressed size in MiB (default 4096)
// Run:  STOKER_HDF5_BENCH_MB=1024 build/bench/hdf5_bench --benchmark_repetitions=3
// Every benchmark iteration streams the whole file once; after the run a summary prints
// min/median/max MB/s per case and the ratios the design targets (stoker/plain >= 0.9 uncompressed,
// gzip 2 threads / 1 thread >= 1.8). Files larger than RAM measure the disk; smaller ones are
// served from the page cache after the first pass and measure the CPU side.
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "formats/hdf5_common.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"

namespace {

using namespace stoker;

constexpr std::int64_t kH = 128, kW = 128, kC = 3, kChunkRows = 16;
constexpr std::int64_t kRowBytes = kH * kW * kC;

std::int64_t size_mb() {
  const char* s = std::getenv("STOKER_HDF5_BENCH_MB");
  return s ? std::max<std::int64_t>(1, std::atoll(s)) : 4096;
}

std::string base_path() {
  const char* s = std::getenv("STOKER_HDF5_BENCH_FILE");
  return (s ? std::string(s) : std::string("/tmp/stoker_hdf5_bench")) + "_" + std::to_string(size_mb());
}

std::int64_t rows() { return size_mb() * (std::int64_t{1} << 20) / kRowBytes; }
std::string raw_file() { return base_path() + "_raw.h5"; }
std::string gzip_file() { return base_path() + "_gzip.h5"; }

void fill_rows(std::uint8_t* p, std::int64_t first, std::int64_t n) {
  for (std::int64_t r = 0; r < n; ++r) {
    std::uint64_t s = mix64(static_cast<std::uint64_t>(first + r));
    int dx = static_cast<int>(s & 7) + 1, dy = static_cast<int>((s >> 3) & 7) + 1;
    for (std::int64_t y = 0; y < kH; ++y) {
      for (std::int64_t x = 0; x < kW; ++x) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        for (std::int64_t c = 0; c < kC; ++c) {
          *p++ = static_cast<std::uint8_t>((x * dx + y * dy + c * 40 + first + r) / 2 + ((s >> (33 + c * 3)) & 7));
        }
      }
    }
  }
}

void ensure_files() {
  if (std::filesystem::exists(raw_file()) && std::filesystem::exists(gzip_file())) return;
  std::fprintf(stderr, "hdf5_bench: writing %lld rows (%lld MiB) to %s and %s ...\n",
               static_cast<long long>(rows()), static_cast<long long>(size_mb()), raw_file().c_str(),
               gzip_file().c_str());
  std::string tmp_raw = raw_file() + ".tmp", tmp_gzip = gzip_file() + ".tmp";
  {
    Hdf5Writer raw(tmp_raw), gz(tmp_gzip);
    raw.create("images", DType::kU8, {kH, kW, kC}, {.chunk_rows = kChunkRows});
    gz.create("images", DType::kU8, {kH, kW, kC}, {.chunk_rows = kChunkRows, .deflate_level = 1});
    const std::int64_t step = 256;
    Tensor block(DType::kU8, Shape{step, kH, kW, kC});
    for (std::int64_t lo = 0; lo < rows(); lo += step) {
      std::int64_t n = std::min(step, rows() - lo);
      Tensor part = n == step ? block : Tensor(DType::kU8, Shape{n, kH, kW, kC});
      fill_rows(part.mutable_data_as<std::uint8_t>(), lo, n);
      raw.append("images", part);
      gz.append("images", part);
    }
    raw.close();
    gz.close();
  }
  std::filesystem::rename(tmp_raw, raw_file());
  std::filesystem::rename(tmp_gzip, gzip_file());
}

struct Run {
  double mbps, cpu_s, lock_s, wall_s;
  int busy;
};

std::map<std::string, std::vector<Run>>& runs() {
  static std::map<std::string, std::vector<Run>> r;
  return r;
}

void record(benchmark::State& state, const std::string& name, double seconds, double cpu, int busy, double lock) {
  double bytes = static_cast<double>(rows()) * kRowBytes;
  state.counters["cpu_s"] = cpu;
  state.counters["lock_s"] = lock;
  state.counters["busy_threads"] = busy;
  state.counters["MB/s"] = bytes / seconds / 1e6;
  runs()[name].push_back({bytes / seconds / 1e6, cpu, lock, seconds, busy});
}

// CPU seconds of the whole process (all threads), user + system.
double process_cpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// CPU ticks per thread of this process (/proc/self/task/*/stat utime + stime).
std::map<std::string, long> thread_ticks() {
  std::map<std::string, long> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::FILE* f = std::fopen((e.path() / "stat").c_str(), "r");
    if (!f) continue;
    char buf[1024] = {};
    std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string s(buf, n);
    std::size_t p = s.rfind(')');
    if (p == std::string::npos) continue;
    // Fields after the command: state(3) ... utime(14) stime(15); p points before field 3.
    std::vector<std::string> fields;
    std::size_t i = p + 2;
    while (i < s.size() && fields.size() < 13) {
      std::size_t j = s.find(' ', i);
      fields.push_back(s.substr(i, j - i));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    if (fields.size() >= 13) out[e.path().filename()] = std::atol(fields[11].c_str()) + std::atol(fields[12].c_str());
  }
  return out;
}

// Threads that did at least a fifth of the busiest thread's work between two snapshots.
int busy_threads(const std::map<std::string, long>& before, const std::map<std::string, long>& after) {
  std::vector<long> d;
  for (const auto& [tid, t] : after) {
    auto it = before.find(tid);
    d.push_back(t - (it == before.end() ? 0 : it->second));
  }
  long top = d.empty() ? 0 : *std::max_element(d.begin(), d.end());
  return static_cast<int>(std::count_if(d.begin(), d.end(), [&](long x) { return top > 0 && x * 5 >= top; }));
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The baseline: one H5Dread per 64 rows (4 chunks) into one reused buffer, nothing else.
void plain_h5dread(benchmark::State& state, const std::string& path, const std::string& name) {
  ensure_files();
  std::vector<std::uint8_t> buf(static_cast<std::size_t>(64 * kRowBytes));
  for (auto _ : state) {
    double t0 = now(), c0 = process_cpu();
    auto ticks0 = thread_ticks();
    std::uint64_t l0 = detail::hdf5_lock_held_ns();
    {
    detail::Hdf5Lock lock;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "images", H5P_DEFAULT);
    hid_t fs = H5Dget_space(d);
    for (std::int64_t lo = 0; lo < rows(); lo += 64) {
      hsize_t start[4] = {static_cast<hsize_t>(lo), 0, 0, 0};
      hsize_t count[4] = {static_cast<hsize_t>(std::min<std::int64_t>(64, rows() - lo)), kH, kW, kC};
      hid_t ms = H5Screate_simple(4, count, nullptr);
      H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, nullptr, count, nullptr);
      if (H5Dread(d, H5T_NATIVE_UINT8, ms, fs, H5P_DEFAULT, buf.data()) < 0) state.SkipWithError("H5Dread failed");
      H5Sclose(ms);
      benchmark::DoNotOptimize(buf.data());
    }
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
    }
    record(state, name, now() - t0, process_cpu() - c0, busy_threads(ticks0, thread_ticks()),
           static_cast<double>(detail::hdf5_lock_held_ns() - l0) * 1e-9);
  }
}

void stoker_batch64(benchmark::State& state, const std::string& path, const std::string& name, int threads,
                    bool raw_decode, std::size_t block_mib = 4, bool zero_copy = false) {
  ensure_files();
  Dataset ds = hdf5(path, {"images"},
                    {.block_bytes = block_mib << 20, .zero_copy_rows = zero_copy, .raw_chunk_decode = raw_decode})
                   .batch(64);
  for (auto _ : state) {
    double t0 = now(), c0 = process_cpu();
    auto ticks0 = thread_ticks();
    std::uint64_t l0 = detail::hdf5_lock_held_ns();
    Iterator it = ds.iterator({.num_threads = threads, .memory_budget = std::size_t{1} << 30});
    std::int64_t n = 0;
    while (auto b = it.next()) n += (*b)[0].shape()[0];
    if (n != rows()) state.SkipWithError("wrong row count");
    record(state, name, now() - t0, process_cpu() - c0, busy_threads(ticks0, thread_ticks()),
           static_cast<double>(detail::hdf5_lock_held_ns() - l0) * 1e-9);
  }
}

void BM_Raw_PlainH5Dread(benchmark::State& s) { plain_h5dread(s, raw_file(), "raw plain H5Dread"); }
void BM_Raw_StokerBatch64(benchmark::State& s) { stoker_batch64(s, raw_file(), "raw stoker batch64 (2 thr)", 2, true); }
void BM_Raw_StokerBatch64_ZeroCopy(benchmark::State& s) {
  stoker_batch64(s, raw_file(), "raw stoker zero-copy (2 thr)", 2, true, 4, true);
}
void BM_Raw_StokerBatch64_Block(benchmark::State& s) {
  stoker_batch64(s, raw_file(), "raw stoker block " + std::to_string(s.range(0)) + " MiB", 2, true,
                 static_cast<std::size_t>(s.range(0)));
}
void BM_Gzip_PlainH5Dread(benchmark::State& s) { plain_h5dread(s, gzip_file(), "gzip plain H5Dread"); }
void BM_Gzip_StokerBatch64_1Thread(benchmark::State& s) {
  stoker_batch64(s, gzip_file(), "gzip stoker batch64 1 thr", 1, true);
}
void BM_Gzip_StokerBatch64_2Threads(benchmark::State& s) {
  stoker_batch64(s, gzip_file(), "gzip stoker batch64 2 thr", 2, true);
}
void BM_Gzip_StokerBatch64_2Threads_H5Dread(benchmark::State& s) {
  stoker_batch64(s, gzip_file(), "gzip stoker 2 thr via H5Dread", 2, false);
}

#define STOKER_BENCH(fn) BENCHMARK(fn)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond)
STOKER_BENCH(BM_Raw_PlainH5Dread);
STOKER_BENCH(BM_Raw_StokerBatch64);
STOKER_BENCH(BM_Raw_StokerBatch64_ZeroCopy);
STOKER_BENCH(BM_Raw_StokerBatch64_Block)->Arg(1)->Arg(16)->Arg(64);
STOKER_BENCH(BM_Gzip_PlainH5Dread);
STOKER_BENCH(BM_Gzip_StokerBatch64_1Thread);
STOKER_BENCH(BM_Gzip_StokerBatch64_2Threads);
STOKER_BENCH(BM_Gzip_StokerBatch64_2Threads_H5Dread);

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <class F>
std::vector<double> field(const std::string& name, F f) {
  std::vector<double> v;
  for (const Run& r : runs()[name]) v.push_back(f(r));
  return v;
}

void print_summary() {
  std::printf("\nhdf5_bench summary: %lld rows x 128x128x3 uint8 = %lld MiB, chunks of %lld rows\n",
              static_cast<long long>(rows()), static_cast<long long>(size_mb()), static_cast<long long>(kChunkRows));
  std::printf("%-30s %8s %8s %8s %3s %9s %9s %6s\n", "case", "min MB/s", "median", "max", "n", "cpu s", "lock s",
              "busy");
  for (const auto& [name, v] : runs()) {
    std::vector<double> mb = field(name, [](const Run& r) { return r.mbps; });
    std::printf("%-30s %8.0f %8.0f %8.0f %3zu %9.3f %9.3f %6.0f\n", name.c_str(),
                *std::min_element(mb.begin(), mb.end()), median(mb), *std::max_element(mb.begin(), mb.end()),
                v.size(), median(field(name, [](const Run& r) { return r.cpu_s; })),
                median(field(name, [](const Run& r) { return r.lock_s; })),
                median(field(name, [](const Run& r) { return double(r.busy); })));
  }
  auto med = [](const char* n) { return median(field(n, [](const Run& r) { return r.mbps; })); };
  auto ratio = [&](const char* what, const char* a, const char* b, double target) {
    double x = med(a), y = med(b);
    if (x > 0 && y > 0) std::printf("%-50s %6.2fx%s\n", what, x / y, target > 0 ? (" (target >= " + std::to_string(target).substr(0, 3) + "x)").c_str() : "");
  };
  ratio("stoker batch64 / plain H5Dread, uncompressed:", "raw stoker batch64 (2 thr)", "raw plain H5Dread", 0.9);
  ratio("  same, zero_copy_rows:", "raw stoker zero-copy (2 thr)", "raw plain H5Dread", 0.9);
  ratio("gzip 2 threads / 1 thread:", "gzip stoker batch64 2 thr", "gzip stoker batch64 1 thr", 1.8);
  ratio("gzip stoker 2 threads / plain H5Dread:", "gzip stoker batch64 2 thr", "gzip plain H5Dread", 0);
  ratio("gzip raw-chunk decode / H5Dread decode (2 thr):", "gzip stoker batch64 2 thr",
        "gzip stoker 2 thr via H5Dread", 0);
  // What 2 threads could reach on 2 free cores: the work that is not under the lock splits.
  std::vector<double> cpu1 = field("gzip stoker batch64 1 thr", [](const Run& r) { return r.cpu_s; });
  std::vector<double> lock1 = field("gzip stoker batch64 1 thr", [](const Run& r) { return r.lock_s; });
  if (!cpu1.empty()) {
    double cpu = median(cpu1), lock = median(lock1);
    std::printf("%-50s %6.2fx (1-thread CPU %.2fs, of it %.2fs under the HDF5 lock)\n",
                "gzip 2-thread bound from the lock (Amdahl):", cpu / std::max(lock, cpu / 2), cpu, lock);
  }
  double load[3] = {0, 0, 0};
  if (getloadavg(load, 3) > 0) std::printf("load average at the end: %.2f (cores: %u)\n", load[0], std::thread::hardware_concurrency());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_summary();
  return 0;
}
