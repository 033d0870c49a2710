// AtomicFile: publish an output file whole or not at all.
//
//   stoker::AtomicFile out("model.stkw");     // reserves "<dir>/.model.stkw.tmp-<pid>-<n>"
//   out.write(bytes, n);                      // or let a library create out.temp_path() itself
//   out.commit();                             // fsync temp, rename over model.stkw, fsync dir
//
// Invariant: `path` is only ever the old file or a complete new one. Until commit() the data
// lives at temp_path() in the same folder (so rename is atomic); destroying the object without
// a successful commit() removes the temp file. A process killed before commit() leaves at most a
// hidden ".<name>.tmp-*" beside the output, never a file at `path`.
// Write errors are sticky: after one failed write() every later write() and commit() throw, so
// a torn file is never published. Errors are stoker::Error(kIo) naming the output path.
#pragma once

#include <signal.h>

#include <cstddef>
#include <string>
#include <vector>

namespace stoker {

class AtomicFile {
 public:
  // `what` names the file in messages ("weights", "cache", "convert output").
  explicit AtomicFile(std::string path, std::string what = "output");
  ~AtomicFile();  // removes the temp file unless committed; never throws
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }

  // Creates temp_path() (O_EXCL) and returns its fd, owned by this object; idempotent.
  int open();
  // Writes all `n` bytes at the current offset (opens first if needed).
  void write(const void* data, std::size_t n);
  // Records a failure seen by another writer of temp_path() (e.g. a FILE* or libhdf5), so commit()
  // refuses; also removes the temp file.
  void fail() noexcept;
  bool failed() const { return failed_; }
  // fsync the temp file, rename it to path(), fsync the folder. Throws kIo (and removes the temp)
  // on any failure or after an earlier write failure. The temp must exist (written or created
  // by someone else).
  void commit();
  // Removes the temp file now; commit() then throws.
  void discard() noexcept;
  bool committed() const { return committed_; }

 private:
  [[noreturn]] void throw_io(const std::string& what, int err);
  std::string path_, temp_, what_;
  int slot_ = -1;  // in the signal handler's table of temporaries (-1: not registered)
  int fd_ = -1;
  bool failed_ = false, committed_ = false;
};

// Writes `n` bytes to `path` atomically (AtomicFile in one call).
void write_file_atomically(const std::string& path, const void* data, std::size_t n, const std::string& what = "output");

// While it lives: SIGINT, SIGTERM and SIGHUP remove the temporary files of every live AtomicFile,
// then kill the process with the same signal (default action). For commands whose only answer to
// an interrupt is to stop (convert, make-dataset); the previous dispositions come back on
// destruction. SIGKILL cannot be caught, which is why an unpublished file never sits at its path.
class RemoveTemporariesOnSignals {
 public:
  RemoveTemporariesOnSignals();
  ~RemoveTemporariesOnSignals();
  RemoveTemporariesOnSignals(const RemoveTemporariesOnSignals&) = delete;
  RemoveTemporariesOnSignals& operator=(const RemoveTemporariesOnSignals&) = delete;

 private:
  struct sigaction old_[3];
};

// True when `a` and `b` name the same file: equal (st_dev, st_ino) if both exist, else equal
// normalized absolute paths (symlinks in existing parents resolved).
bool same_file(const std::string& a, const std::string& b);

// Throws kIo naming `path` unless its folder exists and a file can be created there (a temp file
// is created and removed). For checking an output path before a long run.
void check_writable(const std::string& path, const std::string& what);

}  // namespace stoker
