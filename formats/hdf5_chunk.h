// Decoding of raw HDF5 chunks outside libhdf5 (and so outside its global lock).
//
// H5Dread_chunk hands back a chunk exactly as stored: passed through the dataset's filter
// pipeline in write order, minus the filters whose bit is set in the chunk's filter mask
// (optional filters that declined, e.g. deflate on incompressible data). decode_chunk undoes
// the pipeline in reverse order. Handled filters: deflate (libdeflate) and shuffle; anything else makes
// raw_decode_supported() false and the reader falls back to H5Dread for that dataset.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "formats/hdf5_common.h"

namespace stoker::detail {

// True when every filter in `filters` is one decode_chunk undoes.
bool raw_decode_supported(const std::vector<Hdf5FilterSpec>& filters);

// Decodes `raw` into exactly `out_bytes` bytes at `out` (the full chunk, padding rows included).
// `element_size` is the dtype size the shuffle filter was applied with. `scratch` is reused
// between calls to avoid allocations. Throws Error(kDataLoss) with a reason when the chunk does
// not decode to the expected size (corrupt or truncated data). Thread-safe: touches no HDF5 state.
void decode_chunk(const std::vector<Hdf5FilterSpec>& filters, unsigned filter_mask, std::span<const std::byte> raw,
                  std::size_t element_size, std::byte* out, std::size_t out_bytes, std::vector<std::byte>& scratch);

// Undoes HDF5's shuffle filter (byte k of element i was stored at position k*n + i).
void byte_unshuffle(const std::byte* in, std::byte* out, std::size_t bytes, std::size_t element_size);

}  // namespace stoker::detail
