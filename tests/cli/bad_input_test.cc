// Crafted inputs that used to crash, hang or exhaust the machine: out-of-range flags, sizes whose
// arithmetic wraps, labels that imply absurd class counts, files whose headers claim more than
// they hold, images or blocks larger than the whole memory budget. Each is refused with the exit
// code and a message that names the flag or the file, the record and the numbers.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "pipeline/error.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;

using BadInput = CliTest;

void expect_refused(const CliResult& r, int rc, const std::vector<std::string>& words, const std::string& what) {
  EXPECT_EQ(r.rc, rc) << what << "\nstdout: " << r.out << "\nstderr: " << r.err;
  for (const std::string& w : words) EXPECT_NE(r.err.find(w), std::string::npos) << what << ": no '" << w << "' in: " << r.err;
}

// A small valid dataset: 40 rows of 8x8x3 uint8, labels 0..3.
std::string tiny_h5(const std::string& p) {
  Hdf5Writer w(p);
  const std::vector<std::uint8_t> px(40 * 8 * 8 * 3, 7);
  std::vector<std::int32_t> labels(40);
  for (int i = 0; i < 40; ++i) labels[static_cast<std::size_t>(i)] = i % 4;
  w.write("/train/images", Tensor::from_values<std::uint8_t>(Shape{40, 8, 8, 3}, std::span<const std::uint8_t>(px)));
  w.write("/train/labels", Tensor::from_values<std::int32_t>(Shape{40}, std::span<const std::int32_t>(labels)));
  return p;
}

TEST_F(BadInput, FlagsOutOfRangeAreUsageErrorsNamingTheFlag) {
  const std::string h5 = tiny_h5(path("tiny.h5"));
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<Case> cases = {
      {{"bench", "--data", h5, "--batch", "4611686018427387904"}, "--batch"},
      {{"train", "--data", h5, "--batch", "1000000000000"}, "--batch"},
      {{"demo", "--batch", "4611686018427387904"}, "--batch"},
      {{"bench", "--data", h5, "--threads", "2000"}, "--threads"},
      {{"train", "--data", h5, "--threads", "2000"}, "--threads"},
      {{"train", "--data", h5, "--epochs", "4294967296"}, "--epochs"},
      {{"bench", "--data", h5, "--memory-budget", "nan"}, "--memory-budget"},
      {{"bench", "--data", h5, "--memory-budget", "inf"}, "--memory-budget"},
      {{"train", "--data", h5, "--memory-budget", "99999999999T"}, "--memory-budget"},
      {{"train", "--data", h5, "--lr", "nan"}, "--lr"},
      {{"train", "--data", h5, "--classes", "4294967296"}, "--classes"},
      {{"make-dataset", path("m.h5"), "--channels", "7"}, "--channels"},
  };
  for (const Case& c : cases) {
    std::string text;
    for (const auto& a : c.args) text += a + " ";
    expect_refused(run_cli(c.args), kExitUsage, {c.flag}, text);
  }
}

TEST_F(BadInput, ABatchLargerThanTheBudgetIsRefusedWithTheNumbersBeforeAnyRead) {
  const std::string h5 = tiny_h5(path("tiny.h5"));
  // 8x8x3 + 4 label bytes = 196 B a row; 10,000 rows = 1.9 MiB > 1 MiB.
  expect_refused(run_cli({"bench", "--data", h5, "--batch", "10000", "--memory-budget", "1M"}), kExitRuntimeError,
                 {"a batch of 10000", "1.0 MiB", "memory budget", "tiny.h5"}, "bench");
  expect_refused(run_cli({"train", "--data", h5, "--batch", "10000", "--memory-budget", "1M"}), kExitRuntimeError,
                 {"a batch of 10000", "memory budget"}, "train");
}

// Labels are class indices: 1e9 in a file of 3 rows would have made a billion class folders
// (convert) or a softmax of a billion outputs (train).
TEST_F(BadInput, ALabelImplyingMoreClassesThanRowsIsRefusedNamingLabelAndRow) {
  const std::string p = path("huge_label.h5");
  {
    Hdf5Writer w(p);
    const std::vector<std::uint8_t> px(3 * 4 * 4, 1);
    w.write("/train/images", Tensor::from_values<std::uint8_t>(Shape{3, 4, 4, 1}, std::span<const std::uint8_t>(px)));
    w.write("/train/labels", Tensor::from_values<std::int32_t>(Shape{3}, {0, 1, 1000000000}));
  }
  expect_refused(run_cli({"train", "--data", p, "--epochs", "1"}), kExitRuntimeError,
                 {"label 1000000000", "record 2", "huge_label.h5", "3 rows"}, "train");
  const std::string out = path("folder");
  expect_refused(run_cli({"convert", p, out}), kExitRuntimeError, {"label 1000000000", "record 2"}, "convert");
  std::size_t made = 0;
  if (fs::exists(out)) made = static_cast<std::size_t>(std::distance(fs::directory_iterator(out), fs::directory_iterator()));
  EXPECT_EQ(made, 0u) << "class folders were created before the labels were checked";
}

