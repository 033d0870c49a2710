// Bad input to the hdf5() source: each case is a stoker::Error with the right code naming the
// file and dataset (and rows), never a crash; ErrorPolicy::kSkip drops only the bad chunk's rows.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "formats/hdf5_common.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/hdf5_test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::make_rows;
using testing::TempDir;

// Runs `f`, expecting a stoker::Error of `code` whose text contains every string in `needles`.
template <class F>
void expect_error(F f, ErrorCode code, std::vector<std::string> needles) {
  try {
    f();
    ADD_FAILURE() << "no error; expected " << error_code_name(code);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    for (const std::string& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

std::string write_simple(const TempDir& dir, const std::string& name = "f.h5") {
  std::string path = dir.file(name);
  Hdf5Writer w(path);
  w.write("/g/images", make_rows<std::uint8_t>(20, Shape{4}, [](std::int64_t i) { return i; }));
  w.write("/g/labels", make_rows<std::int64_t>(20, Shape{}, [](std::int64_t i) { return i; }));
  w.write("/short", make_rows<std::int64_t>(19, Shape{}, [](std::int64_t i) { return i; }));
  return path;
}

TEST(Hdf5Errors, MissingFileIsNotFound) {
  TempDir dir;
  expect_error([&] { hdf5(dir.file("nope.h5"), {"x"}); }, ErrorCode::kNotFound, {"nope.h5", "no such file"});
}

TEST(Hdf5Errors, MissingDatasetIsNotFoundAndListsWhatExists) {
  TempDir dir;
  std::string path = write_simple(dir);
  expect_error([&] { hdf5(path, {"/g/images", "/g/nope"}); }, ErrorCode::kNotFound,
               {path, "/g/nope", "/g/labels"});
  expect_error([&] { hdf5(path, {"/missing/group/x"}); }, ErrorCode::kNotFound, {path, "/missing/group/x"});
  expect_error([&] { hdf5(path, {"/g"}); }, ErrorCode::kInvalidArgument, {"group"});
}

TEST(Hdf5Errors, DifferentLengthsAreInvalidArgument) {
  TempDir dir;
  std::string path = write_simple(dir);
  expect_error([&] { hdf5(path, {"/g/images", "/short"}); }, ErrorCode::kInvalidArgument,
               {path, "/g/images: 20", "/short: 19"});
}

TEST(Hdf5Errors, UnsupportedDtypeIsUnsupported) {
  TempDir dir;
  std::string path = dir.file("u.h5");
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 4;
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "u16", H5T_STD_U16LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 8);
    d = H5Dcreate2(f, "str", st, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dclose(d);
    H5Tclose(st);
    H5Sclose(s);
    H5Fclose(f);
  }
  expect_error([&] { hdf5(path, {"u16"}); }, ErrorCode::kUnsupported, {path, "/u16", "uint16"});
  expect_error([&] { hdf5(path, {"str"}); }, ErrorCode::kUnsupported, {path, "/str", "string"});
}

// A stand-in for h5py's LZF filter (id 32000): registered only while writing, as on a machine
// with the plugin; the reader then sees a filter its libhdf5 does not have.
size_t fake_lzf(unsigned, size_t, const unsigned[], size_t nbytes, size_t*, void**) { return nbytes; }

TEST(Hdf5Errors, UnavailableFilterIsUnsupported) {
  TempDir dir;
  std::string path = dir.file("lzf.h5");
  {
    detail::Hdf5Lock lock;
    H5Z_class2_t cls{H5Z_CLASS_T_VERS, static_cast<H5Z_filter_t>(32000), 1, 1, "lzf", nullptr, nullptr, fake_lzf};
    ASSERT_GE(H5Zregister(&cls), 0);
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = 16, chunk = 4;
    hid_t s = H5Screate_simple(1, &n, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    ASSERT_GE(H5Pset_filter(dcpl, 32000, H5Z_FLAG_MANDATORY, 0, nullptr), 0);
    hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_INT32, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    std::vector<std::int32_t> v(16, 7);
    ASSERT_GE(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
    H5Fclose(f);
    ASSERT_GE(H5Zunregister(32000), 0);
  }
  expect_error([&] { hdf5(path, {"x"}); }, ErrorCode::kUnsupported, {path, "/x", "lzf", "32000"});
  // describe() still lists it, marked unavailable.
  Hdf5FileInfo info = hdf5_describe(path);
  ASSERT_EQ(info.datasets.size(), 1u);
  ASSERT_EQ(info.datasets[0].filters.size(), 1u);
  EXPECT_EQ(info.datasets[0].filters[0].id, 32000);
  EXPECT_FALSE(info.datasets[0].filters[0].available);
  EXPECT_NE(info.to_string().find("UNAVAILABLE"), std::string::npos);
}

TEST(Hdf5Errors, TruncatedOrForeignFileIsDataLoss) {
  TempDir dir;
  std::string path = dir.file("t.h5");
  {
    Hdf5Writer w(path);
    w.write("d", make_rows<std::uint8_t>(1000, Shape{1000}, [](std::int64_t i) { return i; }));
  }
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 2);
  expect_error([&] { hdf5(path, {"d"}); }, ErrorCode::kDataLoss, {path});
  std::string text = dir.file("text.h5");
  std::ofstream(text) << "this is not an HDF5 file, just some text that is long enough\n";
  expect_error([&] { hdf5(text, {"d"}); }, ErrorCode::kDataLoss, {text, "not an HDF5 file"});
  std::ofstream(dir.file("empty.h5")).close();
  expect_error([&] { hdf5(dir.file("empty.h5"), {"d"}); }, ErrorCode::kDataLoss, {"empty.h5"});
}

// 100 rows of 1000 bytes in chunks of 10 rows (deflate, optionally fletcher32); chunk 3 (rows
// 30..39) has its middle overwritten.
std::string write_corrupt(const TempDir& dir, bool fletcher) {
  std::string path = dir.file("corrupt.h5");
  {
    Hdf5Writer w(path);
    w.write("labels", make_rows<std::int64_t>(100, Shape{}, [](std::int64_t i) { return i; }));
    w.write("d", make_rows<std::uint8_t>(100, Shape{1000}, [](std::int64_t i) { return (i / 3) % 200 + mix64(i) % 2; }),
            {.chunk_rows = 10, .deflate_level = 6, .fletcher32 = fletcher});
  }
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "d", H5P_DEFAULT);
    hsize_t offset[1] = {0};
    unsigned mask = 0;
    hid_t space = H5Dget_space(d);
    EXPECT_GE(H5Dget_chunk_info(d, space, 3, offset, &mask, &addr, &size), 0) << detail::hdf5_error_stack();
    H5Sclose(space);
    EXPECT_EQ(offset[0], 30u);
    H5Dclose(d);
    H5Fclose(f);
  }
  EXPECT_GT(size, 64u);
  std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(static_cast<std::streamoff>(addr + size / 2 - 16));
  std::string junk(32, '\x55');
  io.write(junk.data(), 32);
  return path;
}

// Reads `it` to its end, continuing after errors: the labels (component 1) delivered and the
// errors raised, each checked to be DataLoss and to name every one of `words`.
std::pair<std::vector<std::int64_t>, std::vector<Error>> labels_through_errors(Iterator& it,
                                                                              const std::vector<std::string>& words) {
  std::vector<std::int64_t> got;
  std::vector<Error> errors;
  for (;;) {
    try {
      auto e = it.next();
      if (!e) break;
      got.push_back((*e)[1].item<std::int64_t>());
    } catch (const Error& e) {
      errors.push_back(e);
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
      for (const std::string& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
    }
  }
  return {got, errors};
}

TEST(Hdf5Errors, CorruptChunkIsDataLossNamingFileDatasetAndRows) {
  for (bool raw : {true, false}) {
    for (bool fletcher : {false, true}) {
      SCOPED_TRACE(std::string(raw ? "raw decode" : "H5Dread") + (fletcher ? " fletcher32" : ""));
      TempDir dir;
      std::string path = write_corrupt(dir, fletcher);
      for (int threads : {1, 2}) {
        Iterator it = hdf5(path, {"d", "labels"}, {.block_rows = 20, .raw_chunk_decode = raw})
                          .iterator({.num_threads = threads});
        const auto [got, errors] = labels_through_errors(it, {path, "/d", "30"});
        ASSERT_EQ(errors.size(), 1u);
        EXPECT_EQ(errors[0].context().record, 30);
        ASSERT_EQ(got.size(), 90u);  // next() after the error continues after the bad chunk
        for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], i < 30 ? i : i + 10);
      }
    }
  }
}

