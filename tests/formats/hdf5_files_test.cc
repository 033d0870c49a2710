// hdf5(paths, datasets): many real HDF5 files read as one dataset: order, per-epoch block
// permutation over all files, the bound on open handles (counted in /proc/self/fd), shard
// pushdown over files, and missing / corrupt / mismatched files named (or skipped).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/hdf5_test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::make_rows;
using testing::TempDir;

// `files` files; file f holds rows_of(f) rows whose "id" is a global row number (rows numbered
// across files in order) and whose "x" is [2] float32 {id, -id}.
struct Files {
  std::vector<std::string> paths;
  std::int64_t rows = 0;
};

std::int64_t rows_of(int f) { return 3 + f % 5; }  // 3..7 rows: files and blocks of unequal size

Files write_files(const TempDir& dir, int files, const std::string& prefix = "part") {
  Files out;
  for (int f = 0; f < files; ++f) {
    const std::string p = dir.file(prefix + "-" + std::to_string(1000 + f) + ".h5");
    const std::int64_t n = rows_of(f), base = out.rows;
    Hdf5Writer w(p);
    w.write("id", make_rows<std::int64_t>(n, Shape{}, [&](std::int64_t i) { return base + i; }), {.chunk_rows = 2});
    w.write("x", make_rows<float>(n, Shape{2}, [&](std::int64_t i) { return (i % 2 ? -1 : 1) * float(base + i / 2); }),
            {.chunk_rows = 2, .deflate_level = 1});
    w.close();
    out.paths.push_back(p);
    out.rows += n;
  }
  return out;
}

std::vector<std::int64_t> ids(const std::vector<Element>& rows) {
  std::vector<std::int64_t> out;
  for (const Element& e : rows) out.push_back(e[0].item<std::int64_t>());
  return out;
}

// Open file descriptors of this process whose target lies under `dir`.
int open_fds_under(const std::string& dir) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code ec2;
    const std::string target = std::filesystem::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.rfind(dir, 0) == 0) ++n;
  }
  return n;
}

TEST(Hdf5Files, HundredFilesReadAsOneDatasetInFileOrder) {
  TempDir dir;
  const Files files = write_files(dir, 120);
  Dataset ds = hdf5(files.paths, {"id", "x"}, {.block_rows = 2});
  EXPECT_EQ(ds.cardinality(), files.rows);
  const auto rows = collect(ds, {.num_threads = 2});
  std::vector<std::int64_t> want(static_cast<std::size_t>(files.rows));
  std::iota(want.begin(), want.end(), 0);
  ASSERT_EQ(ids(rows), want);
  for (const Element& e : rows) {
    const std::int64_t id = e[0].item<std::int64_t>();
    ASSERT_EQ(e[1].shape(), Shape{2});
    // x of row i of a file starting at global row base: {base + i, -(base + i)} = {id, -id}.
    EXPECT_EQ(e[1].data_as<float>()[0], float(id));
    EXPECT_EQ(e[1].data_as<float>()[1], -float(id));
  }
}

TEST(Hdf5Files, BlockShuffleIsANewPermutationOfAllFilesEachEpoch) {
  TempDir dir;
  const Files files = write_files(dir, 100);
  Dataset ds = hdf5(files.paths, {"id"}, {.block_rows = 2, .shuffle_blocks = true, .seed = 5});
  std::vector<std::vector<std::int64_t>> epochs;
  Iterator it = ds.repeat(3).iterator({.num_threads = 2});
  std::vector<std::int64_t> all;
  while (auto e = it.next()) all.push_back((*e)[0].item<std::int64_t>());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(3 * files.rows));
  std::set<std::int64_t> files_in_first_tenth;
  for (int k = 0; k < 3; ++k) {
    std::vector<std::int64_t> ep(all.begin() + k * files.rows, all.begin() + (k + 1) * files.rows);
    std::vector<std::int64_t> sorted = ep;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < files.rows; ++i) ASSERT_EQ(sorted[static_cast<std::size_t>(i)], i) << "epoch " << k;
    EXPECT_NE(ep, sorted) << "epoch " << k << " was not shuffled";
    epochs.push_back(ep);
  }
  EXPECT_NE(epochs[0], epochs[1]);
  EXPECT_NE(epochs[1], epochs[2]);
  // Blocks from all over the file list, not file by file: the first 10% of epoch 0 (~25 blocks of
  // 2 rows) comes from ~22 different files when drawn uniformly from 100 files (100 x (1 - 0.99^25));
  // a file-by-file order would touch ~10.
  std::int64_t bound = 0;
  std::vector<std::int64_t> file_end;
  for (int f = 0; f < 100; ++f) file_end.push_back(bound += rows_of(f));
  for (std::size_t i = 0; i < epochs[0].size() / 10; ++i) {
    files_in_first_tenth.insert(std::upper_bound(file_end.begin(), file_end.end(), epochs[0][i]) - file_end.begin());
  }
  EXPECT_GT(files_in_first_tenth.size(), 15u);
}

