// The hdf5() source on real files written by Hdf5Writer: every dtype, groups, vlen bytes,
// compression, streaming bound, block shuffle, shard pushdown, and pipeline stages on top.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "formats/hdf5_common.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/hdf5_test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::make_rows;
using testing::row_of;
using testing::TempDir;

struct Codec {
  const char* name;
  Hdf5DatasetOptions options;
  bool raw_decode;
};

const Codec kCodecs[] = {
    {"none", {.chunk_rows = 5}, true},
    {"deflate", {.chunk_rows = 5, .deflate_level = 4}, true},
    {"deflate+shuffle", {.chunk_rows = 5, .deflate_level = 4, .shuffle = true}, true},
    {"deflate+shuffle via H5Dread", {.chunk_rows = 5, .deflate_level = 4, .shuffle = true}, false},
    {"shuffle only", {.chunk_rows = 5, .shuffle = true}, true},
    {"fletcher32", {.chunk_rows = 5, .deflate_level = 1, .fletcher32 = true}, true},
};

template <class T>
void check_round_trip(const Codec& codec, double scale) {
  SCOPED_TRACE(std::string(codec.name) + " " + dtype_name(dtype_of<T>()));
  TempDir dir;
  std::string path = dir.file("a.h5");
  const std::int64_t n = 37;
  Tensor data = make_rows<T>(n, Shape{3, 2}, [&](std::int64_t i) { return (i % 97) * scale - 20 * scale; });
  Tensor labels = make_rows<std::int64_t>(n, Shape{}, [](std::int64_t i) { return i * 1000003; });
  {
    Hdf5Writer w(path);
    w.write("x", data, codec.options);
    w.write("y", labels, codec.options);
  }
  for (int threads : {1, 2}) {
    auto rows = collect(hdf5(path, {"x", "/y"}, {.block_rows = 7, .raw_chunk_decode = codec.raw_decode}),
                        {.num_threads = threads});
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(rows[i].size(), 2u);
      EXPECT_EQ(rows[i][0], row_of(data, i)) << "row " << i;
      EXPECT_EQ(rows[i][1].shape(), Shape{});
      EXPECT_EQ(rows[i][1].item<std::int64_t>(), i * 1000003);
    }
  }
}

TEST(Hdf5Source, RoundTripsEveryDtypeAndCodec) {
  for (const Codec& c : kCodecs) {
    check_round_trip<std::uint8_t>(c, 1);
    check_round_trip<std::int8_t>(c, 1);
    check_round_trip<std::int16_t>(c, 300);
    check_round_trip<std::int32_t>(c, 70000);
    check_round_trip<std::int64_t>(c, 1e12);
    check_round_trip<float>(c, 0.37);
    check_round_trip<double>(c, 1e-3);
  }
}

TEST(Hdf5Source, BigEndianDatasetsAreConvertedToNative) {
  TempDir dir;
  std::string path = dir.file("be.h5");
  std::vector<std::int32_t> v(40);
  for (int i = 0; i < 40; ++i) v[i] = i * 65537 - 100;
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {20, 2}, chunk[2] = {4, 2};
    hid_t s = H5Screate_simple(2, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_deflate(dcpl, 3);
    hid_t d = H5Dcreate2(f, "be", H5T_STD_I32BE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
    H5Fclose(f);
  }
  auto rows = collect(hdf5(path, {"be"}, {.block_rows = 8}), {.num_threads = 2});
  ASSERT_EQ(rows.size(), 20u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(rows[i][0], Tensor::from_values<std::int32_t>(Shape{2}, {v[2 * i], v[2 * i + 1]})) << i;
  }
}

TEST(Hdf5Source, ReadsDatasetsInsideGroups) {
  TempDir dir;
  std::string path = dir.file("g.h5");
  Tensor img = make_rows<std::uint8_t>(10, Shape{4, 4}, [](std::int64_t i) { return i * 7; });
  Tensor lab = make_rows<std::int32_t>(10, Shape{}, [](std::int64_t i) { return -i; });
  {
    Hdf5Writer w(path);
    w.write("/train/images", img, {.chunk_rows = 3});
    w.write("/train/labels", lab);
    w.write("/test/deep/er/labels", lab);
  }
  auto rows = collect(hdf5(path, {"/train/images", "train/labels"}));
  ASSERT_EQ(rows.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rows[i][0], row_of(img, i));
    EXPECT_EQ(rows[i][1].item<std::int32_t>(), -i);
  }
  EXPECT_EQ(collect(hdf5(path, {"/test/deep/er/labels"})).size(), 10u);
}

