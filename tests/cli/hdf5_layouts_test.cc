// HDF5 files written the usual h5py ways train and bench from the command line: flat feature
// rows [N,D] (optionally viewed with --shape), one-hot labels [N,C], encoded JPEGs stored as vlen
// uint8, and a file whose only image/label pair needs no --images/--labels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cli_test_util.h"
#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_encode.h"

namespace stoker::cli::testing {
namespace {

using Layouts = CliTest;

constexpr int kRows = 256, kSide = 8, kClasses = 4;

// Row i of class i % 4 lights quadrant (i % 4) of an 8x8 image: learnable by a dense layer.
std::vector<std::uint8_t> quadrant_pixels(int i) {
  std::vector<std::uint8_t> px(kSide * kSide);
  const int c = i % kClasses;
  for (int r = 0; r < kSide; ++r) {
    for (int k = 0; k < kSide; ++k) {
      const bool on = (r < kSide / 2) == (c / 2 == 0) && (k < kSide / 2) == (c % 2 == 0);
      px[static_cast<std::size_t>(r * kSide + k)] = static_cast<std::uint8_t>(on ? 200 + (i * 7 + k) % 50 : (i * 3 + r) % 40);
    }
  }
  return px;
}

std::vector<std::int32_t> labels() {
  std::vector<std::int32_t> y(kRows);
  for (int i = 0; i < kRows; ++i) y[static_cast<std::size_t>(i)] = i % kClasses;
  return y;
}

// /features float32 [N,64] (and, when one_hot, /y float32 [N,4] instead of /labels int32 [N]).
void write_flat(const std::string& file, bool one_hot) {
  Hdf5Writer w(file);
  std::vector<float> x;
  for (int i = 0; i < kRows; ++i) {
    for (std::uint8_t v : quadrant_pixels(i)) x.push_back(v / 255.f);
  }
  w.write("/features", Tensor::from_values<float>(Shape{kRows, kSide * kSide}, std::span<const float>(x)));
  const auto y = labels();
  if (one_hot) {
    std::vector<float> t(static_cast<std::size_t>(kRows * kClasses), 0.f);
    for (int i = 0; i < kRows; ++i) t[static_cast<std::size_t>(i * kClasses + y[static_cast<std::size_t>(i)])] = 1.f;
    w.write("/y", Tensor::from_values<float>(Shape{kRows, kClasses}, std::span<const float>(t)));
  } else {
    w.write("/labels", Tensor::from_values<std::int32_t>(Shape{kRows}, std::span<const std::int32_t>(y)));
  }
}

double train_accuracy(const CliResult& r) { return number_after(r.out, "test accuracy "); }

TEST_F(Layouts, FlatFeatureRowsTrainWithoutNamingTheOnlyPair) {
  write_flat(path("flat.h5"), false);
  CliResult r = run_cli({"train", "--data", path("flat.h5"), "--model", "flatten dense(4)", "--epochs", "3", "--batch", "16",
                         "--lr", "0.01", "--val-data", path("flat.h5"), "--val-images", "/features", "--val-labels", "/labels"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("using --images /features --labels /labels"), std::string::npos) << r.err;
  EXPECT_GT(train_accuracy(r), 0.9) << r.out;
}

TEST_F(Layouts, FlatRowsViewedAsImagesTrainAConvnet) {
  write_flat(path("flat.h5"), false);
  CliResult r = run_cli({"train", "--data", path("flat.h5"), "--shape", "8x8x1", "--model", "conv2d(4,3,relu) flatten dense(4)",
                         "--epochs", "1", "--batch", "16"});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_cli({"train", "--data", path("flat.h5"), "--shape", "8x9x1", "--epochs", "1"});
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("has 72 values but rows of /features have 64"), std::string::npos) << r.err;
  r = run_cli({"train", "--data", path("flat.h5"), "--shape", "8x8", "--epochs", "1"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--shape expects HxWxC"), std::string::npos) << r.err;
}

TEST_F(Layouts, OneHotLabelsTrain) {
  write_flat(path("onehot.h5"), true);
  CliResult r = run_cli({"train", "--data", path("onehot.h5"), "--images", "/features", "--labels", "/y", "--model",
                         "flatten dense(4)", "--epochs", "3", "--batch", "16", "--lr", "0.01", "--val-data", path("onehot.h5"),
                         "--val-images", "/features", "--val-labels", "/y"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GT(train_accuracy(r), 0.9) << r.out;
  // Without names: /features [N,64] and /y [N,4] are one pair (the wider is the images).
  r = run_cli({"bench", "--data", path("onehot.h5"), "--batch", "32"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("using --images /features --labels /y"), std::string::npos) << r.err;
}

TEST_F(Layouts, EncodedJpegsInAVlenDatasetDecodeInThePipeline) {
  {
    Hdf5Writer w(path("jpegs.h5"));
    w.create_bytes("/jpegs");
    for (int i = 0; i < kRows; ++i) {
      const auto px = quadrant_pixels(i);
      std::vector<std::uint8_t> rgb;
      for (std::uint8_t v : px) rgb.insert(rgb.end(), {v, v, v});
      w.append_bytes("/jpegs", encode_jpeg(rgb.data(), kSide, kSide, 3, {.quality = 95}));
    }
    const auto y = labels();
    w.write("/labels", Tensor::from_values<std::int32_t>(Shape{kRows}, std::span<const std::int32_t>(y)));
  }
  CliResult r = run_cli({"inspect", path("jpegs.h5")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("trainable pair: --images /jpegs --labels /labels (256 rows), encoded JPEGs"), std::string::npos) << r.out;
  r = run_cli({"bench", "--data", path("jpegs.h5"), "--batch", "32"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("decoded to 8x8"), std::string::npos) << r.out;
  r = run_cli({"train", "--data", path("jpegs.h5"), "--model", "flatten dense(4)", "--epochs", "3", "--batch", "16", "--lr",
               "0.01", "--size", "8", "--gray", "--val-data", path("jpegs.h5"), "--val-images", "/jpegs", "--val-labels",
               "/labels"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_GT(train_accuracy(r), 0.9) << r.out;
}

// convert folder/ out.h5 --store jpeg keeps each file's bytes (vlen uint8), in listing order with
// its label, and train/bench read that file like the folder.
TEST_F(Layouts, ConvertStoresAFolderAsEncodedJpegsThatTrainAndBenchRead) {
  ASSERT_EQ(run_cli({"make-dataset", path("jf"), "--n", "64", "--test-n", "0", "--size", "12", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"convert", path("jf/train"), path("j.h5"), "--store", "jpeg"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("64 encoded JPEGs"), std::string::npos) << r.out;
  const ImageFolderListing list = list_image_folder(path("jf/train"));
  Iterator it = hdf5(path("j.h5"), {"/train/images", "/train/labels"}).iterator({.num_threads = 1});
  std::size_t i = 0;
  while (auto e = it.next()) {
    ASSERT_LT(i, list.paths.size());
    const std::string want = read_text(list.paths[i]);
    ASSERT_EQ(std::string(reinterpret_cast<const char*>((*e)[0].data()), (*e)[0].nbytes()), want) << list.paths[i];
    EXPECT_EQ((*e)[1].item<std::int32_t>(), list.labels[i]);
    ++i;
  }
  EXPECT_EQ(i, list.paths.size());
  r = run_cli({"bench", "--data", path("j.h5"), "--batch", "16"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("64 images"), std::string::npos) << r.out;
  r = run_cli({"convert", path("jf/train"), path("k.h5"), "--store", "jpeg", "--size", "8"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--store jpeg keeps the files as they are"), std::string::npos) << r.err;
}

TEST_F(Layouts, SeveralPairsAreListedForTheUserToChoose) {
  {
    Hdf5Writer w(path("two.h5"));
    const std::vector<std::uint8_t> px(static_cast<std::size_t>(kRows * kSide * kSide), 1);
    const auto y = labels();
    for (const char* g : {"/a", "/b"}) {
      w.write(std::string(g) + "/images", Tensor::from_values<std::uint8_t>(Shape{kRows, kSide, kSide}, std::span<const std::uint8_t>(px)));
      w.write(std::string(g) + "/labels", Tensor::from_values<std::int32_t>(Shape{kRows}, std::span<const std::int32_t>(y)));
    }
  }
  CliResult r = run_cli({"bench", "--data", path("two.h5")});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--images /a/images --labels /a/labels"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--images /b/images --labels /b/labels"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stoker::cli::testing
