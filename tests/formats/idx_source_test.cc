// idx(): reads real IDX files written here (raw and gzip), and fails clearly on bad ones.
#include "formats/idx_source.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pipeline/error.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;

std::vector<unsigned char> be32(std::uint32_t v) {
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
          static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
}

std::vector<unsigned char> images_file(int n, int rows, int cols) {
  std::vector<unsigned char> b = be32(0x803);
  for (auto d : {n, rows, cols}) {
    auto x = be32(d);
    b.insert(b.end(), x.begin(), x.end());
  }
  for (int i = 0; i < n * rows * cols; ++i) b.push_back(static_cast<unsigned char>((i * 7) % 256));
  return b;
}

std::vector<unsigned char> labels_file(int n) {
  std::vector<unsigned char> b = be32(0x801);
  auto x = be32(n);
  b.insert(b.end(), x.begin(), x.end());
  for (int i = 0; i < n; ++i) b.push_back(static_cast<unsigned char>(i % 10));
  return b;
}

class IdxSource : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stoker_idx_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write_raw(const std::string& name, const std::vector<unsigned char>& bytes) {
    std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    return p;
  }
  std::string write_gz(const std::string& name, const std::vector<unsigned char>& bytes) {
    std::string p = (dir_ / name).string();
    gzFile f = gzopen(p.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    return p;
  }
  fs::path dir_;
};

void expect_records(Dataset ds, int n, int rows, int cols) {
  EXPECT_EQ(ds.cardinality(), n);
  auto it = ds.iterator({.num_threads = 1});
  int i = 0;
  while (auto e = it.next()) {
    ASSERT_EQ(e->size(), 2u);
    const Tensor& img = (*e)[0];
    ASSERT_EQ(img.dtype(), DType::kU8);
    ASSERT_EQ(img.shape(), (Shape{rows, cols, 1}));
    for (int k = 0; k < rows * cols; ++k) {
      ASSERT_EQ(img.data_as<std::uint8_t>()[k], static_cast<std::uint8_t>(((i * rows * cols + k) * 7) % 256));
    }
    ASSERT_EQ((*e)[1].dtype(), DType::kI32);
    EXPECT_EQ((*e)[1].item<int>(), i % 10);
    ++i;
  }
  EXPECT_EQ(i, n);
}

TEST_F(IdxSource, ReadsRawFiles) {
  expect_records(idx(write_raw("i", images_file(13, 4, 3)), write_raw("l", labels_file(13))), 13, 4, 3);
}

TEST_F(IdxSource, ReadsGzipFilesAndBatches) {
  auto ds = idx(write_gz("i.gz", images_file(10, 5, 5)), write_gz("l.gz", labels_file(10)));
  expect_records(ds, 10, 5, 5);
  auto it = ds.batch(4).iterator({.num_threads = 2});
  std::vector<std::int64_t> sizes;
  while (auto b = it.next()) sizes.push_back((*b)[0].shape()[0]);
  EXPECT_EQ(sizes, (std::vector<std::int64_t>{4, 4, 2}));
}

TEST_F(IdxSource, EmptyFilesGiveNoElements) {
  expect_records(idx(write_raw("i", images_file(0, 2, 2)), write_raw("l", labels_file(0))), 0, 2, 2);
}

TEST_F(IdxSource, BadMagicNamesTheFile) {
  auto labels = write_raw("l", labels_file(3));
  auto swapped = write_raw("swapped", labels_file(3));  // a labels file given as images
  try {
    idx(swapped, labels);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_NE(std::string(e.what()).find("swapped"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("magic"), std::string::npos) << e.what();
  }
}

TEST_F(IdxSource, CountMismatchIsAnError) {
  try {
    idx(write_raw("i", images_file(5, 2, 2)), write_raw("l", labels_file(4)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("5 images"), std::string::npos) << e.what();
  }
}

TEST_F(IdxSource, TruncationNamesFileAndRecord) {
  auto bytes = images_file(6, 3, 3);
  bytes.resize(bytes.size() - 10);  // record 4 is cut short, record 5 is missing
  auto ds = idx(write_gz("cut.gz", bytes), write_raw("l", labels_file(6)));
  auto it = ds.iterator({.num_threads = 1});
  int got = 0;
  try {
    while (it.next()) ++got;
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kDataLoss);
    EXPECT_EQ(got, 4);
    EXPECT_NE(std::string(e.what()).find("cut.gz"), std::string::npos) << e.what();
    EXPECT_EQ(e.context().record, 4);
  }
  EXPECT_FALSE(it.next().has_value());  // ends after the error instead of reading garbage
}

// Found by fuzzing (tests/fuzz/idx_reader_fuzz.cc): a 24-byte file whose header claims
// 50000 x 50000 images made the first next() allocate 2.5 GB. Refused when the dataset is made.
TEST_F(IdxSource, ImagesLargerThanTheFileCanHoldAreRefusedBeforeAllocating) {
  auto header = images_file(1, 0, 0);
  header.resize(8);  // magic and count; then 50000 x 50000 and a few bytes of "data"
  for (auto v : {be32(50000), be32(50000), be32(0x01020304)}) header.insert(header.end(), v.begin(), v.end());
  for (bool gz : {false, true}) {
    const std::string images = gz ? write_gz("big.gz", header) : write_raw("big", header);
    try {
      idx(images, write_raw("l", labels_file(1)));
      ADD_FAILURE() << "accepted 50000 x 50000 images in a " << header.size() << "-byte file";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kDataLoss) << e.what();
      EXPECT_EQ(e.context().source, images);
      EXPECT_NE(std::string(e.what()).find("50000 x 50000"), std::string::npos) << e.what();
    }
  }
  // The bound is the file's capacity, not a fixed size: a gzip'd file of highly compressible
  // images larger than the file itself still reads.
  auto big = images_file(2, 100, 100);
  std::fill(big.begin() + 16, big.end(), 7);
  const std::string images = write_gz("ok.gz", big);
  ASSERT_LT(fs::file_size(images), 100u * 100u);
  auto it = idx(images, write_raw("l2", labels_file(2))).iterator({.num_threads = 1});
  int n = 0;
  while (it.next()) ++n;
  EXPECT_EQ(n, 2);
}

TEST_F(IdxSource, MissingFileIsNotFound) {
  try {
    idx((dir_ / "nope").string(), write_raw("l", labels_file(1)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

TEST(IdxFashionMnist, ReadsTheDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(dir + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto ds = idx(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(ds.cardinality(), 10000);
  auto it = ds.take(100).iterator({.num_threads = 1});
  int n = 0;
  while (auto e = it.next()) {
    EXPECT_EQ((*e)[0].shape(), (Shape{28, 28, 1}));
    int label = (*e)[1].item<int>();
    EXPECT_GE(label, 0);
    EXPECT_LE(label, 9);
    ++n;
  }
  EXPECT_EQ(n, 100);
}

}  // namespace
}  // namespace stoker