TEST(Hdf5Source, VlenBytesAreOneByteTensorPerRow) {
  TempDir dir;
  std::string path = dir.file("v.h5");
  std::vector<std::vector<std::uint8_t>> blobs;
  for (int i = 0; i < 23; ++i) {
    std::vector<std::uint8_t> b(static_cast<std::size_t>((i * 37) % 50));  // includes empty rows
    for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<std::uint8_t>(i + k);
    blobs.push_back(b);
  }
  {
    Hdf5Writer w(path);
    w.create_bytes("/jpeg", {.chunk_rows = 4});
    w.create("/label", DType::kI64, {});
    for (int i = 0; i < 23; ++i) {
      w.append_bytes("/jpeg", std::span<const std::uint8_t>(blobs[i]));
      std::int64_t l = i;
      w.append<std::int64_t>("/label", std::span<const std::int64_t>(&l, 1));
    }
  }
  auto rows = collect(hdf5(path, {"/jpeg", "/label"}, {.block_rows = 5}), {.num_threads = 2});
  ASSERT_EQ(rows.size(), 23u);
  EXPECT_EQ(collect(hdf5(path, {"/jpeg", "/label"})).size(), 23u);  // block size from the estimated row size
  for (int i = 0; i < 23; ++i) {
    const Tensor& t = rows[i][0];
    EXPECT_EQ(t.dtype(), DType::kU8);
    ASSERT_EQ(t.shape(), Shape{static_cast<std::int64_t>(blobs[i].size())}) << i;
    EXPECT_TRUE(std::equal(blobs[i].begin(), blobs[i].end(), t.data_as<std::uint8_t>())) << i;
    EXPECT_EQ(rows[i][1].item<std::int64_t>(), i);
  }
}

TEST(Hdf5Source, CompressedEqualsUncompressedForAnyBlockSize) {
  TempDir dir;
  std::string plain = dir.file("plain.h5"), packed = dir.file("packed.h5");
  // Compressible but not constant: smooth ramps plus a little noise.
  Tensor data = make_rows<std::int16_t>(
      503, Shape{17, 3}, [](std::int64_t i) { return (i / 7) % 5000 + (mix64(i) % 3); });
  {
    Hdf5Writer a(plain), b(packed);
    a.write("d", data, {.chunk_rows = 16});
    b.write("d", data, {.chunk_rows = 16, .deflate_level = 6, .shuffle = true});
  }
  for (std::int64_t block : {1, 16, 33, 100, 1000}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE("block " + std::to_string(block) + " threads " + std::to_string(threads));
      auto x = collect(hdf5(plain, {"d"}, {.block_rows = block}), {.num_threads = threads});
      auto y = collect(hdf5(packed, {"d"}, {.block_rows = block}), {.num_threads = threads});
      ASSERT_EQ(x.size(), 503u);
      ASSERT_EQ(y.size(), 503u);
      for (std::size_t i = 0; i < x.size(); ++i) ASSERT_EQ(x[i], y[i]) << i;
      EXPECT_EQ(x[502][0], row_of(data, 502));
    }
  }
}

TEST(Hdf5Source, HoldsAtMostOneBlockPlusReadAhead) {
  TempDir dir;
  std::string path = dir.file("s.h5");
  const std::int64_t n = 400, row_bytes = 1000;
  Tensor data = make_rows<std::uint8_t>(n, Shape{row_bytes}, [](std::int64_t i) { return i % 251; });
  {
    Hdf5Writer w(path);
    w.write("d", data, {.chunk_rows = 10});
  }
  for (int ahead : {0, 1, 3, -1}) {  // -1: automatic, 1 for uncompressed data
    Dataset ds = hdf5(path, {"d"}, {.block_rows = 20, .read_ahead_blocks = ahead});
    if (ahead < 0) ahead = 1;
    EXPECT_EQ(ds.cardinality(), n);
    Iterator it = ds.iterator({.num_threads = 2});
    std::int64_t count = 0;
    while (it.next()) ++count;
    EXPECT_EQ(count, n);
    PipelineStats s = it.stats();
    ASSERT_EQ(s.stages.size(), 1u);
    EXPECT_EQ(s.stages[0].name, "hdf5");
    EXPECT_GT(s.stages[0].peak_bytes, 0);
    EXPECT_LE(s.stages[0].peak_bytes, (1 + ahead) * 20 * row_bytes) << "read_ahead " << ahead;
    EXPECT_EQ(s.stages[0].bytes_held, 0);
  }
}

TEST(Hdf5Source, CompressedReadsChargeRawChunksWhileDecoding) {
  TempDir dir;
  std::string path = dir.file("c.h5");
  Tensor data = make_rows<std::uint8_t>(400, Shape{1000}, [](std::int64_t i) { return mix64(i) % 7; });
  {
    Hdf5Writer w(path);
    w.write("d", data, {.chunk_rows = 10, .deflate_level = 1});
  }
  Iterator it = hdf5(path, {"d"}, {.block_rows = 20, .read_ahead_blocks = 0}).iterator({.num_threads = 2});
  while (it.next()) {
  }
  // One decoded block plus its compressed chunks (smaller than the block) at most.
  EXPECT_LE(it.stats().stages[0].peak_bytes, 2 * 20 * 1000);
}

