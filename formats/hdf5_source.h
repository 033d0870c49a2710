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
// and to the source's stage counters (peak_bytes <= (1 + read_ahead_blocks) x block bytes, plus
// the compressed chunks of a block while it decodes). A read-ahead block starts only while the
// budget has room for it. Not charged: per-thread decode scratch (at most two chunks a thread).
//
// Parallel decode: datasets chunked by whole rows whose filters are only deflate and/or shuffle
// are read with H5Dread_chunk (raw bytes, under the process-wide HDF5 lock) and inflated /
// unshuffled on the Runtime's TBB arena, outside the lock, so decode scales with num_threads.
// Other layouts (contiguous, chunks that split a row, other filters) are read with H5Dread of a
// chunk-aligned hyperslab, libhdf5 decoding under the lock. Unfiltered data always takes H5Dread
// with libhdf5's chunk cache disabled, so whole chunks go straight from the file into the block:
// one copy, nothing to decode (measured: the same CPU per byte as a bare H5Dread loop).
//
// Block shuffle (shuffle_blocks): each epoch reads the blocks in a permutation drawn from
// Rng(seed, epoch); rows inside a block keep their order. Followed by .shuffle(buffer) this is a
// near-global shuffle of data larger than RAM. Measured by tests/formats/hdf5_shuffle_quality_test
// (100k rows; corr: Pearson correlation of output position and row index; disp: mean
// |position - row| / rows; same_blk: fraction of adjacent outputs from the same block; blocks/64:
// distinct blocks among 64 consecutive outputs, i.e. in a batch of 64):
//     block_rows  buffer    corr   disp  same_blk  blocks/64
//        256         0     0.001  0.331    0.996       1.1
//        256      8192     0.000  0.331    0.016      41.7   (global shuffle: 0.003, 59.1)
//        256     32768    -0.000  0.331    0.004      55.8
//       1024      8192    -0.188  0.365    0.063      20.5   (global shuffle: 0.010, 47.2)
//       4096     32768    -0.074  0.351    0.070      17.1   (global shuffle: 0.040, 23.2)
//   buffer only, no block shuffle (1024, 8192):  corr 0.964, disp 0.057
// Reading: the block permutation alone fixes the global order statistics (|corr| ~ 1/sqrt(blocks),
// disp ~ 1/3) but leaves neighbours from the same block; the buffer fixes the local mix. A batch
// mixes about buffer/block_rows + 1 blocks. Tuning: keep rows/block_rows large (>= a few hundred
// blocks) and buffer_size >= 8-32 x block_rows; block_rows as small as sequential reads allow
// (>= 1-4 MiB per block on disk, one chunk at least) since the buffer costs buffer_size rows of RAM.
//
// Shard pushdown: shard(num, index) on this source reads only its own blocks: block b belongs to
// shard b % num (round-robin over blocks). This is a disjoint and complete partition, balanced
// within one block, but NOT tf.data's row-wise i % num == index; every shard must use the same
// file and options (block_rows) so they partition identically.
//
// Many files: hdf5(paths, datasets) reads the files as one dataset whose rows are file 0's, then
// file 1's, ... Every file is opened once when the Dataset is made, to read its metadata (one
// handle at a time); reading opens files lazily, when their first block is started, and keeps at
// most max_open_files handles per iterator (LRU). Blocks are numbered over all files (each file
// keeps its own chunk-aligned block_rows), so shuffle_blocks draws each epoch one permutation of
// all blocks of all files, and shard pushdown deals those global blocks round-robin. A bad file
// (missing, not HDF5, lacking a dataset, or rows of another dtype/shape than the first good
// file) is named in an error that every iterator raises before its first row; under
// ErrorPolicy::kSkip it is skipped and counted once, and the other files are read. A file that
// validated but cannot be reopened while reading fails its blocks' rows (skippable likewise).
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
  // Target bytes per block (all datasets together) when block_rows is 0. A few MiB keeps a block
  // in the CPU caches between its read and its rows' copies (measured: 4 MiB blocks cost 35% less
  // CPU than 16 MiB, 64 MiB twice as much); it also bounds the source's memory and is the unit of
  // block shuffle.
  std::size_t block_bytes = std::size_t{4} << 20;
  // Blocks read and decoded ahead of the one being consumed; -1: automatic: 1, or for data decoded
  // on the arena (deflate/shuffle chunks) enough blocks that 2 x num_threads chunks are in flight.
  int read_ahead_blocks = -1;
  // Permute the order of blocks each epoch (seeded; see the header comment).
  bool shuffle_blocks = false;
  // Seed of the block permutation; unset: derived from Options::seed and the stage position.
  std::optional<std::uint64_t> seed;
  // Rows alias their block's buffer instead of being copied out of it (rows whose size is a
  // multiple of 16 bytes). Saves one copy per row (~30% of the source's CPU on uncompressed data),
  // but a block then stays allocated, and charged to this stage, until its last row is dropped: use
  // it when rows are consumed promptly (e.g. straight into batch()), not in front of a shuffle
  // buffer, where a few lingering rows can pin many blocks (back-pressure through the budget).
  bool zero_copy_rows = false;
  // false: always read with H5Dread (decode under libhdf5's lock); for measurements.
  bool raw_chunk_decode = true;
  // Many files: handles one iterator keeps open (least recently used closed first). A read in
  // flight keeps its file open past eviction, so at most max_open_files + read-ahead blocks + 1.
  int max_open_files = 16;
  std::string name = "hdf5";
};

Dataset hdf5(std::string path, std::vector<std::string> datasets, Hdf5Options options = {});
// Many files as one dataset (see "Many files" above): rows of file 0, then file 1, ...
Dataset hdf5(std::vector<std::string> paths, std::vector<std::string> datasets, Hdf5Options options = {});

}  // namespace stoker
