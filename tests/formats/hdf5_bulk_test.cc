// hdf5() -> batch(): rows read straight into the batch's memory (IteratorNode::bulk_read) give
// exactly the batches of the row-by-row path, whatever the batch size against the blocks, block
// shuffling, sharding, drop_remainder and the layout (chunked or contiguous); compressed data and
// the skip policy keep the row path. The row path is forced by a map() between source and batch.
#include <gtest/gtest.h>

#include <vector>

#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using testing::TempDir;

// 103 rows: x uint8 [103,4,3] with every byte distinct per row, y int32 [103].
void write(const std::string& path, Hdf5DatasetOptions o) {
  std::vector<std::uint8_t> x(103 * 12);
  std::vector<std::int32_t> y(103);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::uint8_t>(i * 7 + i / 12);
  for (int i = 0; i < 103; ++i) y[static_cast<std::size_t>(i)] = 1000 + i;
  Hdf5Writer w(path);
  w.write("x", Tensor::from_values<std::uint8_t>(Shape{103, 4, 3}, std::span<const std::uint8_t>(x)), o);
  w.write("y", Tensor::from_values<std::int32_t>(Shape{103}, std::span<const std::int32_t>(y)), o);
}

std::vector<Element> all(const Dataset& ds, Options o = {.num_threads = 2}) {
  std::vector<Element> out;
  Iterator it = ds.iterator(o);
  while (auto b = it.next()) out.push_back(*b);
  return out;
}

Dataset rows_path(Dataset ds) {
  return ds.map([](Element e) { return e; }, MapOptions{.name = "identity"});
}

TEST(Hdf5Bulk, SameBatchesAsTheRowPathForEveryShape) {
  TempDir dir;
  const std::string chunked = dir / "c.h5", contiguous = dir / "k.h5";
  write(chunked, {.chunk_rows = 8});
  write(contiguous, {});
  for (const std::string& file : {chunked, contiguous}) {
    for (std::int64_t block_rows : {8, 16, 40}) {
      for (bool shuffle : {false, true}) {
        for (std::int64_t batch : {1, 5, 16, 64, 200}) {
          for (bool drop : {false, true}) {
            Hdf5Options o{.block_rows = block_rows, .shuffle_blocks = shuffle, .seed = 3};
            const Dataset src = hdf5(file, {"x", "y"}, o);
            for (const Dataset& s : {src, src.shard(3, 1)}) {
              const auto bulk = all(s.batch(batch, drop));
              const auto rows = all(rows_path(s).batch(batch, drop));
              ASSERT_EQ(bulk.size(), rows.size()) << file << " block " << block_rows << " batch " << batch;
              for (std::size_t i = 0; i < bulk.size(); ++i) {
                ASSERT_TRUE(bulk[i] == rows[i]) << file << " block " << block_rows << " shuffle " << shuffle << " batch "
                                                << batch << " drop " << drop << " #" << i;
              }
            }
          }
        }
      }
    }
  }
}

// The bulk path is taken exactly where it applies (the batch stage counts bulk rows): plain data
// under the fail policy; not compressed data (chunks inflate in parallel on the block path), not
// the skip policy (bad rows are skipped one by one), not after a map.
TEST(Hdf5Bulk, TakenForPlainDataButNotForCompressedDataOrTheSkipPolicy) {
  TempDir dir;
  const std::string plain = dir / "p.h5", gz = dir / "z.h5";
  write(plain, {.chunk_rows = 8});
  write(gz, {.chunk_rows = 8, .deflate_level = 4});
  auto bulk_rows = [](const Dataset& ds, ErrorPolicy policy) {
    Iterator it = ds.batch(10).iterator({.num_threads = 2, .error_policy = policy});
    std::int64_t rows = 0;
    while (auto b = it.next()) rows += (*b)[0].shape()[0];
    EXPECT_EQ(rows, 103);
    for (const StageStats& s : it.stats().stages) {
      if (s.name == "batch") return s.bulk_rows;
    }
    return std::uint64_t{999};
  };
  EXPECT_EQ(bulk_rows(hdf5(plain, {"x", "y"}), ErrorPolicy::kFail), 103u);
  EXPECT_EQ(bulk_rows(hdf5(gz, {"x", "y"}), ErrorPolicy::kFail), 0u);
  EXPECT_EQ(bulk_rows(hdf5(plain, {"x", "y"}), ErrorPolicy::kSkip), 0u);
  EXPECT_EQ(bulk_rows(rows_path(hdf5(plain, {"x", "y"})), ErrorPolicy::kFail), 0u);
}

}  // namespace
}  // namespace stoker