TEST(Hdf5Source, ZeroCopyRowsEqualCopiedRowsAndOutliveTheIterator) {
  TempDir dir;
  std::string path = dir.file("z.h5");
  const std::int64_t n = 300;
  Tensor data = make_rows<std::int32_t>(n, Shape{12}, [](std::int64_t i) { return i * 3 + 1; });
  {
    Hdf5Writer w(path);
    w.write("d", data, {.chunk_rows = 8, .deflate_level = 1});
    w.write("small", make_rows<std::int16_t>(n, Shape{3}, [](std::int64_t i) { return i; }));  // 6 bytes: copied
  }
  Dataset copied = hdf5(path, {"d", "small"}, {.block_rows = 32});
  Dataset aliased = hdf5(path, {"d", "small"}, {.block_rows = 32, .zero_copy_rows = true});
  EXPECT_EQ(collect(copied, {.num_threads = 2}), collect(aliased, {.num_threads = 2}));
  std::vector<Element> kept;
  {
    Iterator it = aliased.iterator({.num_threads = 2});
    while (auto e = it.next()) kept.push_back(std::move(*e));
    // Every block is still referenced by rows: charged to the source until they are dropped.
    EXPECT_EQ(it.stats().stages[0].bytes_held, static_cast<std::int64_t>(10 * 32 * 48));
    kept.resize(kept.size() / 2);
  }
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(kept.size()); ++i) EXPECT_EQ(kept[i][0], row_of(data, i));
  // Batched straight away, leases end with each batch: the source holds about read-ahead blocks.
  Iterator it = aliased.batch(32).iterator({.num_threads = 2});
  while (it.next()) {
  }
  EXPECT_EQ(it.stats().stages.back().bytes_held, 0);
  EXPECT_LE(it.stats().stages.back().peak_bytes, 4 * 32 * 48);
}

std::vector<std::int64_t> labels_of(const std::vector<Element>& rows) {
  std::vector<std::int64_t> v;
  for (const Element& e : rows) v.push_back(e[0].item<std::int64_t>());
  return v;
}

std::string write_labels(const TempDir& dir, std::int64_t n, std::int64_t chunk) {
  std::string path = dir.file("labels.h5");
  Hdf5Writer w(path);
  w.write("label", make_rows<std::int64_t>(n, Shape{}, [](std::int64_t i) { return i; }), {.chunk_rows = chunk});
  return path;
}

TEST(Hdf5Source, BlockShuffleIsAPermutationThatChangesPerEpochAndRepeatsPerSeed) {
  TempDir dir;
  const std::int64_t n = 1000;
  std::string path = write_labels(dir, n, 10);
  auto epochs = [&](std::uint64_t seed) {
    auto all = labels_of(collect(hdf5(path, {"label"}, {.block_rows = 50, .shuffle_blocks = true, .seed = seed})
                                     .repeat(3)));
    EXPECT_EQ(all.size(), 3u * n);
    std::vector<std::vector<std::int64_t>> out(3);
    for (int e = 0; e < 3; ++e) out[e].assign(all.begin() + e * n, all.begin() + (e + 1) * n);
    return out;
  };
  auto a = epochs(7), b = epochs(7), c = epochs(8);
  std::vector<std::int64_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  for (int e = 0; e < 3; ++e) {
    auto sorted = a[e];
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, identity) << "epoch " << e << " is not a permutation";
    EXPECT_NE(a[e], identity);
    EXPECT_EQ(a[e], b[e]) << "same seed, epoch " << e;
    EXPECT_NE(a[e], c[e]) << "different seed, epoch " << e;
    // Rows inside a block stay in order; blocks start at multiples of 50.
    for (std::int64_t i = 0; i < n; ++i) {
      if (i % 50 == 0) {
        EXPECT_EQ(a[e][i] % 50, 0);
      } else {
        EXPECT_EQ(a[e][i], a[e][i - 1] + 1);
      }
    }
  }
  EXPECT_NE(a[0], a[1]);
  EXPECT_NE(a[1], a[2]);
  // Without shuffle_blocks the order is the file order.
  EXPECT_EQ(labels_of(collect(hdf5(path, {"label"}, {.block_rows = 50}))), identity);
}

