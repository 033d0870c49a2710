// DeviceFeeder and PinnedRing on a real GPU: bytes after the copy, copy/compute overlap measured
// with events, and steady memory over 10,000 batches. Every test skips without a CUDA device
// (and compiles to skips without CUDA at build time).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <unistd.h>
#include <vector>

#include "device/cuda_check.h"
#include "device/device_feeder.h"
#include "pipeline/dataset.h"

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
#include "device/busy_kernel.h"
#endif

namespace stoker {
namespace {

#define SKIP_WITHOUT_GPU() \
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device"

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA

Dataset rows(std::int64_t n, std::int64_t width) {
  return Dataset::range(n).map([width](Element e) {
    std::int64_t i = e[0].item<std::int64_t>();
    Tensor f(DType::kF32, Shape{width});
    for (std::int64_t k = 0; k < width; ++k) f.mutable_data_as<float>()[k] = static_cast<float>(i * 1000 + k);
    Tensor label(DType::kI32, Shape{3});
    for (int k = 0; k < 3; ++k) label.mutable_data_as<std::int32_t>()[k] = static_cast<std::int32_t>(i + k);
    return Element{f, label, e[0]};
  });
}

std::size_t rows_slot_bytes(std::int64_t width, std::int64_t batch) {
  return PinnedRing::slot_bytes_for(
      Element{Tensor(DType::kF32, Shape{width}), Tensor(DType::kI32, Shape{3}), Tensor::scalar<std::int64_t>(0)}, batch);
}

std::size_t rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

std::size_t device_free_bytes() {
  std::size_t free = 0, total = 0;
  STOKER_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  return free;
}

TEST(DeviceFeederGpu, BytesEqualAfterTheCopy) {
  SKIP_WITHOUT_GPU();
  Dataset ds = rows(203, 1000).batch(16);
  auto ring = std::make_shared<PinnedRing>(rows_slot_bytes(1000, 16), 2);
  ASSERT_TRUE(ring->pinned());
  auto reference = ds.iterator({.num_threads = 1});
  DeviceFeeder feeder(ds.prefetch(2).iterator({.num_threads = 2, .batch_allocator = ring}), {.ring = ring});
  ASSERT_FALSE(feeder.host_mode());
  Stream compute = Stream::create();
  int n = 0;
  while (auto b = feeder.next()) {
    auto h = reference.next();
    ASSERT_TRUE(h.has_value());
    b->wait_on(compute.get());
    ASSERT_EQ(b->size(), h->size());
    for (std::size_t k = 0; k < h->size(); ++k) {
      const DeviceTensor& t = (*b)[k];
      EXPECT_EQ(t.device, current_cuda_device());
      EXPECT_EQ(t.shape, (*h)[k].shape());
      std::vector<std::byte> back(t.nbytes());
      STOKER_CUDA_CHECK(cudaMemcpyAsync(back.data(), t.data, t.nbytes(), cudaMemcpyDeviceToHost, compute.get()));
      compute.synchronize();
      EXPECT_EQ(std::memcmp(back.data(), (*h)[k].data(), back.size()), 0) << "batch " << n << " component " << k;
    }
    ++n;
  }
  EXPECT_EQ(n, 13);
  FeederStats s = feeder.stats();
  EXPECT_EQ(s.batches, 13u);
  EXPECT_GT(s.h2d_gbps, 0.0) << s.to_string();
  std::printf("%s\n", s.to_string().c_str());
}

TEST(DeviceFeederGpu, AKernelSeesTheCopiedBytes) {
  SKIP_WITHOUT_GPU();
  Dataset ds = rows(64, 4096).batch(8);
  auto ring = std::make_shared<PinnedRing>(rows_slot_bytes(4096, 8), 2);
  auto reference = ds.iterator({.num_threads = 1});
  DeviceFeeder feeder(ds.iterator({.num_threads = 2, .batch_allocator = ring}), {.ring = ring});
  Stream compute = Stream::create();
  DeviceBuffer sum(sizeof(std::uint64_t));
  while (auto b = feeder.next()) {
    auto h = reference.next();
    b->wait_on(compute.get());
    test_support::launch_byte_sum(compute.get(), (*b)[0].data, (*b)[0].nbytes(), static_cast<std::uint64_t*>(sum.data()));
    std::uint64_t got = 0;
    STOKER_CUDA_CHECK(cudaMemcpyAsync(&got, sum.data(), sizeof got, cudaMemcpyDeviceToHost, compute.get()));
    compute.synchronize();
    std::uint64_t expect = 0;
    const auto* p = reinterpret_cast<const unsigned char*>((*h)[0].data());
    for (std::size_t i = 0; i < (*h)[0].nbytes(); ++i) expect += p[i];
    EXPECT_EQ(got, expect);
  }
}

// Batches of `bytes` that live in two pre-filled pinned buffers, so the host side costs nothing
// and the timeline is the copies and the kernels only.
Iterator pinned_batches(std::int64_t count, std::size_t bytes, std::shared_ptr<PinnedBuffer>& keep) {
  keep = std::make_shared<PinnedBuffer>(2 * bytes);
  std::memset(keep->data(), 1, keep->size());
  auto buffer = keep;
  return Dataset::from_generator([buffer, count, bytes] {
           auto i = std::make_shared<std::int64_t>(0);
           return [buffer, count, bytes, i]() -> std::optional<Element> {
             if (*i >= count) return std::nullopt;
             std::shared_ptr<std::byte> view(buffer, buffer->data() + static_cast<std::size_t>(*i % 2) * bytes);
             ++*i;
             return Element{Tensor(DType::kU8, Shape{static_cast<std::int64_t>(bytes)}, view)};
           };
         })
      .iterator({.num_threads = 1});
}

TEST(DeviceFeederGpu, TheCopyOfTheNextBatchOverlapsTheKernelOnThisOne) {
  SKIP_WITHOUT_GPU();
  constexpr std::size_t kBytes = std::size_t{256} << 20;
  constexpr int kBatches = 8;
  Stream compute = Stream::create();

  // One copy alone, to know C.
  std::shared_ptr<PinnedBuffer> host;
  float copy_ms = 0;
  {
    auto it = pinned_batches(1, kBytes, host);
    DeviceBuffer d(kBytes);
    Event a = Event::create(true), b = Event::create(true);
    a.record(compute.get());
    STOKER_CUDA_CHECK(cudaMemcpyAsync(d.data(), host->data(), kBytes, cudaMemcpyHostToDevice, compute.get()));
    b.record(compute.get());
    b.synchronize();
    copy_ms = Event::elapsed_ms(a, b);
  }
  // Kernel time T = 2 C: a serial schedule takes N (T + C), an overlapped one about N T + C.
  const double kernel_ms = 2.0 * copy_ms;
  DeviceFeeder feeder(pinned_batches(kBatches, kBytes, host), {.num_buffers = 2, .buffer_bytes = kBytes});
  Event begin = Event::create(true), end = Event::create(true);
  begin.record(compute.get());
  int n = 0;
  while (auto b = feeder.next()) {
    b->wait_on(compute.get());
    test_support::launch_busy_wait(compute.get(), static_cast<std::uint64_t>(kernel_ms * 1e6));
    ++n;
  }
  end.record(compute.get());
  end.synchronize();
  ASSERT_EQ(n, kBatches);
  double total = Event::elapsed_ms(begin, end);
  double serial = kBatches * (kernel_ms + copy_ms);
  double overlapped = kBatches * kernel_ms + copy_ms;
  std::printf("copy %.2f ms, kernel %.2f ms: %d batches in %.2f ms (serial %.2f, overlapped %.2f)\n%s\n", copy_ms,
              kernel_ms, kBatches, total, serial, overlapped, feeder.stats().to_string().c_str());
  EXPECT_LT(total, overlapped + 0.5 * (serial - overlapped)) << "copies did not overlap the kernels";
  EXPECT_GE(total, kBatches * kernel_ms * 0.99);
  FeederStats s = feeder.stats();
  EXPECT_LT(s.gpu_idle_s * 1e3, 0.5 * (kBatches - 1) * copy_ms) << s.to_string();
}

TEST(DeviceFeederGpu, MemoryStaysSteadyOver10000Batches) {
  SKIP_WITHOUT_GPU();
  constexpr std::int64_t kWidth = 256, kBatch = 8, kBatches = 10000;
  auto ring = std::make_shared<PinnedRing>(rows_slot_bytes(kWidth, kBatch), 2);
  auto feeder = std::make_unique<DeviceFeeder>(
      rows(kBatch * kBatches, kWidth).batch(kBatch).prefetch(2).iterator({.num_threads = 2, .batch_allocator = ring}),
      FeederOptions{.ring = ring});
  Stream compute = Stream::create();
  std::size_t rss0 = 0, dev0 = 0;
  std::int64_t n = 0;
  while (auto b = feeder->next()) {
    b->wait_on(compute.get());
    test_support::launch_busy_wait(compute.get(), 2000);
    if (++n == 500) {  // after warm-up: pools, timing events and buffers exist
      compute.synchronize();
      rss0 = rss_bytes();
      dev0 = device_free_bytes();
    }
  }
  compute.synchronize();
  ASSERT_EQ(n, kBatches);
  std::size_t rss1 = rss_bytes(), dev1 = device_free_bytes();
  std::printf("rss %zu -> %zu, device free %zu -> %zu; %s\n", rss0, rss1, dev0, dev1, feeder->stats().to_string().c_str());
  EXPECT_LT(rss1, rss0 + (std::size_t{8} << 20));  // 8 MiB of slack for allocator noise
  EXPECT_GE(dev1 + (std::size_t{2} << 20), dev0);
  feeder.reset();  // joins the completion thread: every slot is back
  EXPECT_EQ(ring->leased(), 0u);
}

TEST(PinnedRingGpu, SlotsArePinnedWhenADeviceIsPresent) {
  SKIP_WITHOUT_GPU();
  PinnedRing ring(1 << 20, 2);
  EXPECT_TRUE(ring.pinned());
  std::atomic<bool> cancelled{false};
  auto slot = ring.allocate(1 << 20, cancelled);
  cudaPointerAttributes attr{};
  STOKER_CUDA_CHECK(cudaPointerGetAttributes(&attr, slot.get()));
  EXPECT_EQ(attr.type, cudaMemoryTypeHost);
}

TEST(DeviceFeederGpu, ABatchOutlivesItsFeeder) {
  SKIP_WITHOUT_GPU();
  Stream compute = Stream::create();
  std::optional<DeviceBatch> kept;
  {
    DeviceFeeder feeder(rows(100, 64).batch(10).iterator({.num_threads = 1}));
    kept = feeder.next();
    ASSERT_TRUE(kept.has_value());
  }
  kept->wait_on(compute.get());
  std::vector<float> back(64);
  STOKER_CUDA_CHECK(cudaMemcpyAsync(back.data(), (*kept)[0].data, 64 * sizeof(float), cudaMemcpyDeviceToHost, compute.get()));
  compute.synchronize();
  EXPECT_EQ(back[5], 5.0f);
  kept.reset();
}

#else

TEST(DeviceFeederGpu, SkippedWithoutCudaAtBuildTime) { GTEST_SKIP() << "stoker was built without CUDA"; }

#endif

}  // namespace
}  // namespace stoker