// Found by fuzzing (tests/fuzz/hdf5_reader_fuzz.cc): a 7 KB file whose chunk index gives a chunk
// ~4 GB of stored bytes made the raw-chunk reader allocate that much. The index is a v1 B-tree
// (the writer's default format): each key is u32 chunk size, u32 filter mask, (rank + 1) u64
// offsets, followed by the child's address; the key before chunk 0's address is patched.
TEST(Hdf5Errors, AChunkIndexClaimingMoreBytesThanTheFileIsDataLoss) {
  TempDir dir;
  const std::string path = dir.file("index.h5");
  {
    Hdf5Writer w(path);
    w.write("/d", make_rows<std::uint8_t>(40, Shape{4}, [](std::int64_t i) { return i; }),
            {.chunk_rows = 10, .deflate_level = 4});
    w.write("/labels", make_rows<std::int64_t>(40, Shape{}, [](std::int64_t i) { return i; }), {.chunk_rows = 10});
  }
  haddr_t addr = 0;
  hsize_t size = 0;
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/d", H5P_DEFAULT);
    hsize_t offset[2] = {0, 0};
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info_by_coord(d, offset, &mask, &addr, &size), 0);
    H5Dclose(d);
    H5Fclose(f);
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  const std::size_t key = 4 + 4 + 8 * 3;  // size, mask, offsets of rank 2 + 1
  std::size_t at = 0;
  for (std::size_t i = key; i + 8 <= bytes.size() && !at; ++i) {
    std::uint64_t v = 0, s = 0;
    std::memcpy(&v, &bytes[i], 8);
    std::memcpy(&s, &bytes[i - key], 4);
    if (v == addr && s == size) at = i - key;
  }
  ASSERT_GT(at, 0u) << "chunk 0's B-tree key not found";
  const std::uint32_t huge = 0xF0000000u;  // 4 GB
  f.seekp(static_cast<std::streamoff>(at));
  f.write(reinterpret_cast<const char*>(&huge), 4);
  f.close();

  Iterator it = hdf5(path, {"/d", "/labels"}, {.block_rows = 40}).iterator({.num_threads = 1});
  const auto [got, errors] = labels_through_errors(it, {path, "/d", "corrupt chunk index"});
  EXPECT_EQ(errors.size(), 1u);
  EXPECT_EQ(got.size(), 30u);  // the other three chunks still read
}

