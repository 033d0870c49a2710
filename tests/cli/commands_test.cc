// End-to-end runs of `stoker` (dispatch, make-dataset, inspect, convert, bench) on tiny data
// written in a temporary folder, plus the documented messages and exit codes of bad calls.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>

#include "cli/synthetic.h"
#include "cli_test_util.h"
#include "formats/file_source.h"
#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "pipeline/version.h"

namespace stoker::cli::testing {
namespace {

namespace fs = std::filesystem;

// All rows of an HDF5 dataset, as one tensor [N, ...].
Tensor read_all(const std::string& file, const std::string& name) {
  Iterator it = hdf5(file, {name}).batch(1 << 20).iterator({.num_threads = 1});
  auto b = it.next();
  EXPECT_TRUE(b.has_value());
  return b ? (*b)[0] : Tensor();
}

using Dispatch = CliTest;

TEST_F(Dispatch, NoArgumentsIsAUsageError) {
  CliResult r = run_cli({});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("usage: stoker <command>"), std::string::npos);
}

TEST_F(Dispatch, UnknownCommandIsAUsageError) {
  CliResult r = run_cli({"trian"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("unknown command 'trian'"), std::string::npos);
}

TEST_F(Dispatch, EveryCommandHasHelp) {
  for (const Command& c : commands()) {
    CliResult r = run_cli({c.name, "--help"});
    EXPECT_EQ(r.rc, kExitOk) << c.name;
    EXPECT_NE(r.out.find(std::string("usage: stoker ") + c.name), std::string::npos) << c.name;
    EXPECT_NE(r.out.find("--"), std::string::npos) << c.name;
  }
}

TEST_F(Dispatch, VersionPrintsTheProjectVersion) {
  CliResult r = run_cli({"--version"});
  EXPECT_EQ(r.rc, kExitOk);
  EXPECT_EQ(r.out, std::string("stoker ") + stoker::version() + "\n");
  EXPECT_TRUE(std::regex_match(stoker::version(), std::regex(R"([0-9]+\.[0-9]+\.[0-9]+)"))) << stoker::version();
}

TEST_F(Dispatch, UnknownFlagNamesTheFlagAndExitsTwo) {
  CliResult r = run_cli({"inspect", path("x"), "--sampels", "3"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("stoker inspect: unknown flag --sampels"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stoker inspect --help"), std::string::npos) << r.err;
}

TEST(Synthetic, SameIndexSameImageAndLabelsCoverClasses) {
  SynthSpec s{.height = 8, .width = 8, .channels = 3, .classes = 4, .seed = 3};
  std::vector<std::uint8_t> a(8 * 8 * 3), b(8 * 8 * 3);
  EXPECT_EQ(synth_sample(s, 17, a.data()), synth_sample(s, 17, b.data()));
  EXPECT_EQ(a, b);
  std::vector<int> seen(4, 0);
  for (int i = 0; i < 200; ++i) ++seen[static_cast<std::size_t>(synth_sample(s, i, a.data()))];
  for (int k = 0; k < 4; ++k) EXPECT_GT(seen[static_cast<std::size_t>(k)], 20) << k;
}

using MakeDataset = CliTest;

TEST_F(MakeDataset, WritesHdf5TrainAndTestSplits) {
  CliResult r = run_cli({"make-dataset", path("s.h5"), "--n", "300", "--test-n", "50", "--size", "12x10", "--classes", "3",
                         "--chunk-rows", "64", "--deflate", "4"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const Hdf5FileInfo info = hdf5_describe(path("s.h5"));
  ASSERT_EQ(info.datasets.size(), 4u);
  for (const Hdf5DatasetInfo& d : info.datasets) {
    if (d.name == "/train/images") {
      EXPECT_EQ(d.shape, (std::vector<std::int64_t>{300, 12, 10, 3}));
      EXPECT_EQ(d.chunk[0], 64);
      ASSERT_FALSE(d.filters.empty());
      EXPECT_EQ(d.filters[0].name, "deflate");
    }
    if (d.name == "/test/labels") EXPECT_EQ(d.shape, (std::vector<std::int64_t>{50}));
  }
  // Row i is synth_sample(i): written in blocks, in order.
  Tensor img = read_all(path("s.h5"), "/train/images");
  Tensor lab = read_all(path("s.h5"), "/train/labels");
  std::vector<std::uint8_t> px(12 * 10 * 3);
  SynthSpec s{.height = 12, .width = 10, .channels = 3, .classes = 3, .seed = 0};
  for (int i : {0, 150, 299}) {
    EXPECT_EQ(synth_sample(s, i, px.data()), lab.data_as<std::int32_t>()[i]);
    EXPECT_EQ(0, std::memcmp(px.data(), img.data_as<std::uint8_t>() + i * px.size(), px.size())) << i;
  }
}

TEST_F(MakeDataset, WritesJpegFolders) {
  CliResult r = run_cli({"make-dataset", path("jpg"), "--n", "40", "--test-n", "10", "--size", "16", "--classes", "12"});
  ASSERT_EQ(r.rc, 0) << r.err;
  ImageFolderListing train = list_image_folder(path("jpg/train"));
  EXPECT_EQ(train.paths.size(), 40u);
  EXPECT_EQ(list_image_folder(path("jpg/test")).paths.size(), 10u);
  // Zero-padded class names sort in label order.
  EXPECT_EQ(train.classes.front(), "00");
  EXPECT_TRUE(fs::exists(path("jpg/train/11")));
}

TEST_F(MakeDataset, RefusesANonEmptyFolderAndBadValues) {
  fs::create_directories(path("full"));
  std::ofstream(path("full/x")) << "x";
  CliResult r = run_cli({"make-dataset", path("full"), "--n", "4"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("is not empty"), std::string::npos) << r.err;
  EXPECT_EQ(run_cli({"make-dataset", path("a.h5"), "--channels", "2"}).rc, kExitUsage);
  EXPECT_EQ(run_cli({"make-dataset", path("a.h5"), "--deflate", "12"}).rc, kExitUsage);
  EXPECT_EQ(run_cli({"make-dataset"}).rc, kExitUsage);
}

using Inspect = CliTest;

TEST_F(Inspect, DescribesHdf5AndImageFolders) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "20", "--size", "8", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"inspect", path("s.h5")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("/train/images  uint8  [20,8,8,3]  chunked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trainable pair: --images /train/images --labels /train/labels (20 rows)"), std::string::npos) << r.out;

  ASSERT_EQ(run_cli({"make-dataset", path("jpg"), "--n", "12", "--test-n", "0", "--size", "8x6", "--classes", "3"}).rc, 0);
  r = run_cli({"inspect", path("jpg/train"), "--samples", "2"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("12 JPEGs, 3 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("6x8 (WxH)"), std::string::npos) << r.out;
}

TEST_F(Inspect, MissingOrForeignFilesAreReported) {
  CliResult r = run_cli({"inspect", path("nope.h5")});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("no such file or folder"), std::string::npos) << r.err;
  std::ofstream(path("notes.txt")) << "hello";
  EXPECT_EQ(run_cli({"inspect", path("notes.txt")}).rc, kExitUsage);
  // An HDF5 signature followed by garbage: the file is HDF5 but unreadable, a runtime error.
  std::ofstream(path("bad.h5"), std::ios::binary) << std::string("\x89HDF\r\n\x1a\n", 8) << std::string(100, 'x');
  r = run_cli({"inspect", path("bad.h5")});
  EXPECT_EQ(r.rc, kExitRuntimeError);
  EXPECT_NE(r.err.find("bad.h5"), std::string::npos) << r.err;
}

using Convert = CliTest;

void write_idx(const std::string& file, std::uint32_t magic, std::vector<std::uint32_t> dims, const std::vector<std::uint8_t>& data) {
  std::ofstream f(file, std::ios::binary);
  auto be = [&](std::uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
    f.write(b, 4);
  };
  be(magic);
  for (std::uint32_t d : dims) be(d);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

TEST_F(Convert, IdxFolderToHdf5KeepsEveryByte) {
  fs::create_directories(path("idx"));
  std::vector<std::uint8_t> images(37 * 5 * 4), labels(37);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = static_cast<std::uint8_t>(i * 7);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::uint8_t>(i % 10);
  write_idx(path("idx/train-images-idx3-ubyte"), 0x803, {37, 5, 4}, images);
  write_idx(path("idx/train-labels-idx1-ubyte"), 0x801, {37}, labels);
  CliResult r = run_cli({"convert", path("idx"), path("fm.h5"), "--chunk-rows", "8"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("/train: 37 rows of [5,4,1]"), std::string::npos) << r.out;
  Tensor img = read_all(path("fm.h5"), "/train/images");
  Tensor lab = read_all(path("fm.h5"), "/train/labels");
  EXPECT_EQ(img.shape(), (Shape{37, 5, 4, 1}));
  EXPECT_EQ(0, std::memcmp(img.data(), images.data(), images.size()));
  EXPECT_EQ(lab.dtype(), DType::kI32);
  EXPECT_EQ(lab.data_as<std::int32_t>()[13], 3);
}

TEST_F(Convert, Hdf5ToJpegFolderAndBack) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "30", "--test-n", "0", "--size", "16", "--classes", "3"}).rc, 0);
  CliResult r = run_cli({"convert", path("s.h5"), path("out/train"), "--quality", "100"});
  ASSERT_EQ(r.rc, 0) << r.err;
  ImageFolderListing list = list_image_folder(path("out/train"));
  ASSERT_EQ(list.paths.size(), 30u);
  EXPECT_EQ(list.classes, (std::vector<std::string>{"0", "1", "2"}));

  r = run_cli({"convert", path("out/train"), path("back.h5")});
  ASSERT_EQ(r.rc, 0) << r.err;
  Tensor orig = read_all(path("s.h5"), "/train/labels");
  Tensor back = read_all(path("back.h5"), "/train/labels");
  ASSERT_EQ(back.shape(), Shape{30});
  // The folder lists files by (class, name); names are row numbers, so each class keeps its rows.
  std::vector<int> count_orig(3), count_back(3);
  for (int i = 0; i < 30; ++i) {
    ++count_orig[static_cast<std::size_t>(orig.data_as<std::int32_t>()[i])];
    ++count_back[static_cast<std::size_t>(back.data_as<std::int32_t>()[i])];
  }
  EXPECT_EQ(count_orig, count_back);
  EXPECT_EQ(read_all(path("back.h5"), "/train/images").shape(), (Shape{30, 16, 16, 3}));
  // Class names travel with the data: row k names label k.
  Iterator names = hdf5(path("back.h5"), {"/train/class_names"}).iterator({.num_threads = 1});
  std::vector<std::string> got;
  while (auto e = names.next()) got.emplace_back(reinterpret_cast<const char*>((*e)[0].data()), (*e)[0].nbytes());
  EXPECT_EQ(got, (std::vector<std::string>{"0", "1", "2"}));
  // Exporting into a non-empty folder is refused.
  EXPECT_EQ(run_cli({"convert", path("s.h5"), path("out/train")}).rc, kExitUsage);
}

TEST_F(Convert, BadInputsAreUsageErrors) {
  EXPECT_EQ(run_cli({"convert", path("missing"), path("o.h5")}).rc, kExitUsage);
  EXPECT_EQ(run_cli({"convert", path("only-one")}).rc, kExitUsage);
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "4", "--size", "4", "--classes", "2"}).rc, 0);
  CliResult r = run_cli({"convert", path("s.h5"), path("o"), "--images", "/nope"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("no dataset '/nope'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("/train/images"), std::string::npos) << r.err;
}

using Bench = CliTest;

TEST_F(Bench, Hdf5ReportsRatesStagesBottleneckAndMemory) {
  ASSERT_EQ(run_cli({"make-dataset", path("s.h5"), "--n", "500", "--test-n", "0", "--size", "16", "--classes", "4"}).rc, 0);
  CliResult r = run_cli({"bench", "--data", path("s.h5"), "--batch", "64", "--epochs", "2", "--shuffle-buffer", "100",
                         "--threads", "2", "--memory-budget", "64M"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("1000 images in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("images/s"), std::string::npos);
  EXPECT_NE(r.out.find("MB/s"), std::string::npos);
  EXPECT_NE(r.out.find("hdf5"), std::string::npos);
  EXPECT_NE(r.out.find("bottleneck: "), std::string::npos);
  EXPECT_NE(r.out.find("peak memory: pipeline"), std::string::npos);
}

TEST_F(Bench, ImageFolderDecodesAndResizes) {
  ASSERT_EQ(run_cli({"make-dataset", path("jpg"), "--n", "60", "--test-n", "0", "--size", "24", "--classes", "3"}).rc, 0);
  CliResult r = run_cli({"bench", "--data", path("jpg/train"), "--size", "16x12", "--batch", "16", "--limit", "50"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("decoded to 16x12x3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("50 images in"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("decode_jpeg"), std::string::npos) << r.out;
}

TEST_F(Bench, BadFlagValues) {
  CliResult r = run_cli({"bench", "--data", path("s.h5"), "--batch", "zero"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--batch expects an integer, got 'zero'"), std::string::npos) << r.err;
  r = run_cli({"bench", "--data", path("s.h5"), "--memory-budget", "lots"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--memory-budget expects a size"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stoker::cli::testing
