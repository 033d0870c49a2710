// How the datasets of an HDF5 file, laid out the ways h5py users write them, become the
// (image [H,W,C], label) elements the commands train on:
//   images  [N,H,W] or [N,H,W,C] uint8/float32   as they are
//           [N,D] (flat rows, e.g. /features)     viewed as --shape HxWxC, or 1x1xD without it
//           vlen uint8 [N] (encoded JPEGs)        decoded like an image folder's files
//   labels  integer [N] or [N,1]                  class indices
//           [N,C] float or integer, C > 1         one-hot (or soft) targets, passed as float32 [C]
// A pair is an images dataset and a labels dataset with the same number of rows. When the user
// names neither and the file has no /train/images + /train/labels, the file's only pair is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/data_source.h"
#include "formats/hdf5_writer.h"

namespace stoker::cli {

struct Hdf5Pair {
  const Hdf5DatasetInfo* images = nullptr;
  const Hdf5DatasetInfo* labels = nullptr;
};

// Whether `d` can be read as images / as labels (by dtype and rank, not by name).
bool is_image_layout(const Hdf5DatasetInfo& d);
bool is_label_layout(const Hdf5DatasetInfo& d);
// Whether labels `d` are one-hot rows [N,C] (C > 1) rather than class indices.
bool is_one_hot(const Hdf5DatasetInfo& d);

// Every (images, labels) pair of `info` with equal row counts, in file order.
std::vector<Hdf5Pair> trainable_pairs(const Hdf5FileInfo& info);

// "[60000,784]"
std::string dims_text(const std::vector<std::int64_t>& dims);

// Opens spec.path (one HDF5 file, or many: cli/data_files.h) as labeled data in the layouts above;
// the pair is spec's names, else /train/images + /train/labels, else the file's only pair.
LabeledData open_hdf5_labeled(const DataSpec& spec);

}  // namespace stoker::cli
