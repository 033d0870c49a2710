// Launch detection and the MPI communicator (see distributed.h). Without STOKER_HAVE_MPI only the
// detection is compiled, so a build without MPI still builds, runs alone, and refuses mpirun -np N.
#include "trainer/distributed.h"

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "pipeline/error.h"

#if defined(STOKER_HAVE_MPI)
#include <mpi.h>
#endif

namespace stoker {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return end && *end == '\0' && x >= 0 && x < (1 << 24) ? static_cast<int>(x) : fallback;
}

#if defined(STOKER_HAVE_MPI)
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(ErrorCode::kIo, std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(len)),
              {"distributed"});
}

// MPI counts are int: larger buffers go in pieces of at most 2^30 elements.
template <class T>
void all_reduce_in_pieces(T* data, std::size_t n, MPI_Datatype type) {
  constexpr std::size_t kPiece = std::size_t{1} << 30;
  for (std::size_t off = 0; off < n; off += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - off));
    check(MPI_Allreduce(MPI_IN_PLACE, data + off, count, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    // Errors come back as return codes (checked above) instead of aborting the job silently.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
  }
  // Unwinding from an error: no MPI_Finalize, which waits for the other ranks (stuck in a
  // collective this rank will never join); the process exits without it and mpirun then ends
  // the job instead of hanging.
  ~MpiCommunicator() override {
    if (std::uncaught_exceptions() > 0) return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string kind() const override { return "mpi"; }
  void all_reduce_sum(float* data, std::size_t n) override { all_reduce_in_pieces(data, n, MPI_FLOAT); }
  void all_reduce_sum(double* data, std::size_t n) override { all_reduce_in_pieces(data, n, MPI_DOUBLE); }
  void all_reduce_sum(std::int64_t* data, std::size_t n) override { all_reduce_in_pieces(data, n, MPI_INT64_T); }
  void broadcast_bytes(void* data, std::size_t n, int root) override {
    constexpr std::size_t kPiece = std::size_t{1} << 30;
    for (std::size_t off = 0; off < n; off += kPiece) {
      check(MPI_Bcast(static_cast<char*>(data) + off, static_cast<int>(std::min(kPiece, n - off)), MPI_BYTE, root,
                      MPI_COMM_WORLD),
            "MPI_Bcast");
    }
  }
  void broadcast(float* data, std::size_t n, int root) override {
    constexpr std::size_t kPiece = std::size_t{1} << 30;
    for (std::size_t off = 0; off < n; off += kPiece) {
      check(MPI_Bcast(data + off, static_cast<int>(std::min(kPiece, n - off)), MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
    }
  }

 private:
  int rank_ = 0, size_ = 1;
};
#endif

}  // namespace

LaunchInfo launch_info_from_environment() {
  LaunchInfo l;
  if (int s = env_int("OMPI_COMM_WORLD_SIZE", 0); s > 0) {
    l = {s, env_int("OMPI_COMM_WORLD_RANK", 0), "Open MPI"};
  } else if (int s2 = env_int("PMI_SIZE", 0); s2 > 0) {
    l = {s2, env_int("PMI_RANK", 0), "PMI"};
  } else if (std::getenv("PMIX_RANK")) {
    l = {env_int("PMIX_SIZE", 1), env_int("PMIX_RANK", 0), "PMIx"};
  }
  return l;
}

int local_rank_from_environment() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "MPI_LOCAL_RANK"}) {
    if (int r = env_int(name, -1); r >= 0) return r;
  }
  return launch_info_from_environment().rank;
}

#if !defined(STOKER_HAVE_NCCL)
std::shared_ptr<Communicator> with_nccl(std::shared_ptr<Communicator> mpi) { return mpi; }
#endif

bool mpi_available() {
#if defined(STOKER_HAVE_MPI)
  return true;
#else
  return false;
#endif
}

std::shared_ptr<Communicator> join_mpi_job() {
  const LaunchInfo l = launch_info_from_environment();
  if (l.size <= 1) return nullptr;
#if defined(STOKER_HAVE_MPI)
  return std::make_shared<MpiCommunicator>();
#else
  throw Error(ErrorCode::kUnsupported,
              "launched by " + l.launcher + " as rank " + std::to_string(l.rank) + " of " + std::to_string(l.size) +
                  ", but this stoker was built without MPI, so every rank would train alone on all the data; install "
                  "libopenmpi-dev (scripts/install-deps.sh) and rebuild, or run without mpirun",
              {"distributed"});
#endif
}

}  // namespace stoker