// Found by fuzzing: a few-KB sparse file (chunked, nothing written) declaring 1e16 rows. Counting
// its rows listed every block (1e10 of them, 80 GB) and so did starting an iterator; now the
// count is arithmetic and the iterator is refused, naming the file and the budget.
TEST(Hdf5Errors, ASparseFileWithBillionsOfBlocksIsCountedAndRefusedNotListed) {
  TempDir dir;
  const std::string path = dir.file("sparse.h5");
  const hsize_t rows = 10'000'000'000'000'000ULL;
  {
    detail::Hdf5Lock lock;
    hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {rows, 4}, chunk[2] = {1024, 4};
    hid_t space = H5Screate_simple(2, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    hid_t d = H5Dcreate2(f, "/images", H5T_NATIVE_UINT8, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(d, 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Fclose(f);
  }
  ASSERT_LT(std::filesystem::file_size(path), 1u << 16);
  Dataset ds = hdf5(path, {"/images"});
  EXPECT_EQ(ds.cardinality(), static_cast<std::int64_t>(rows));
  EXPECT_EQ(ds.shard(3, 2).cardinality() + ds.shard(3, 0).cardinality() + ds.shard(3, 1).cardinality(),
            static_cast<std::int64_t>(rows));
  expect_error([&] { ds.iterator({.num_threads = 1, .memory_budget = 64 << 20}); }, ErrorCode::kOutOfMemory,
               {path, "blocks", std::to_string(64 << 20)});
}

// Found by fuzzing: a dataset header whose chunk is larger than a fixed dimension ([3,4,9731] for
// dims [12,4,3]; H5Dcreate never writes one) made libhdf5's H5Dread read past its chunk buffer.
// The layout message (v3, chunked) holds the chunk dims as u32s followed by the element size.
TEST(Hdf5Errors, AChunkLargerThanAFixedDimensionIsRefusedWhenOpened) {
  TempDir dir;
  const std::string path = dir.file("chunk.h5");
  {
    Hdf5Writer w(path);
    w.write("/images", make_rows<std::uint8_t>(12, Shape{4, 3}, [](std::int64_t i) { return i; }),
            {.chunk_rows = 3, .fletcher32 = true});
  }
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), {});
  const std::uint32_t want[4] = {3, 4, 3, 1};  // chunk dims, then the element size
  std::size_t at = 0;
  for (std::size_t i = 0; i + sizeof want <= bytes.size() && !at; ++i) {
    if (std::memcmp(&bytes[i], want, sizeof want) == 0) at = i;
  }
  ASSERT_GT(at, 0u) << "layout message not found";
  const std::uint32_t wide = 9731;
  f.seekp(static_cast<std::streamoff>(at + 8));
  f.write(reinterpret_cast<const char*>(&wide), 4);
  f.close();
  expect_error([&] { hdf5(path, {"/images"}); }, ErrorCode::kDataLoss, {path, "/images", "[3,4,9731]", "[", "corrupt"});
}

TEST(Hdf5Errors, SkipPolicyDropsOnlyTheBadChunkAndCountsItsRows) {
  TempDir dir;
  std::string path = write_corrupt(dir, false);
  for (bool shuffle : {false, true}) {
    Iterator it = hdf5(path, {"labels", "d"}, {.block_rows = 20, .shuffle_blocks = shuffle})
                      .batch(16)
                      .iterator({.num_threads = 2, .error_policy = ErrorPolicy::kSkip});
    std::set<std::int64_t> got;
    while (auto b = it.next()) {
      for (std::int64_t i = 0; i < (*b)[0].shape()[0]; ++i) got.insert((*b)[0].data_as<std::int64_t>()[i]);
    }
    EXPECT_EQ(got.size(), 90u);
    for (std::int64_t r = 30; r < 40; ++r) EXPECT_FALSE(got.count(r)) << r;
    PipelineStats s = it.stats();
    EXPECT_EQ(s.skipped, 10u);
    ASSERT_FALSE(s.first_errors.empty());
    EXPECT_NE(s.first_errors[0].find("/d"), std::string::npos);
  }
}

TEST(Hdf5Errors, LibraryErrorStackIsNotPrinted) {
  TempDir dir;
  std::string path = write_simple(dir);
  ::testing::internal::CaptureStderr();
  EXPECT_THROW(hdf5(path, {"/g/nope"}), Error);
  EXPECT_THROW(hdf5(dir.file("missing.h5"), {"x"}), Error);
  std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(printed.find("HDF5-DIAG"), std::string::npos) << printed;
}

}  // namespace
}  // namespace stoker