TEST(Hdf5Files, OpenHandlesStayWithinTheBound) {
  TempDir dir;
  const Files files = write_files(dir, 100);
  const std::string root = std::filesystem::path(files.paths[0]).parent_path().string();
  for (int max_open : {1, 4}) {
    Dataset ds = hdf5(files.paths, {"id", "x"},
                      {.block_rows = 2, .read_ahead_blocks = 1, .shuffle_blocks = true, .max_open_files = max_open});
    EXPECT_EQ(open_fds_under(root), 0) << "making the Dataset keeps no file open";
    Iterator it = ds.iterator({.num_threads = 2});
    int peak = 0;
    std::int64_t n = 0;
    while (auto e = it.next()) {
      peak = std::max(peak, open_fds_under(root));
      ++n;
    }
    EXPECT_EQ(n, files.rows);
    // hdf5_source.h: max_open_files cached + (read-ahead 1) + 1 blocks in flight.
    EXPECT_LE(peak, max_open + 2) << "max_open_files " << max_open;
    EXPECT_GE(peak, 1);
    EXPECT_EQ(open_fds_under(root), 0) << "the end of the data closes every file";
  }
}

TEST(Hdf5Files, ShardsPartitionTheBlocksOfAllFiles) {
  TempDir dir;
  const Files files = write_files(dir, 101);
  Dataset ds = hdf5(files.paths, {"id"}, {.block_rows = 2});
  std::vector<std::int64_t> all;
  std::int64_t card = 0;
  for (int i = 0; i < 3; ++i) {
    Dataset s = ds.shard(3, i);
    card += s.cardinality();
    for (std::int64_t id : ids(collect(s))) all.push_back(id);
  }
  EXPECT_EQ(card, files.rows);
  std::sort(all.begin(), all.end());
  std::vector<std::int64_t> want(static_cast<std::size_t>(files.rows));
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(all, want);
}

TEST(Hdf5Files, EqualShardsKeepPushdownAndYieldTheSmallestShardsCount) {
  TempDir dir;
  const Files files = write_files(dir, 7);  // 3+4+5+6+7+3+4 = 32 rows in 2-row blocks (+ partial)
  Dataset ds = hdf5(files.paths, {"id"}, {.block_rows = 2, .shuffle_blocks = true});  // seed: Options::seed
  for (std::int64_t num : {2, 3, 5}) {
    std::int64_t least = files.rows;
    for (std::int64_t i = 0; i < num; ++i) least = std::min(least, ds.shard(num, i).cardinality());
    std::set<std::int64_t> seen;
    for (std::int64_t i = 0; i < num; ++i) {
      Dataset s = ds.shard(num, i, true);
      EXPECT_EQ(s.cardinality(), least);
      for (int epoch = 0; epoch < 2; ++epoch) {
        const auto got = ids(collect(s, {.seed = static_cast<std::uint64_t>(epoch)}));
        EXPECT_EQ(static_cast<std::int64_t>(got.size()), least) << num << " shards, shard " << i;
        if (epoch == 0) for (std::int64_t id : got) EXPECT_TRUE(seen.insert(id).second) << "row " << id << " in two shards";
      }
    }
    // Shard sizes differ by at most one block (2 rows here), so each drops at most 2 rows.
    EXPECT_GE(least * num, files.rows - 2 * num);
  }
}

// Bad files among good ones: missing, not HDF5, truncated, lacking the dataset, another shape.
struct BadFile {
  const char* what;
  std::function<void(const std::string&)> make;  // writes (or not) the file at the path
  ErrorCode code;
  const char* message;
};

