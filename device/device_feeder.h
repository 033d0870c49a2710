// DeviceFeeder: turns an Iterator of host batches into DeviceBatches, copying batch i+1 to the
// device while the consumer computes on batch i.
//
//   auto ring = std::make_shared<PinnedRing>(PinnedRing::slot_bytes_for(row, 256), 2);
//   DeviceFeeder feeder(ds.batch(256).prefetch(2).iterator({.batch_allocator = ring}), {.ring = ring});
//   while (auto b = feeder.next()) {
//     b->wait_on(compute);
//     step(*b, compute);
//   }                                 // b released at the end of each iteration
//
// How it runs. A feeder thread takes a free device buffer (num_buffers of them, default 2),
// pulls the next host batch, and enqueues cudaMemcpyAsync on the feeder's own copy stream after a
// cudaStreamWaitEvent on the buffer's `freed` event (recorded on the consumer's stream when it
// released the buffer), then records the buffer's `ready` event. next() hands out queued
// batches. Ordering is by events only; nothing synchronises the device.
// A host batch (its ring slot) is held until its copy is done: a completion thread waits on the
// copy's event (blocking-sync: it sleeps) and then drops it, so the slot returns to the ring as
// soon as the DMA finished rather than at the consumer's next call (with K = 2 slots, a late
// return would stall the pipeline for a whole step).
// Buffers are sized by FeederOptions::buffer_bytes, else the ring's slot size, else the first
// batch; a larger batch later grows its buffer with stream-ordered allocation (no device sync).
//
// Host mode (FeederOptions::backend = kHost): the same protocol over 64-byte aligned host
// buffers and memcpy, with DeviceTensor::device = kHostDevice and null stream/event, so a CPU
// trainer and the tests use the very same code path. kAuto uses CUDA when a device is present and
// otherwise throws kUnsupported (also when stoker was built without CUDA), naming kHost.
//
// Errors from the host iterator are rethrown by next() in order; a later next() continues. The
// feeder never hangs: next() throws kInvalidArgument if every buffer is held by unreleased
// DeviceBatches (nothing could ever arrive). Destroying the feeder stops the feeder thread (after
// at most the host batch it is waiting for), destroys the host iterator, waits for copies in
// flight and returns every ring slot; DeviceBatches still held stay valid until released.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "device/device_batch.h"
#include "device/pinned_ring.h"
#include "pipeline/iterator.h"

namespace stoker {

// kAuto and kCuda: CUDA, kUnsupported without a device. kHost: host buffers and memcpy.
enum class FeederBackend { kAuto, kCuda, kHost };

struct FeederOptions {
  int num_buffers = 2;             // device buffers; 2 = double buffering
  int device = -1;                 // CUDA device ordinal; -1: the caller's current device
  FeederBackend backend = FeederBackend::kAuto;
  std::size_t buffer_bytes = 0;    // initial bytes per buffer; 0: the ring's slot size or the first batch
  std::shared_ptr<PinnedRing> ring;  // optional: sizes the buffers and adds its wait to stats()
  // Host mode only: the copy into a feeder buffer (default std::memcpy), called on the feeder
  // thread once per contiguous span. A stand-in for another copy engine, e.g. a copy that takes
  // as long as a real H2D transfer (tests/device/feeder_overlap_test.cc).
  std::function<void(std::byte* dst, const std::byte* src, std::size_t bytes)> host_copy;
};

struct FeederStats {
  std::uint64_t batches = 0;       // handed out by next()
  std::uint64_t bytes = 0;         // copied host -> device
  double copy_s = 0;               // device time of the timed copies (events on the copy stream)
  double h2d_gbps = 0;             // timed bytes / copy_s / 1e9
  double wall_s = 0;               // since the first next()
  double host_wait_s = 0;          // time next() blocked waiting for a batch
  double gpu_idle_s = 0;           // compute stream idle between releasing batch i-1 and starting batch i
  double input_stall_pct = 0;      // 100 * (CUDA: gpu_idle_s; host mode: host_wait_s) / wall_s
  double ring_wait_s = 0;          // time the pipeline waited for a free ring slot (FeederOptions::ring)
  std::uint64_t ring_waits = 0;
  int num_buffers = 0;
  bool host_mode = false;

  std::string to_string() const;   // one line
};

class DeviceFeeder {
 public:
  explicit DeviceFeeder(Iterator host_batches, FeederOptions options = {});
  DeviceFeeder(DeviceFeeder&&) noexcept;
  DeviceFeeder& operator=(DeviceFeeder&&) noexcept;
  ~DeviceFeeder();

  // The next batch on the device, or std::nullopt at the end. Throws the host iterator's errors
  // in order, stoker::Error(kCuda) for a failed copy.
  std::optional<DeviceBatch> next();
  // Completed timings only: call after the compute stream finished for exact totals.
  FeederStats stats() const;
  bool host_mode() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stoker
