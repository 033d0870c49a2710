// DeviceFeeder in host mode: the feeder thread, the buffer lease protocol, errors, shutdown and
// statistics, on the same code path the CUDA mode runs (only the copy itself differs). Runs
// everywhere; tests/device/device_gpu_test.cc covers the CUDA copies.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "device/cuda_check.h"
#include "device/device_feeder.h"
#include "pipeline/dataset.h"
#include "tests/device/device_test_util.h"

namespace stoker {
namespace {

using testing::pair_slot_bytes;
using testing::pairs;

FeederOptions host_options(std::shared_ptr<PinnedRing> ring = nullptr, int buffers = 2) {
  return {.num_buffers = buffers, .backend = FeederBackend::kHost, .ring = std::move(ring)};
}

void expect_same(const DeviceBatch& d, const Element& h, int n) {
  ASSERT_EQ(d.size(), h.size()) << "batch " << n;
  for (std::size_t k = 0; k < h.size(); ++k) {
    EXPECT_EQ(d[k].dtype, h[k].dtype());
    EXPECT_EQ(d[k].shape, h[k].shape());
    EXPECT_EQ(d[k].device, DeviceTensor::kHostDevice);
    ASSERT_EQ(d[k].nbytes(), h[k].nbytes());
    EXPECT_EQ(std::memcmp(d[k].data, h[k].data(), h[k].nbytes()), 0) << "batch " << n << " component " << k;
  }
}

TEST(DeviceFeederHost, BatchesEqualTheHostBatches) {
  for (int buffers : {1, 2, 3}) {
    auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(8), 2, RingMemory::kHost);
    Dataset ds = pairs(61).batch(8);
    auto reference = ds.iterator({.num_threads = 1});
    DeviceFeeder feeder(ds.prefetch(2).iterator({.num_threads = 2, .batch_allocator = ring}), host_options(ring, buffers));
    EXPECT_TRUE(feeder.host_mode());
    int n = 0;
    while (auto b = feeder.next()) {
      auto h = reference.next();
      ASSERT_TRUE(h.has_value());
      EXPECT_EQ(b->stream, nullptr);
      EXPECT_EQ(b->ready, nullptr);
      b->wait_on(nullptr);  // a no-op in host mode, as trainer code calls it
      expect_same(*b, *h, n++);
    }
    EXPECT_FALSE(reference.next().has_value());
    EXPECT_EQ(n, 8);
    EXPECT_FALSE(feeder.next().has_value());  // stays at the end
    FeederStats s = feeder.stats();
    EXPECT_EQ(s.batches, 8u);
    // The payload, plus at most the padding between a batch's components (one copy per batch).
    EXPECT_GE(s.bytes, 61u * (8 + 60));
    EXPECT_LE(s.bytes, 61u * (8 + 60) + 8u * 64u);
    EXPECT_TRUE(s.host_mode);
    EXPECT_EQ(s.num_buffers, buffers);
  }
}

TEST(DeviceFeederHost, LiveBatchesNeverShareABuffer) {
  DeviceFeeder feeder(pairs(64).batch(4).iterator({.num_threads = 1}), host_options(nullptr, 3));
  std::vector<DeviceBatch> live;
  std::int64_t expect = 0;
  for (int round = 0; round < 8; ++round) {
    // Hold up to three batches at once, then let the oldest go.
    while (live.size() < 3) {
      auto b = feeder.next();
      ASSERT_TRUE(b.has_value());
      live.push_back(std::move(*b));
    }
    std::set<void*> buffers;
    for (const DeviceBatch& b : live) buffers.insert(b[0].data);
    EXPECT_EQ(buffers.size(), live.size());
    // Every held batch still has its own contents: no buffer was overwritten while leased.
    for (std::size_t i = 0; i < live.size(); ++i) {
      EXPECT_EQ(live[i][0].data_as<std::int64_t>()[0], (expect + static_cast<std::int64_t>(i)) * 4);
    }
    live.erase(live.begin());
    ++expect;
  }
}

TEST(DeviceFeederHost, AskingWhileHoldingEveryBufferThrowsInsteadOfHanging) {
  DeviceFeeder feeder(pairs(64).batch(4).iterator({.num_threads = 1}), host_options(nullptr, 2));
  auto a = feeder.next();
  auto b = feeder.next();
  ASSERT_TRUE(a && b);
  try {
    feeder.next();
    FAIL() << "expected kInvalidArgument";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(e.message().find("release"), std::string::npos) << e.message();
  }
  a->release();
  EXPECT_TRUE(a->released());
  auto c = feeder.next();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->tensors[0].data_as<std::int64_t>()[0], 8);
}

