// NCCL for the CUDA backend's gradient all-reduce, bootstrapped through MPI (see distributed.h).
// Compiled only with CUDA, MPI and NCCL (STOKER_HAVE_NCCL); distributed.cc has the fallback.
//
// Ownership: the NCCL communicator wraps the MPI one and outlives nothing it uses: its destructor
// destroys the ncclComm_t before the MPI communicator (a member) can finalize MPI. One NCCL
// communicator per process, one device per rank (chosen by local rank before any allocation).
#include <cuda_runtime.h>
#include <nccl.h>

#include <exception>
#include <string>

#include "device/cuda_check.h"
#include "pipeline/error.h"
#include "trainer/distributed.h"

namespace stoker {
namespace {

void nccl_check(ncclResult_t r, const char* call) {
  if (r != ncclSuccess) {
    throw Error(ErrorCode::kCuda, std::string(call) + " failed: " + ncclGetErrorString(r), {"distributed"});
  }
}

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(std::shared_ptr<Communicator> mpi) : mpi_(std::move(mpi)) {
    ncclUniqueId id{};
    if (mpi_->rank() == 0) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    mpi_->broadcast_bytes(&id, sizeof id, 0);
    nccl_check(ncclCommInitRank(&comm_, mpi_->size(), id, mpi_->rank()), "ncclCommInitRank");
  }
  // Unwinding from an error: abort (local, never waits for the other ranks) instead of destroy.
  ~NcclCommunicator() override {
    if (comm_) std::uncaught_exceptions() > 0 ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return mpi_->rank(); }
  int size() const override { return mpi_->size(); }
  std::string kind() const override { return "nccl"; }
  void all_reduce_sum(float* data, std::size_t n) override { mpi_->all_reduce_sum(data, n); }
  void all_reduce_sum(double* data, std::size_t n) override { mpi_->all_reduce_sum(data, n); }
  void all_reduce_sum(std::int64_t* data, std::size_t n) override { mpi_->all_reduce_sum(data, n); }
  void broadcast(float* data, std::size_t n, int root) override { mpi_->broadcast(data, n, root); }
  void broadcast_bytes(void* data, std::size_t n, int root) override { mpi_->broadcast_bytes(data, n, root); }
  // Enqueued on `cuda_stream` after the gradients' kernels; the optimizer's kernels follow on it.
  bool all_reduce_sum_device(float* data, std::size_t n, void* cuda_stream) override {
    nccl_check(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_, static_cast<cudaStream_t>(cuda_stream)),
               "ncclAllReduce");
    return true;
  }

 private:
  std::shared_ptr<Communicator> mpi_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::shared_ptr<Communicator> with_nccl(std::shared_ptr<Communicator> mpi) {
  if (!mpi) return mpi;
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();  // clear the sticky "no device" error: the CPU backend runs instead
    return mpi;
  }
  STOKER_CUDA_CHECK(cudaSetDevice(local_rank_from_environment() % devices));
  return std::make_shared<NcclCommunicator>(std::move(mpi));
}

}  // namespace stoker
