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
// buffers) when stoker is built with MPI (STOKER_HAVE_MPI) and launched by mpirun. NCCL is not
// implemented here: the CUDA backend refuses a communicator (Backend::reduce_gradients).
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

}  // namespace stoker