TEST(Hdf5Files, ABadFileIsNamedOrSkippedUnderSkip) {
  const BadFile cases[] = {
      {"missing", [](const std::string&) {}, ErrorCode::kNotFound, "no such file"},
      {"not hdf5", [](const std::string& p) { std::ofstream(p) << "this is text"; }, ErrorCode::kDataLoss, "not an HDF5 file"},
      {"truncated",
       [](const std::string& p) {
         {
           Hdf5Writer w(p);
           w.write("id", make_rows<std::int64_t>(400, Shape{}, [](std::int64_t i) { return i; }));
           w.write("x", make_rows<float>(400, Shape{2}, [](std::int64_t i) { return float(i); }));
         }
         std::filesystem::resize_file(p, 1200);
       },
       ErrorCode::kDataLoss, ""},
      {"no dataset x",
       [](const std::string& p) {
         Hdf5Writer w(p);
         w.write("id", make_rows<std::int64_t>(4, Shape{}, [](std::int64_t i) { return i; }));
       },
       ErrorCode::kNotFound, "no dataset '/x'"},
      {"other shape",
       [](const std::string& p) {
         Hdf5Writer w(p);
         w.write("id", make_rows<std::int64_t>(4, Shape{}, [](std::int64_t i) { return i; }));
         w.write("x", make_rows<float>(4, Shape{3}, [](std::int64_t i) { return float(i); }));
       },
       ErrorCode::kInvalidArgument, "every file must hold the same element shape"},
  };
  for (const BadFile& c : cases) {
    SCOPED_TRACE(c.what);
    TempDir dir;
    Files files = write_files(dir, 6);
    const std::string bad = dir.file("bad.h5");
    c.make(bad);
    std::vector<std::string> paths = files.paths;
    paths.insert(paths.begin() + 3, bad);
    Dataset ds = hdf5(paths, {"id", "x"}, {.block_rows = 2});  // making it never throws for a bad file
    EXPECT_EQ(ds.cardinality(), files.rows);
    try {
      collect(ds);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), c.code) << e.what();
      EXPECT_EQ(e.context().source, bad) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
    }
    Iterator it = ds.iterator({.num_threads = 2, .error_policy = ErrorPolicy::kSkip});
    std::vector<std::int64_t> got;
    while (auto e = it.next()) got.push_back((*e)[0].item<std::int64_t>());
    std::vector<std::int64_t> want(static_cast<std::size_t>(files.rows));
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(got, want);
    EXPECT_EQ(it.stats().skipped, 1u);
  }
}

TEST(Hdf5Files, AFileRemovedAfterTheDatasetWasMadeFailsItsRowsNamingIt) {
  TempDir dir;
  Files files = write_files(dir, 5);
  Dataset ds = hdf5(files.paths, {"id", "x"}, {.block_rows = 2});
  std::filesystem::remove(files.paths[2]);
  try {
    collect(ds);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.context().source, files.paths[2]) << e.what();
  }
  Iterator it = ds.iterator({.error_policy = ErrorPolicy::kSkip});
  std::int64_t n = 0;
  while (it.next()) ++n;
  EXPECT_EQ(n, files.rows - rows_of(2));
  EXPECT_EQ(it.stats().skipped, static_cast<std::uint64_t>(rows_of(2)));
}

TEST(Hdf5Files, EdgeCases) {
  EXPECT_THROW(hdf5(std::vector<std::string>{}, {"id"}), Error);
  TempDir dir;
  Files files = write_files(dir, 2);
  EXPECT_THROW(hdf5(files.paths, {"id"}, {.max_open_files = 0}), Error);
  // Only bad files: fails naming the first; skip yields nothing.
  Dataset none = hdf5(std::vector<std::string>{dir.file("a.h5"), dir.file("b.h5")}, {"id"});
  EXPECT_EQ(none.cardinality(), 0);
  Iterator it = none.iterator({.error_policy = ErrorPolicy::kSkip});
  EXPECT_FALSE(it.next());
  EXPECT_EQ(it.stats().skipped, 2u);
  // One file through the list form reads like hdf5(path).
  EXPECT_EQ(ids(collect(hdf5(std::vector<std::string>{files.paths[0]}, {"id"}))),
            ids(collect(hdf5(files.paths[0], {"id"}))));
  // The same file twice is read twice.
  EXPECT_EQ(hdf5(std::vector<std::string>{files.paths[0], files.paths[0]}, {"id"}).cardinality(), 2 * rows_of(0));
}

}  // namespace
}  // namespace stoker