TEST(DeviceFeederHost, HostErrorsArriveInOrderAndTheFeederContinues) {
  auto ds = Dataset::range(10)
                .map([](Element e) {
                  if (e[0].item<std::int64_t>() == 5) throw Error(ErrorCode::kDataLoss, "bad record");
                  return e;
                })
                .batch(1);
  DeviceFeeder feeder(ds.iterator({.num_threads = 1}), host_options());
  std::vector<std::int64_t> got;
  int errors = 0;
  for (;;) {
    try {
      auto b = feeder.next();
      if (!b) break;
      got.push_back(b->tensors[0].data_as<std::int64_t>()[0]);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
      EXPECT_EQ(got.size(), 5u);  // in order: after batches 0..4
      ++errors;
    }
  }
  EXPECT_EQ(errors, 1);
  EXPECT_EQ(got, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 6, 7, 8, 9}));
}

TEST(DeviceFeederHost, EmptyInputEndsAtOnce) {
  DeviceFeeder feeder(Dataset::range(0).batch(4).iterator(), host_options());
  EXPECT_FALSE(feeder.next().has_value());
  EXPECT_FALSE(feeder.next().has_value());
}

TEST(DeviceFeederHost, DestroyedWhileTheConsumerHoldsABatchAndTheRingIsFull) {
  auto ring = std::make_shared<PinnedRing>(pair_slot_bytes(4), 2, RingMemory::kHost, std::chrono::hours(1));
  std::optional<DeviceBatch> kept;
  {
    // prefetch(4) > 2 slots: the producer ends up blocked in the ring, not on its queue.
    DeviceFeeder feeder(pairs(100000).batch(4).prefetch(4).iterator({.num_threads = 2, .batch_allocator = ring}),
                        host_options(ring, 2));
    kept = feeder.next();
    ASSERT_TRUE(kept.has_value());
    // Pipeline blocked on the ring (both slots queued in prefetch), feeder thread on a buffer.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ring->stats().waits == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
    ASSERT_GE(ring->stats().waits, 1u);
  }  // no hang: the feeder thread is stopped, the pipeline cancelled
  EXPECT_EQ(ring->leased(), 0u);  // every slot returned
  EXPECT_EQ(kept->tensors[0].data_as<std::int64_t>()[3], 3);  // the batch outlives its feeder
  kept.reset();
}

TEST(DeviceFeederHost, LargerBatchesGrowTheBuffers) {
  // Elements of growing size, unbatched: each component is a separate heap tensor.
  auto ds = Dataset::range(1, 6).map([](Element e) {
    std::int64_t n = e[0].item<std::int64_t>() * 1000;
    Tensor t(DType::kU8, Shape{n});
    for (std::int64_t i = 0; i < n; ++i) t.mutable_data_as<std::uint8_t>()[i] = static_cast<std::uint8_t>(i * 7);
    return Element{e[0], t};
  });
  DeviceFeeder feeder(ds.iterator({.num_threads = 1}),
                      {.num_buffers = 2, .backend = FeederBackend::kHost, .buffer_bytes = 100});
  std::int64_t k = 1;
  while (auto b = feeder.next()) {
    ASSERT_EQ(b->tensors[1].shape[0], k * 1000);
    const auto* p = b->tensors[1].data_as<std::uint8_t>();
    for (std::int64_t i = 0; i < k * 1000; ++i) ASSERT_EQ(p[i], static_cast<std::uint8_t>(i * 7));
    EXPECT_EQ(b->tensors[0].data_as<std::int64_t>()[0], k);
    ++k;
  }
  EXPECT_EQ(k, 6);
}

TEST(DeviceFeederHost, ReleasingFromAnotherThreadWakesTheFeeder) {
  DeviceFeeder feeder(pairs(200).batch(2).iterator({.num_threads = 1}), host_options(nullptr, 2));
  std::int64_t expect = 0;
  while (auto b = feeder.next()) {
    EXPECT_EQ(b->tensors[0].data_as<std::int64_t>()[0], expect);
    expect += 2;
    std::thread([batch = std::move(*b)]() mutable { batch.release(); }).join();
  }
  EXPECT_EQ(expect, 200);
}

