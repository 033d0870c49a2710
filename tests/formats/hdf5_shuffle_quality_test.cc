// How close block shuffle + the pipeline's shuffle buffer gets to a global shuffle.
//
// For 100k rows it prints, per (block_rows, buffer_size):
//   corr      Pearson correlation of output position and row index (0 for a global shuffle)
//   disp      mean |position - row| / rows (1/3 for a global shuffle)
//   same_blk  fraction of adjacent outputs from the same block (~block_rows/rows globally)
//   blocks/w  mean distinct blocks among 64 consecutive outputs (64 when fully mixed)
// and checks the bounds documented in formats/hdf5_source.h. The numbers are deterministic
// (seeded), so the table in the header can be regenerated with:
//   build/tests/hdf5_shuffle_quality_test
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/hdf5_test_util.h"

namespace stoker {
namespace {

using testing::make_rows;
using testing::TempDir;

struct Quality {
  double corr, disp, same_block, blocks_per_window;
};

Quality measure(const std::string& path, std::int64_t block_rows, std::size_t buffer, bool shuffle_blocks) {
  Dataset ds = hdf5(path, {"row"}, {.block_rows = block_rows, .shuffle_blocks = shuffle_blocks, .seed = 11});
  if (buffer > 0) ds = ds.shuffle(buffer, 13);
  std::vector<std::int64_t> out;
  Iterator it = ds.iterator({.num_threads = 1});
  while (auto e = it.next()) out.push_back((*e)[0].item<std::int64_t>());
  const double n = static_cast<double>(out.size());
  double mp = (n - 1) / 2, sxy = 0, sxx = 0, disp = 0, same = 0, windows = 0, blocks = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    double x = static_cast<double>(i) - mp, y = static_cast<double>(out[i]) - mp;
    sxy += x * y;
    sxx += x * x;
    disp += std::abs(static_cast<double>(i) - static_cast<double>(out[i]));
    if (i > 0 && out[i] / block_rows == out[i - 1] / block_rows) same += 1;
    if (i % 64 == 0 && i + 64 <= out.size()) {
      std::set<std::int64_t> b;
      for (std::size_t k = i; k < i + 64; ++k) b.insert(out[k] / block_rows);
      blocks += static_cast<double>(b.size());
      windows += 1;
    }
  }
  return {sxy / sxx, disp / n / n, same / (n - 1), blocks / windows};
}

TEST(Hdf5ShuffleQuality, BlockShufflePlusBufferApproachesGlobalShuffle) {
  TempDir dir;
  std::string path = dir.file("rows.h5");
  const std::int64_t n = 100'000;
  {
    Hdf5Writer w(path);
    w.write("row", make_rows<std::int64_t>(n, Shape{}, [](std::int64_t i) { return i; }), {.chunk_rows = 64});
  }
  std::printf("%-14s %8s %8s %8s %9s %10s\n", "blocks", "buffer", "corr", "disp", "same_blk", "blocks/64");
  auto row = [&](const char* what, std::int64_t block, std::size_t buffer, bool sb) {
    Quality q = measure(path, block, buffer, sb);
    std::printf("%-8s %5lld %8zu %8.3f %8.3f %9.3f %10.1f\n", what, static_cast<long long>(block), buffer, q.corr,
                q.disp, q.same_block, q.blocks_per_window);
    return q;
  };
  // Buffer alone (no block shuffle): order barely changes at this scale.
  Quality plain = row("buffer", 1024, 8192, false);
  EXPECT_GT(plain.corr, 0.9);
  for (std::int64_t block : {256, 1024, 4096}) {
    // A global shuffle, for reference: distinct blocks among 64 uniform draws.
    double blocks = std::ceil(static_cast<double>(n) / static_cast<double>(block));
    std::printf("%-8s %5lld %8s %8.3f %8.3f %9.3f %10.1f\n", "global", static_cast<long long>(block), "-", 0.0,
                1.0 / 3, 1.0 / blocks, blocks * (1 - std::pow(1 - 1 / blocks, 64)));
    // The permutation of `blocks` blocks leaves a correlation of about 1/sqrt(blocks).
    const double corr_bound = 3 / std::sqrt(blocks);
    Quality none = row("shuffled", block, 0, true);
    EXPECT_LT(std::abs(none.corr), corr_bound);
    EXPECT_GT(none.same_block, 0.99);  // without a buffer, neighbours share a block
    for (std::size_t buffer : {1024, 8192, 32768}) {
      Quality q = row("shuffled", block, buffer, true);
      EXPECT_LT(std::abs(q.corr), corr_bound);
      EXPECT_NEAR(q.disp, 1.0 / 3, 0.06);
      // The documented rule: a buffer of >= 8 x block_rows mixes neighbours from different blocks.
      if (buffer >= 8 * static_cast<std::size_t>(block)) {
        EXPECT_LT(q.same_block, 0.15) << block << " " << buffer;
      }
    }
  }
}

}  // namespace
}  // namespace stoker
