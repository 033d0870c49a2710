// The CUDA/cuBLAS/cuDNN status check and the RAII resources. The message tests need no device
// (they pass status codes, not calls); the resource tests skip without one.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "device/cuda_check.h"
#include "device/cuda_resources.h"

namespace stoker {
namespace {

TEST(CudaCheck, DeviceCountIsStable) {
  EXPECT_EQ(cuda_device_count(), cuda_device_count());
  EXPECT_EQ(cuda_device_available(), cuda_device_count() > 0);
}

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA

cudaError_t fails_with(cudaError_t s) { return s; }

TEST(CudaCheck, ThrowsWithCallTextAndFileLine) {
  int line = __LINE__ + 2;
  try {
    STOKER_CUDA_CHECK(fails_with(cudaErrorInvalidValue));
    FAIL() << "expected a throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCuda);
    std::string m = e.message();
    EXPECT_NE(m.find("cudaErrorInvalidValue"), std::string::npos) << m;
    EXPECT_NE(m.find("fails_with(cudaErrorInvalidValue)"), std::string::npos) << m;
    EXPECT_NE(m.find("cuda_check_test.cc:" + std::to_string(line)), std::string::npos) << m;
  }
}

TEST(CudaCheck, OutOfMemoryCarriesAHint) {
  try {
    STOKER_CUDA_CHECK(fails_with(cudaErrorMemoryAllocation));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("smaller batch"), std::string::npos) << e.message();
  }
}

TEST(CudaCheck, SuccessDoesNotThrow) {
  EXPECT_NO_THROW(STOKER_CUDA_CHECK(fails_with(cudaSuccess)));
  EXPECT_NO_THROW(STOKER_CUDA_CHECK(CUBLAS_STATUS_SUCCESS));
  EXPECT_TRUE(STOKER_CUDA_CHECK_NOTHROW(cudaSuccess));
}

TEST(CudaCheck, CoversCublasStatus) {
  try {
    STOKER_CUDA_CHECK(CUBLAS_STATUS_NOT_INITIALIZED);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCuda);
    EXPECT_NE(e.message().find("cuBLAS"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("CUBLAS_STATUS_NOT_INITIALIZED"), std::string::npos) << e.message();
  }
}

#if defined(STOKER_HAVE_CUDNN) && STOKER_HAVE_CUDNN
TEST(CudaCheck, CoversCudnnStatus) {
  try {
    STOKER_CUDA_CHECK(CUDNN_STATUS_BAD_PARAM);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kCuda);
    EXPECT_NE(e.message().find("cuDNN"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("CUDNN_STATUS_BAD_PARAM"), std::string::npos) << e.message();
  }
}
#endif

TEST(CudaCheck, NoThrowVariantLogsAndReturnsFalse) {
  testing::internal::CaptureStderr();
  bool ok = STOKER_CUDA_CHECK_NOTHROW(fails_with(cudaErrorInvalidValue));
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_FALSE(ok);
  EXPECT_NE(err.find("cudaErrorInvalidValue"), std::string::npos) << err;
  EXPECT_FALSE(STOKER_CUDA_CHECK_NOTHROW(CUBLAS_STATUS_ALLOC_FAILED));
}

TEST(CudaResources, RoundTripThroughDeviceMemoryOnAStream) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  Stream s = Stream::create();
  Event done = Event::create(/*timing=*/true);
  Event start = Event::create(/*timing=*/true);
  PinnedBuffer src(1 << 20), dst(1 << 20);
  for (std::size_t i = 0; i < src.size(); ++i) src.data()[i] = static_cast<std::byte>(i * 13);
  DeviceBuffer a(1 << 20), b(1 << 20, s.get());
  start.record(s.get());
  STOKER_CUDA_CHECK(cudaMemcpyAsync(a.data(), src.data(), src.size(), cudaMemcpyHostToDevice, s.get()));
  STOKER_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), a.size(), cudaMemcpyDeviceToDevice, s.get()));
  STOKER_CUDA_CHECK(cudaMemcpyAsync(dst.data(), b.data(), b.size(), cudaMemcpyDeviceToHost, s.get()));
  done.record(s.get());
  done.synchronize();
  EXPECT_TRUE(done.query());
  EXPECT_GE(Event::elapsed_ms(start, done), 0.0f);
  EXPECT_EQ(std::memcmp(src.data(), dst.data(), src.size()), 0);
  EXPECT_EQ(a.device(), current_cuda_device());
  // Moves transfer ownership; the moved-from object owns nothing.
  DeviceBuffer c = std::move(a);
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_NE(c.data(), nullptr);
  Stream u = Stream::create();  // not `s`: b frees itself on `s`, which must outlive it
  Stream t = std::move(u);
  EXPECT_EQ(u.get(), nullptr);
  EXPECT_NE(t.get(), nullptr);
  t.synchronize();
}

TEST(CudaResources, PinnedBufferIsPageLocked) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device";
  PinnedBuffer p(4096);
  cudaPointerAttributes attr{};
  STOKER_CUDA_CHECK(cudaPointerGetAttributes(&attr, p.data()));
  EXPECT_EQ(attr.type, cudaMemoryTypeHost);
}

#else

TEST(CudaResources, WithoutCudaTheConstructorsThrowUnsupported) {
  try {
    Stream::create();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
  }
  EXPECT_THROW(DeviceBuffer(16), Error);
  EXPECT_THROW(PinnedBuffer(16), Error);
  Stream empty;  // empty objects are fine
  EXPECT_EQ(empty.get(), nullptr);
}

#endif

}  // namespace
}  // namespace stoker
