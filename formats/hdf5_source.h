// hdf5(path, datasets): a streaming pipeline source over row-aligned HDF5 datasets.
//
//   auto ds = stoker::hdf5("train.h5", {"/train/images", "/train/labels"},
//                          {.shuffle_blocks = true})
//                 .shuffle(20'000).batch(256).prefetch(2);
//
// Elements: one per row of the first dimension; component k is row i of datasets[k] with the
// dataset's remaining dimensions as its shape. Fixed-size datasets of uint8, int8, int16, int32,
// int64, float32 and float64 are read (any byte order; converted to native); variable-length
// uint8 datasets (h5py's layout for encoded JPEG/PNG bytes) give one 1-D uint8 tensor per row.
//
// Streaming: rows are read in blocks of block_rows consecutive rows, rounded to whole chunks of
// the widest dataset. An open source holds the block being consumed plus at most
// read_ahead_blocks blocks being read or decoded; their bytes are charged to the memory budget
// and to the source's stage counters (peak_bytes <= (1 + read_ahead_blocks) x block bytes).
// A read-ahead block starts only while the budget has room for it.
//
// Parallel decode: datasets chunked by whole rows whose filters are only deflate and/or shuffle
// are read with H5Dread_chunk (raw bytes, under the process-wide HDF5 lock) and inflated /
// unshuffled on the Runtime's TBB arena, outside the lock, so decode scales with num_threads.
// Other layouts (contiguous, chunks that split a row, other filters) are read with H5Dread of a
// chunk-aligned hyperslab, libhdf5 decoding under the lock. Unfiltered data always takes H5Dread:
// it is one copy with no decode to parallelise.
//
// Block shuffle (shuffle_blocks): each epoch reads the blocks in a permutation drawn from
// Rng(seed, epoch); rows inside a block keep their order. Followed by .shuffle(buffer) this is a
// near-global shuffle of data larger than RAM. Measured (tests/formats/hdf5_shuffle_quality_test
// prints it; 100k rows, Pearson correlation between output position and row index, and mean
// |position - row| / rows, where 1/3 is a perfect shuffle):
//     block_rows  buffer    corr    mean displacement
//        1024        0     ~0.0       0.33  (order of blocks random, rows inside in order)
//        1024     1024     ~0.0       0.33
//         256     4096     ~0.0       0.33
// What the correlation misses is *local* order: without a buffer, neighbouring outputs come from
// the same block. The quality that matters is then how many distinct blocks a window of the
// output mixes: a shuffle buffer of B rows over blocks of R rows mixes about B/R + 1 blocks, so
// tune buffer_size >= 8-16 x block_rows (and keep block_rows small enough that rows/block_rows is
// large, but large enough to keep reads sequential: >= 1 MiB per block on spinning disks,
// ~256 KiB on SSD). See the test's table for the fraction of adjacent output pairs that come
// from the same block.
//
// Shard pushdown: shard(num, index) on this source reads only its own blocks: block b belongs to
// shard b % num (round-robin over blocks). This is a disjoint and complete partition, balanced
// within one block, but NOT tf.data's row-wise i % num == index; every shard must use the same
// file and options (block_rows) so they partition identically.
//
// Errors (stoker::Error naming the file, the dataset and, on reads, the row): kNotFound for a
// missing file or dataset, kInvalidArgument for datasets of different lengths or rank 0,
// kUnsupported for a dtype or a filter we cannot read (e.g. LZF written by h5py without the
// plugin), kDataLoss for a file that is not HDF5, truncated, or has a corrupt chunk. Under
// ErrorPolicy::kSkip the rows of a bad chunk are skipped and counted (one per row); the rest of
// the block is delivered.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/dataset.h"

namespace stoker {

struct Hdf5Options {
  // Rows per block; 0: derived from block_bytes. Rounded up to whole chunks of the dataset with the
  // most bytes per row.
  std::int64_t block_rows = 0;
  // Target bytes per block (all datasets together) when block_rows is 0.
  std::size_t block_bytes = std::size_t{16} << 20;
  // Blocks read and decoded ahead of the one being consumed.
  int read_ahead_blocks = 1;
  // Permute the order of blocks each epoch (seeded; see the header comment).
  bool shuffle_blocks = false;
  // Seed of the block permutation; unset: derived from Options::seed and the stage position.
  std::optional<std::uint64_t> seed;
  // false: always read with H5Dread (decode under libhdf5's lock); for measurements.
  bool raw_chunk_decode = true;
  std::string name = "hdf5";
};

Dataset hdf5(std::string path, std::vector<std::string> datasets, Hdf5Options options = {});

}  // namespace stoker
