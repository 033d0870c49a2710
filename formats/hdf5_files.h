// Many HDF5 files read as one dataset: the validated metadata of every file, the global block
// numbering over all of them, and a bounded cache of open file handles for one iterator.
//
// Global blocks: file f's blocks are numbered first_block[f] .. first_block[f+1]-1, in file order;
// each file keeps its own block_rows (aligned to its own chunks). A bad file (missing, not HDF5,
// corrupt header, lacking a dataset, or holding datasets whose dtype or row shape differ from the
// first good file's) has no blocks: its error is kept and delivered by every iterator before any
// row (thrown under ErrorPolicy::kFail, counted once per bad file under kSkip).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/hdf5_reader.h"

namespace stoker::detail {

struct Hdf5FileSet {
  std::vector<std::string> paths;                          // as given, one per file
  std::vector<std::shared_ptr<const Hdf5FileMeta>> files;  // null where the file is bad
  std::vector<std::optional<Error>> errors;                // set where the file is bad
  std::vector<std::int64_t> first_block;                   // files.size() + 1 prefix sums
  // Index of the first good file: the one every other file's element spec is compared with.
  std::optional<std::size_t> reference;

  std::int64_t total_blocks() const { return first_block.back(); }
  // (file, block within that file) of global block g (0 <= g < total_blocks()).
  std::pair<std::size_t, std::int64_t> locate(std::int64_t g) const;
  // Rows of global block g.
  std::int64_t block_rows_of(std::int64_t g) const;
};

// One file: its metadata errors are thrown (as hdf5(path) always did).
std::shared_ptr<const Hdf5FileSet> hdf5_file_set(std::shared_ptr<const Hdf5FileMeta> meta);
// Many files: each opened once to read its metadata (one handle at a time, closed again); a bad
// file's error is kept, not thrown. Throws kInvalidArgument for an empty list.
std::shared_ptr<const Hdf5FileSet> open_hdf5_files(const std::vector<std::string>& paths,
                                                   const std::vector<std::string>& names, const Hdf5Options& options);

// The open handles of one iterator, least recently used first evicted. At most `max_open` are
// held here; an evicted handle still shared by a read in flight closes when that read ends, so
// the process holds at most max_open + (blocks in flight) handles of this iterator.
// Used only from the iterator's (consumer) thread.
class Hdf5HandleCache {
 public:
  explicit Hdf5HandleCache(std::size_t max_open) : max_open_(max_open < 1 ? 1 : max_open) {}
  // The open handle of file `f`, opening it (under the HDF5 lock, on this thread) if needed.
  // Throws kDataLoss naming the file when it cannot be opened.
  std::shared_ptr<Hdf5OpenFile> get(std::size_t f, const Hdf5FileMeta& meta);
  void clear() { open_.clear(); }
  std::size_t size() const { return open_.size(); }

 private:
  std::size_t max_open_;
  std::list<std::pair<std::size_t, std::shared_ptr<Hdf5OpenFile>>> open_;  // most recent first
};

}  // namespace stoker::detail
