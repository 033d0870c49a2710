// Data loss around the formats: HDF5 output is published whole or not at all (a failed or full
// write keeps the old file), a cache of a real file is rebuilt when the file changes, and an input
// deleted or cut while being read gives an error naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_decode.h"
#include "formats/jpeg_encode.h"
#include "pipeline/dataset.h"
#include "tests/formats/hdf5_test_util.h"
#include "tests/pipeline/fault_util.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using testing::count_files;
using testing::file_bytes;
using testing::FileSizeLimit;
using testing::collect;
using testing::TempDir;

void write_rows(const std::string& path, std::int64_t n, int offset = 0) {
  Hdf5Writer w(path);
  w.write("/x", testing::make_rows<float>(n, Shape{256}, [offset](std::int64_t i) { return static_cast<float>(i + offset); }));
  w.close();
}

TEST(Hdf5Output, AnExistingFileIsUntouchedUntilClose) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  write_rows(path, 10);
  const std::string old = file_bytes(path);
  Hdf5Writer w(path);
  w.write("/x", testing::make_rows<float>(20, Shape{256}, [](std::int64_t i) { return static_cast<float>(-i); }));
  EXPECT_EQ(file_bytes(path), old);
  w.close();
  EXPECT_NE(file_bytes(path), old);
  EXPECT_EQ(collect(hdf5(path, {"/x"})).size(), 20u);
  EXPECT_EQ(count_files(fs::path(path).parent_path()), 1u);
}

TEST(Hdf5Output, AWriterUnwoundByAnExceptionPublishesNothing) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  write_rows(path, 10);
  const std::string old = file_bytes(path);
  try {
    Hdf5Writer w(path);
    w.write("/x", testing::make_rows<float>(5, Shape{256}, [](std::int64_t i) { return static_cast<float>(i); }));
    throw Error(ErrorCode::kDataLoss, "a corrupt input record");  // as convert meets a bad JPEG
  } catch (const Error&) {
  }
  EXPECT_EQ(file_bytes(path), old);
  EXPECT_EQ(count_files(fs::path(path).parent_path()), 1u) << "temporary left behind";
  // discard() does the same explicitly, and close() then says so.
  Hdf5Writer w(path);
  w.discard();
  EXPECT_THROW(w.close(), Error);
  EXPECT_EQ(file_bytes(path), old);
}

TEST(Hdf5Output, AFullDiskKeepsTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  write_rows(path, 10);
  const std::string old = file_bytes(path);
  {
    FileSizeLimit limit(256 << 10);
    Hdf5Writer w(path);
    w.create("/x", DType::kF32, Shape{256}, {.chunk_rows = 64});
    bool failed = false;
    try {
      for (int i = 0; i < 64; ++i) {  // 64 x 64 KiB = 4 MiB
        w.append("/x", testing::make_rows<float>(64, Shape{256}, [](std::int64_t k) { return static_cast<float>(k); }));
      }
      w.close();
    } catch (const Error& e) {
      failed = true;
      EXPECT_EQ(e.code(), ErrorCode::kIo);
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_TRUE(failed) << "4 MiB written under a 256 KiB limit";
    EXPECT_THROW(w.close(), Error) << "a later close() publishes nothing";
  }
  EXPECT_EQ(file_bytes(path), old);
  EXPECT_EQ(count_files(fs::path(path).parent_path()), 1u);
}

TEST(CacheOfAFile, IsRebuiltWhenTheFileChanges) {
  TempDir dir;
  const std::string data = dir.file("d.h5"), cache = dir.file("d.cache");
  write_rows(data, 10);
  auto first = collect(hdf5(data, {"/x"}).cache(cache));
  ASSERT_EQ(first.size(), 10u);
  EXPECT_EQ(first[0][0].data_as<float>()[0], 0.f);
  write_rows(data, 12, 1000);  // same dataset name, new rows: the old cache must not be replayed
  auto second = collect(hdf5(data, {"/x"}).cache(cache));
  ASSERT_EQ(second.size(), 12u);
  EXPECT_EQ(second[0][0].data_as<float>()[0], 1000.f);
  // Unchanged file: replayed (still equal), and another dataset list is another cache.
  EXPECT_EQ(collect(hdf5(data, {"/x"}).cache(cache)).size(), 12u);
}

TEST(InputChangedWhileRead, ADeletedImageIsNamed) {
  TempDir dir;
  const std::string root = dir.file("imgs");
  for (int k = 0; k < 6; ++k) {
    fs::create_directories(root + "/c" + std::to_string(k % 2));
    const std::vector<std::uint8_t> px(8 * 8 * 3, static_cast<std::uint8_t>(40 * k));
    const auto jpeg = encode_jpeg(px.data(), 8, 8, 3, {});
    std::ofstream(root + "/c" + std::to_string(k % 2) + "/" + std::to_string(k) + ".jpg", std::ios::binary)
        .write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
  }
  Iterator it = image_folder(root).map(read_file()).map(decode_jpeg()).iterator({.num_threads = 1});
  ASSERT_TRUE(it.next());
  const std::string victim = root + "/c1/5.jpg";  // listed, read last
  fs::remove(victim);
  try {
    while (it.next()) {
    }
    FAIL() << "a deleted file went unnoticed";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(victim), std::string::npos) << e.what();
  }
}

TEST(InputChangedWhileRead, AnHdf5FileCutShortIsNamed) {
  TempDir dir;
  const std::string path = dir.file("d.h5");
  write_rows(path, 4096);  // 4 MiB of rows
  Dataset ds = hdf5(path, {"/x"}, {.block_rows = 256});
  Iterator it = ds.iterator({.num_threads = 1});
  ASSERT_TRUE(it.next());
  fs::resize_file(path, fs::file_size(path) / 2);
  try {
    while (it.next()) {
    }
    FAIL() << "a file cut to half its size delivered every row";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("cut while being read"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stoker