TEST_F(BadInput, ADatasetWithZeroRowsSaysSo) {
  const std::string p = path("empty.h5");
  {
    Hdf5Writer w(p);
    w.write("/train/images", Tensor(DType::kU8, Shape{0, 4, 4, 1}));
    w.write("/train/labels", Tensor(DType::kI32, Shape{0}));
  }
  for (const char* cmd : {"train", "bench"}) {
    expect_refused(run_cli({cmd, "--data", p}), kExitRuntimeError, {"0 rows", "empty.h5"}, cmd);
  }
}

// Writes a chunked uint8 dataset of `dims` with chunk shape `chunk` and no data: HDF5 stores no
// chunk, so the file is a few KB whatever the dims claim.
void write_sparse(const std::string& file, const std::vector<hsize_t>& dims, const std::vector<hsize_t>& chunk) {
  hid_t f = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  hid_t s = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
  hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_UINT8, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  ASSERT_GE(d, 0);
  H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(s);
  H5Fclose(f);
}

TEST_F(BadInput, AnHdf5BlockLargerThanTheBudgetIsRefusedNotAllocated) {
  // One chunk is one 4 x 4096 x 4096 slab: 64 MiB, from a file of a few KB.
  const std::string p = path("sparse.h5");
  write_sparse(p, {8, 4096, 4096}, {4, 4096, 4096});
  ASSERT_LT(fs::file_size(p), 64u << 10);
  Iterator it = hdf5(p, {"x"}).iterator({.num_threads = 1, .memory_budget = 16u << 20});
  try {
    it.next();
    FAIL() << "expected kOutOfMemory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kOutOfMemory) << e.what();
    EXPECT_EQ(e.context().source, p);
    EXPECT_NE(std::string(e.what()).find("memory budget of 16.0 MiB"), std::string::npos) << e.what();
  }
}

TEST_F(BadInput, DimsWhoseProductWrapsAreRefusedWhenOpened) {
  // 2^20 x 2^22 x 2^22 = 2^64 elements: wraps to 0 in 64 bits.
  const std::string p = path("wrap.h5");
  write_sparse(p, {hsize_t{1} << 20, hsize_t{1} << 22, hsize_t{1} << 22}, {1, 1, 1 << 10});
  try {
    hdf5(p, {"x"});
    FAIL() << "expected the dims to be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[1048576,4194304,4194304]"), std::string::npos) << e.what();
    EXPECT_EQ(e.context().source, p);
  }
}

// Image folders take their output size from the first file when --size is not given.
TEST_F(BadInput, AFirstImageClaimingHugeDimsIsRefusedBeforeDecoding) {
  const fs::path root = path("imgs");
  fs::create_directories(root / "a");
  std::vector<std::uint8_t> jpeg = stoker::testing::make_jpeg(24, 32);
  // Patch the frame header (SOF0: FF C0, length, precision, height, width) to 20000 x 20000.
  for (std::size_t i = 0; i + 8 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {
      jpeg[i + 5] = 20000 >> 8, jpeg[i + 6] = 20000 & 0xFF, jpeg[i + 7] = 20000 >> 8, jpeg[i + 8] = 20000 & 0xFF;
      break;
    }
  }
  stoker::testing::write_bytes((root / "a" / "0.jpg").string(), jpeg);
  stoker::testing::write_bytes((root / "a" / "1.jpg").string(), stoker::testing::make_jpeg(24, 32));
  expect_refused(run_cli({"bench", "--data", root.string()}), kExitRuntimeError, {"20000x20000", "max_pixels", "--size", "0.jpg"},
                 "bench");
}

TEST_F(BadInput, AnImageLargerThanTheWholeBudgetIsRefused) {
  const fs::path root = path("big");
  fs::create_directories(root / "a");
  // 1000 x 800 x 3 = 2.3 MiB decoded, under a 1 MiB budget.
  stoker::testing::write_bytes((root / "a" / "0.jpg").string(), stoker::testing::make_jpeg(1000, 800));
  expect_refused(run_cli({"bench", "--data", root.string(), "--batch", "1", "--memory-budget", "1M"}), kExitRuntimeError,
                 {"1000x800x3", "memory budget of 1.0 MiB"}, "bench");
}

// An 8 GB sparse file named .jpg: refused from its size, never read whole into memory.
TEST_F(BadInput, AHugeSparseJpegIsRefusedFromItsSizeNamingTheFile) {
  const fs::path root = path("sparse_jpg");
  fs::create_directories(root / "a");
  const std::string ok = (root / "a" / "0.jpg").string(), huge = (root / "a" / "1.jpg").string();
  stoker::testing::write_bytes(ok, stoker::testing::make_jpeg(16, 16));
  stoker::testing::write_bytes(huge, stoker::testing::make_jpeg(16, 16));
  ASSERT_EQ(::truncate(huge.c_str(), off_t{8} << 30), 0);
  CliResult r = run_cli({"bench", "--data", root.string(), "--size", "16"});
  expect_refused(r, kExitRuntimeError, {"1.jpg", "8589934592 bytes"}, "bench");
  // The same bytes without a JPEG signature: named as not a JPEG, also without reading 8 GB.
  std::vector<std::uint8_t> zeros(16, 0);
  stoker::testing::write_bytes(huge, zeros);
  ASSERT_EQ(::truncate(huge.c_str(), off_t{8} << 30), 0);
  r = run_cli({"bench", "--data", root.string(), "--size", "16"});
  expect_refused(r, kExitRuntimeError, {"1.jpg"}, "bench, no signature");
}

}  // namespace
}  // namespace stoker::cli::testing
