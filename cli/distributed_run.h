// `stoker train` under mpirun: joining the job, which rank prints and saves, and the per-rank
// weights checksum that shows every rank ends with the same weights.
//
//   mpirun -np 2 stoker train --data 'train-*.h5' --batch 64 ...
// Every rank prints "distributed: rank r of N (mpi|nccl)" once the trainer exists (nccl: the CUDA
// backend all-reduces with NCCL); then ranks > 0 send stdout to /dev/null (only rank 0 logs,
// evaluates and saves; errors still reach stderr from every rank).
#pragma once

#include <memory>

#include "trainer/distributed.h"

namespace stoker {
class Trainer;
}

namespace stoker::cli {

struct DistributedRun {
  std::shared_ptr<Communicator> comm;  // null: this process alone
  int rank = 0, size = 1;
  bool root() const { return rank == 0; }
};

// Joins the MPI job when launched by mpirun with several ranks (see trainer/distributed.h for
// the refusal by a build without MPI); a one-process run otherwise.
DistributedRun join_distributed_run();

// Prints the "distributed:" line with the trainer's communicator kind, then silences stdout on
// ranks > 0. Nothing for a one-process run.
void announce_distributed_run(const DistributedRun& run, const Trainer& trainer);

// Every rank, on stderr: "distributed: rank r weights fnv1a <16 hex digits>", the FNV-1a hash of
// its float32 weights' bytes (equal on all ranks when they hold bit-identical weights).
void print_weights_checksum(const DistributedRun& run, Trainer& trainer);

}  // namespace stoker::cli