TEST(Hdf5Source, ShardPushdownReadsDisjointCompleteBlocks) {
  TempDir dir;
  const std::int64_t n = 1003;
  std::string path = write_labels(dir, n, 10);
  Dataset ds = hdf5(path, {"label"}, {.block_rows = 40});
  for (std::int64_t num : {1, 2, 3, 7, 30}) {
    std::multiset<std::int64_t> all;
    std::int64_t card = 0;
    for (std::int64_t k = 0; k < num; ++k) {
      Dataset shard = ds.shard(num, k);
      EXPECT_EQ(shard.node()->name(), "hdf5") << "shard() did not push down";
      auto rows = labels_of(collect(shard));
      EXPECT_EQ(static_cast<std::int64_t>(rows.size()), shard.cardinality());
      card += shard.cardinality();
      for (std::int64_t r : rows) {
        EXPECT_EQ((r / 40) % num, k) << "row " << r << " in shard " << k << "/" << num;
        all.insert(r);
      }
    }
    EXPECT_EQ(card, n);
    ASSERT_EQ(all.size(), static_cast<std::size_t>(n));
    std::int64_t expect = 0;
    for (std::int64_t r : all) EXPECT_EQ(r, expect++);  // each row exactly once
  }
  // A shard of a shard is the shard of the product.
  EXPECT_EQ(labels_of(collect(ds.shard(2, 1).shard(3, 2))), labels_of(collect(ds.shard(6, 5))));
}

TEST(Hdf5Source, ShuffleAndBatchStagesOnTop) {
  TempDir dir;
  std::string path = dir.file("p.h5");
  const std::int64_t n = 250;
  Tensor img = make_rows<std::uint8_t>(n, Shape{8, 8, 3}, [](std::int64_t i) { return (i / 192) % 256; });
  Tensor lab = make_rows<std::int64_t>(n, Shape{}, [](std::int64_t i) { return i; });
  {
    Hdf5Writer w(path);
    w.write("images", img, {.chunk_rows = 16, .deflate_level = 3});
    w.write("labels", lab, {.chunk_rows = 64});
  }
  Dataset ds = hdf5(path, {"images", "labels"}, {.block_rows = 32, .shuffle_blocks = true, .seed = 3})
                   .shuffle(64, 5)
                   .batch(32)
                   .prefetch(2);
  Iterator it = ds.iterator({.num_threads = 2});
  std::set<std::int64_t> seen;
  std::int64_t batches = 0;
  while (auto b = it.next()) {
    ++batches;
    const Tensor& images = (*b)[0];
    const Tensor& labels = (*b)[1];
    std::int64_t m = labels.shape()[0];
    EXPECT_EQ(images.shape(), (Shape{m, 8, 8, 3}));
    EXPECT_EQ(m, batches == 8 ? n - 7 * 32 : 32);
    for (std::int64_t i = 0; i < m; ++i) {
      std::int64_t label = labels.data_as<std::int64_t>()[i];
      EXPECT_TRUE(seen.insert(label).second) << "duplicate " << label;
      // The image belongs to the label: its first byte is the image's value at row `label`.
      EXPECT_EQ(images.data_as<std::uint8_t>()[i * 192], row_of(img, label).data_as<std::uint8_t>()[0]);
    }
  }
  EXPECT_EQ(batches, 8);
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(n));
}

TEST(Hdf5Source, EdgeCases) {
  TempDir dir;
  std::string path = dir.file("e.h5");
  {
    Hdf5Writer w(path);
    w.create("empty", DType::kF32, {4});
    w.write("one", make_rows<float>(1, Shape{4}, [](std::int64_t i) { return i; }));
  }
  EXPECT_EQ(collect(hdf5(path, {"empty"})).size(), 0u);
  EXPECT_EQ(hdf5(path, {"empty"}).cardinality(), 0);
  EXPECT_EQ(collect(hdf5(path, {"empty"}, {.shuffle_blocks = true}).shard(3, 2)).size(), 0u);
  EXPECT_EQ(collect(hdf5(path, {"one"})).size(), 1u);
  EXPECT_EQ(collect(hdf5(path, {"one"}).shard(2, 1)).size(), 0u);
  // Batch larger than the input; restarted iterators see the same data.
  Dataset ds = hdf5(path, {"one"}).batch(8);
  EXPECT_EQ(collect(ds), collect(ds));
}

TEST(Hdf5Source, DestroyedEarlyReturnsPromptly) {
  TempDir dir;
  std::string path = dir.file("big.h5");
  {
    Hdf5Writer w(path);
    w.write("d", make_rows<std::uint8_t>(2000, Shape{1000}, [](std::int64_t i) { return mix64(i) % 5; }),
            {.chunk_rows = 10, .deflate_level = 1});
  }
  for (int k = 0; k < 5; ++k) {
    Iterator it = hdf5(path, {"d"}, {.block_rows = 100, .read_ahead_blocks = 4}).iterator({.num_threads = 2});
    for (int i = 0; i < k * 37; ++i) ASSERT_TRUE(it.next());
  }
}

}  // namespace
}  // namespace stoker