TEST(DeviceFeederHost, ASlowPipelineShowsAsInputStall) {
  // Each element takes 1 ms to produce and the consumer does nothing: it waits for nearly all
  // of the run.
  auto ds = Dataset::range(40).map([](Element e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return e;
  });
  auto ring = std::make_shared<PinnedRing>(PinnedRing::slot_bytes_for(Element{Tensor::scalar<std::int64_t>(0)}, 4), 2,
                                           RingMemory::kHost);
  DeviceFeeder feeder(ds.batch(4).iterator({.num_threads = 1, .batch_allocator = ring}), host_options(ring));
  while (auto b = feeder.next()) {
  }
  FeederStats s = feeder.stats();
  EXPECT_EQ(s.batches, 10u);
  EXPECT_GT(s.host_wait_s, 0.02) << s.to_string();
  EXPECT_GT(s.input_stall_pct, 50.0) << s.to_string();
  EXPECT_LE(s.input_stall_pct, 100.0);
  EXPECT_NE(s.to_string().find("host mode"), std::string::npos);
}

TEST(DeviceFeeder, AutoWithoutADeviceThrowsUnsupportedNamingHostMode) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    DeviceFeeder feeder(Dataset::range(4).batch(2).iterator());
    FAIL() << "expected kUnsupported";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(e.message().find("kHost"), std::string::npos) << e.message();
  }
}

TEST(DLPack, DescribesADeviceTensor) {
  float storage[6] = {};
  DeviceTensor t{storage, DType::kF32, Shape{2, 3}, 1};
  DLTensorLike d = to_dlpack_like(t);
  EXPECT_EQ(d.data, storage);
  EXPECT_EQ(d.device.device_type, kDLCUDA);
  EXPECT_EQ(d.device.device_id, 1);
  EXPECT_EQ(d.ndim, 2);
  EXPECT_EQ(d.dtype.code, 2);  // kDLFloat
  EXPECT_EQ(d.dtype.bits, 32);
  EXPECT_EQ(d.dtype.lanes, 1);
  EXPECT_EQ(d.shape[0], 2);
  EXPECT_EQ(d.shape[1], 3);
  EXPECT_EQ(d.shape, t.shape.dims().data());  // borrowed, not copied
  EXPECT_EQ(d.strides, nullptr);              // compact row-major
  EXPECT_EQ(d.byte_offset, 0u);
  DeviceTensor h{storage, DType::kU8, Shape{6}, DeviceTensor::kHostDevice};
  EXPECT_EQ(to_dlpack_like(h).device.device_type, kDLCPU);
}

TEST(DLPack, DescribesAHostTensorPinnedOrNot) {
  Tensor t = Tensor::from_values<std::int32_t>(Shape{2, 2}, {1, 2, 3, 4});
  DLTensorLike d = to_dlpack_like(t, /*pinned=*/true);
  EXPECT_EQ(d.data, t.data());
  EXPECT_EQ(d.device.device_type, kDLCUDAHost);
  EXPECT_EQ(to_dlpack_like(t).device.device_type, kDLCPU);
  EXPECT_EQ(d.ndim, 2);
  EXPECT_EQ(static_cast<const std::int32_t*>(d.data)[3], 4);
}

TEST(DLPack, DTypeCodesFollowDLPack) {
  struct Case {
    DType dtype;
    int code, bits;
  };
  for (Case c : {Case{DType::kU8, 1, 8}, Case{DType::kI8, 0, 8}, Case{DType::kI16, 0, 16}, Case{DType::kI32, 0, 32},
                 Case{DType::kI64, 0, 64}, Case{DType::kF16, 2, 16}, Case{DType::kBF16, 4, 16},
                 Case{DType::kF32, 2, 32}, Case{DType::kF64, 2, 64}}) {
    DLDataTypeLike d = to_dl_dtype(c.dtype);
    EXPECT_EQ(d.code, c.code) << dtype_name(c.dtype);
    EXPECT_EQ(d.bits, c.bits) << dtype_name(c.dtype);
    EXPECT_EQ(d.lanes, 1);
  }
}

TEST(DLPack, ScalarHasRankZero) {
  DeviceTensor t{nullptr, DType::kI64, Shape{}, 0};
  DLTensorLike d = to_dlpack_like(t);
  EXPECT_EQ(d.ndim, 0);
  EXPECT_NE(d.shape, nullptr);
}

}  // namespace
}  // namespace stoker
