// Data-parallel training: the ranks of one job and the collectives the Trainer needs from them.
//
// A Communicator is the job as seen by one rank (one process). The Trainer, given one
// (TrainerConfig::communicator), makes every step a global step: it sums the batch size over the
// ranks so each rank weights its samples by 1 / (global batch), all-reduces (sums) the
// accumulated gradients before the optimizer applies them, and sums the step's loss and accuracy
// counts, so every rank applies the same update to the same weights (rank 0's, broadcast before
// the first step). The global batch is the sum of the ranks' batches (N x the per-rank batch
// with equal shards).
//
// Engines, not a home-made transport: MPI (Open MPI as Debian ships it; MPI_Allreduce on host
// buffers) when stoker is built with MPI (STOKER_HAVE_MPI) and launched by mpirun; on the CUDA
// backend, NCCL (ncclAllReduce on the device gradients), bootstrapped through MPI, when stoker is
// built with CUDA and NCCL (STOKER_HAVE_NCCL); otherwise the CUDA backend stages the gradients
// through host memory for MPI.
// Threads: a Communicator is used from one thread (the one that calls Trainer::fit); MPI is
// initialised with MPI_THREAD_FUNNELED.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace stoker {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string kind() const = 0;  // "mpi"
  // In-place sums over all ranks; every rank calls with the same n, in the same order.
  virtual void all_reduce_sum(float* data, std::size_t n) = 0;
  virtual void all_reduce_sum(double* data, std::size_t n) = 0;
  virtual void all_reduce_sum(std::int64_t* data, std::size_t n) = 0;
  // Copies root's `data` to every rank.
  virtual void broadcast(float* data, std::size_t n, int root) = 0;
  virtual void broadcast_bytes(void* data, std::size_t n, int root) = 0;
  // Sums n floats of device memory over all ranks, ordered on `cuda_stream` (a cudaStream_t), and
  // returns true; false when this communicator has no device path (the caller copies through
  // host memory and all_reduce_sum instead).
  virtual bool all_reduce_sum_device(float* data, std::size_t n, void* cuda_stream) {
    (void)data, (void)n, (void)cuda_stream;
    return false;
  }
};

// Ranks and launcher as the environment tells them (Open MPI's OMPI_COMM_WORLD_*, PMIx's
// PMIX_RANK, MPICH/Hydra's PMI_*); size 1 when not launched by mpirun.
struct LaunchInfo {
  int size = 1;
  int rank = 0;
  std::string launcher;  // "" when not launched by an MPI launcher
};
LaunchInfo launch_info_from_environment();

// Whether this build has MPI (STOKER_HAVE_MPI).
bool mpi_available();
// Joins the MPI job (MPI_Init_thread) when launched by mpirun with more than one rank; nullptr
// when run alone. Throws stoker::Error kUnsupported when launched with several ranks by a build
// without MPI (each rank would otherwise train alone on everything). The returned object calls
// MPI_Finalize when destroyed; one per process.
std::shared_ptr<Communicator> join_mpi_job();

// The local rank (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK, MPICH's MPI_LOCALRANKID; else the
// rank): ranks on one node pick CUDA device local_rank % devices.
int local_rank_from_environment();

// CUDA backend under MPI: binds this rank to its device (before the backend allocates), then
// returns a communicator whose all_reduce_sum_device is NCCL's, bootstrapped through `mpi`
// (rank 0's ncclUniqueId broadcast), kind "nccl"; host collectives still go through `mpi`.
// Returns `mpi` itself when built without NCCL. Collective: every rank calls it.
std::shared_ptr<Communicator> with_nccl(std::shared_ptr<Communicator> mpi);

}  // namespace stoker
