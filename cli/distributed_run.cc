// Joining an MPI job for `stoker train` (see distributed_run.h).
#include "cli/distributed_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>

#include "trainer/trainer.h"

namespace stoker::cli {

DistributedRun join_distributed_run() {
  DistributedRun run;
  run.comm = join_mpi_job();
  if (!run.comm) return run;
  run.rank = run.comm->rank();
  run.size = run.comm->size();
  return run;
}

void announce_distributed_run(const DistributedRun& run, const Trainer& trainer) {
  if (!run.comm) return;
  const Communicator* comm = trainer.communicator() ? trainer.communicator() : run.comm.get();
  std::printf("distributed: rank %d of %d (%s)\n", run.rank, run.size, comm->kind().c_str());
  std::fflush(stdout);
  if (!run.root()) {
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::close(null);
    }
  }
}

void print_weights_checksum(const DistributedRun& run, Trainer& trainer) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const std::vector<float>& p : trainer.backend().get_params()) {
    const auto* b = reinterpret_cast<const unsigned char*>(p.data());
    for (std::size_t i = 0; i < p.size() * sizeof(float); ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  }
  std::fprintf(stderr, "distributed: rank %d weights fnv1a %016" PRIx64 "\n", run.rank, h);
}

}  // namespace stoker::cli
