// cuBLAS is loaded on first use, not at process start (trainer/cuda_blas.h). Needs no GPU: the
// library loads and its entry points resolve without a device.
#include <gtest/gtest.h>

#if defined(STOKER_HAVE_CUDA) && STOKER_HAVE_CUDA
#include "trainer/cuda_blas.h"

namespace stoker {
namespace {

TEST(CudaBlas, IsNotInTheProcessUntilLoaded) {
  // Nothing in this test binary has called cuBLAS yet: linking it would have mapped it already.
  EXPECT_FALSE(cuda_blas::loaded());
  ASSERT_TRUE(cuda_blas::load()) << cuda_blas::note();
  EXPECT_TRUE(cuda_blas::loaded());
  EXPECT_NE(cuda_blas::note().find("libcublas.so."), std::string::npos) << cuda_blas::note();
}

}  // namespace
}  // namespace stoker
#else
TEST(CudaBlas, IsNotInTheProcessUntilLoaded) { GTEST_SKIP() << "built without CUDA"; }
#endif
