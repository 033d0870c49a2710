// What `--data` (and `inspect PATH`) name when they name more than one file or folder:
//   'train-*.h5'     a glob (quoted, so the shell leaves it alone): the matches, sorted by name
//   @list.txt        a list file: one path per line; blank lines and lines starting with '#' are
//                    skipped; relative paths are relative to the list file's folder
//   a/,b/            comma-separated (image folders), when no file of that exact name exists
//   anything else    itself (one file or folder)
// and the one-screen summary `inspect` prints over many HDF5 files.
#pragma once

#include <string>
#include <vector>

namespace stoker::cli {

// Expands `arg` as above. Throws UsageError (starting with `flag`) for a glob with no match, an
// unreadable or empty list file. Paths are not checked for existence here (a missing file in a
// list is the reader's error, which names it, and --on-error skip can skip it).
std::vector<std::string> expand_data_paths(const std::string& arg, const std::string& flag = "--data");

// Whether `arg` names several paths (a glob, @list or comma list) rather than one.
bool names_many_paths(const std::string& arg);

// `inspect` over many HDF5 files: for each dataset name, the files that hold it, the total rows,
// and whether dtype and row shape agree; the image/label pairs `train` would read; files that
// could not be described, each with its error. Returns the number of unreadable files.
int print_hdf5_files_summary(const std::vector<std::string>& paths);

}  // namespace stoker::cli
