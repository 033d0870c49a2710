// HDF5 image/label layouts (see hdf5_layout.h).
#include "cli/hdf5_layout.h"

namespace stoker::cli {

std::string dims_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

bool is_image_layout(const Hdf5DatasetInfo& d) {
  if (d.vlen_bytes) return d.shape.size() == 1;
  if (!d.stoker_dtype || (*d.stoker_dtype != DType::kU8 && *d.stoker_dtype != DType::kF32)) return false;
  return d.shape.size() >= 2 && d.shape.size() <= 4;
}

bool is_one_hot(const Hdf5DatasetInfo& d) { return d.stoker_dtype && d.shape.size() == 2 && d.shape[1] > 1; }

bool is_label_layout(const Hdf5DatasetInfo& d) {
  if (!d.stoker_dtype || d.shape.empty() || d.shape.size() > 2) return false;
  const DType t = *d.stoker_dtype;
  const bool integer = t == DType::kU8 || t == DType::kI8 || t == DType::kI16 || t == DType::kI32 || t == DType::kI64;
  if (is_one_hot(d)) return integer || t == DType::kF32 || t == DType::kF64;
  return integer;  // [N] or [N,1] class indices
}

std::vector<Hdf5Pair> trainable_pairs(const Hdf5FileInfo& info) {
  std::vector<Hdf5Pair> out;
  for (const Hdf5DatasetInfo& img : info.datasets) {
    if (!is_image_layout(img)) continue;
    for (const Hdf5DatasetInfo& lab : info.datasets) {
      if (&lab == &img || !is_label_layout(lab) || lab.shape[0] != img.shape[0]) continue;
      // A [N,C] float dataset is both a flat image and one-hot labels: never pair it with itself
      // kind, and prefer the wider one as images.
      if (is_image_layout(lab) && is_one_hot(lab) && img.shape.size() == 2 && lab.shape[1] > img.shape[1]) continue;
      out.push_back({&img, &lab});
    }
  }
  return out;
}

}  // namespace stoker::cli
