// idx: a streaming source over a pair of IDX files (the MNIST / Fashion-MNIST format), gzip'd
// or raw (zlib reads both transparently).
//
// Element i is (uint8 image [rows, cols, 1], int32 label): the i-th record of each file. The
// headers are read and checked when the Dataset is made (magic, rank, equal counts), so a wrong
// path fails early; records are read one at a time while iterating, so memory stays at one
// record per open iterator whatever the file size. Truncation or a label outside 0..255 raises
// stoker::Error(kDataLoss) naming the file and the record.
#pragma once

#include <string>

#include "pipeline/dataset.h"

namespace stoker {

Dataset idx(std::string images_path, std::string labels_path);

}  // namespace stoker
