// AtomicFile and the output-path checks (see atomic_file.h).
#include "pipeline/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "pipeline/error.h"

namespace stoker {
namespace fs = std::filesystem;
namespace {

std::string temp_name_for(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  const fs::path p(path);
  const std::string name = "." + p.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                           std::to_string(counter.fetch_add(1));
  return (p.parent_path() / name).string();
}

// Temporaries a signal handler may unlink: fixed storage, claimed with atomics (async-signal-safe
// to read). A slot is kFree, kWriting (being filled, not to be read) or kLive.
constexpr int kSlots = 256;
constexpr std::size_t kMaxPath = 1024;
enum SlotState : int { kFree, kWriting, kLive };
struct Slot {
  std::atomic<int> state{kFree};
  char path[kMaxPath];
};
Slot g_slots[kSlots];

int register_temp(const std::string& temp) {
  if (temp.size() >= kMaxPath) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kWriting)) {
      std::memcpy(g_slots[i].path, temp.c_str(), temp.size() + 1);
      g_slots[i].state.store(kLive);
      return i;
    }
  }
  return -1;  // table full: this temporary is left to a later cleanup if a signal comes
}

void unregister_temp(int slot) {
  if (slot >= 0) g_slots[slot].state.store(kFree);
}

extern "C" void remove_temps_and_die(int sig) {
  for (Slot& s : g_slots) {
    if (s.state.load() == kLive) ::unlink(s.path);
  }
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string what)
    : path_(std::move(path)), temp_(temp_name_for(path_)), what_(std::move(what)) {
  if (path_.empty()) throw Error(ErrorCode::kInvalidArgument, "empty output path", {what_, path_});
  slot_ = register_temp(temp_);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
  unregister_temp(slot_);
}

void AtomicFile::throw_io(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOSPC || err == EFBIG || err == EDQUOT) msg += " (disk full or file size limit?)";
  discard();
  throw Error(ErrorCode::kIo, msg + "; " + path_ + " was left as it was", {what_, path_});
}

int AtomicFile::open() {
  if (fd_ >= 0) return fd_;
  if (failed_ || committed_) throw Error(ErrorCode::kIo, "output already failed or committed", {what_, path_});
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) throw_io("cannot create " + temp_, errno);
  return fd_;
}

void AtomicFile::write(const void* data, std::size_t n) {
  if (failed_) throw Error(ErrorCode::kIo, "an earlier write failed", {what_, path_});
  open();
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t got = ::write(fd_, p, n);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw_io("write failed", got < 0 ? errno : ENOSPC);
    p += got;
    n -= static_cast<std::size_t>(got);
  }
}

void AtomicFile::fail() noexcept { discard(); }

void AtomicFile::discard() noexcept {
  failed_ = true;
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!committed_) ::unlink(temp_.c_str());
}

void AtomicFile::commit() {
  if (committed_) return;
  if (failed_) throw Error(ErrorCode::kIo, "not published: an earlier write failed", {what_, path_});
  if (fd_ < 0) {  // written by someone else (libhdf5, a FILE*): reopen to fsync
    fd_ = ::open(temp_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw_io("cannot reopen " + temp_, errno);
  }
  if (::fsync(fd_) != 0) throw_io("fsync failed", errno);
  const int rc = ::close(fd_);  // NFS reports deferred write errors at close
  fd_ = -1;
  if (rc != 0) throw_io("close failed", errno);
  if (::rename(temp_.c_str(), path_.c_str()) != 0) throw_io("cannot rename " + temp_ + " to " + path_, errno);
  committed_ = true;
  unregister_temp(slot_);
  slot_ = -1;
  // The rename is durable once the folder is synced; the file is complete either way.
  const int dir = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomically(const std::string& path, const void* data, std::size_t n, const std::string& what) {
  AtomicFile f(path, what);
  f.write(data, n);
  f.commit();
}

constexpr int kCleanupSignals[3] = {SIGINT, SIGTERM, SIGHUP};

RemoveTemporariesOnSignals::RemoveTemporariesOnSignals() {
  for (int i = 0; i < 3; ++i) {
    struct sigaction sa {};
    sa.sa_handler = remove_temps_and_die;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(kCleanupSignals[i], &sa, &old_[i]);
  }
}

RemoveTemporariesOnSignals::~RemoveTemporariesOnSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kCleanupSignals[i], &old_[i], nullptr);
}

bool same_file(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;
  struct stat sa{}, sb{};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ec;
  const fs::path na = fs::weakly_canonical(fs::absolute(a, ec), ec);
  const fs::path nb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  return na.lexically_normal() == nb.lexically_normal();
}

void check_writable(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw Error(ErrorCode::kInvalidArgument, "is a folder, expected a file path", {what, path});
  AtomicFile probe(path, what);  // its destructor removes the probe file
  const int fd = ::open(probe.temp_path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) {
    throw Error(ErrorCode::kIo, "cannot create a file in folder " + folder_of(path) + ": " + std::strerror(errno) +
                                    " (checked before starting)", {what, path});
  }
  ::close(fd);
}

}  // namespace stoker
