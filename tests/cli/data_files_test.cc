// --data naming many files: a glob over 100 HDF5 files trains as one dataset, @list.txt reads the
// listed files, inspect summarises a glob, a bad file is named, several image folders train as
// one; and the bad spellings of each are refused with a message.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "cli/data_files.h"
#include "cli/args.h"
#include "cli_test_util.h"
#include "formats/hdf5_writer.h"
#include "formats/jpeg_encode.h"

namespace stoker::cli::testing {
namespace {

using DataFiles = CliTest;

// File f: 8 rows of 8x8 uint8 images whose class (row % 4) lights one quadrant.
void write_part(const std::string& file, int f) {
  Tensor x(DType::kU8, Shape{8, 8, 8, 1});
  Tensor y(DType::kI32, Shape{8});
  for (int i = 0; i < 8; ++i) {
    const int c = (i + f) % 4;
    y.mutable_data_as<std::int32_t>()[i] = c;
    for (int r = 0; r < 8; ++r) {
      for (int k = 0; k < 8; ++k) {
        const bool on = (r < 4) == (c / 2 == 0) && (k < 4) == (c % 2 == 0);
        x.mutable_data_as<std::uint8_t>()[i * 64 + r * 8 + k] = static_cast<std::uint8_t>(on ? 220 : (i * 7 + k + f) % 30);
      }
    }
  }
  Hdf5Writer w(file);
  w.write("/train/images", x, {.chunk_rows = 4});
  w.write("/train/labels", y, {.chunk_rows = 4});
}

TEST_F(DataFiles, AGlobOfAHundredFilesTrainsAsOneDataset) {
  for (int f = 0; f < 100; ++f) {
    char name[32];
    std::snprintf(name, sizeof name, "train-%03d.h5", f);
    write_part(path(name), f);
  }
  const CliResult r = run_cli({"train", "--data", path("train-*.h5"), "--model", "flatten dense(4,softmax)", "--epochs", "3",
                               "--batch", "32", "--lr", "0.05", "--device", "cpu", "--threads", "2", "--progress", "line"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  EXPECT_NE(r.out.find("100 files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("800 rows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2400 samples"), std::string::npos) << r.out;  // 3 epochs x 800: every file read
  EXPECT_GT(number_after(r.out, "train accuracy "), 0.9) << r.out;

  // inspect over the same glob: one summary of all files.
  const CliResult s = run_cli({"inspect", path("train-*.h5")});
  ASSERT_EQ(s.rc, kExitOk) << s.err;
  EXPECT_NE(s.out.find("100 HDF5 files"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("[800,8,8,1] in 100 file(s)"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("trainable pair: --images /train/images --labels /train/labels (800 rows"), std::string::npos) << s.out;
}

TEST_F(DataFiles, AListFileNamesFilesRelativeToItself) {
  write_part(path("a.h5"), 0);
  write_part(path("b.h5"), 1);
  { std::ofstream(path("list.txt")) << "# training parts\na.h5\n\n" << path("b.h5") << "\n"; }
  EXPECT_EQ(expand_data_paths("@" + path("list.txt")), (std::vector<std::string>{path("a.h5"), path("b.h5")}));
  const CliResult r = run_cli({"train", "--data", "@" + path("list.txt"), "--model", "flatten dense(4,softmax)", "--batch", "4",
                               "--device", "cpu", "--threads", "1", "--progress", "line"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  EXPECT_NE(r.out.find("2 files"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("16 rows"), std::string::npos) << r.out;
}

TEST_F(DataFiles, ABadFileInTheGlobIsNamedAndBadSpellingsAreRefused) {
  write_part(path("p-0.h5"), 0);
  write_part(path("p-1.h5"), 1);
  { std::ofstream(path("p-2.h5")) << "not hdf5 at all"; }
  const CliResult r = run_cli({"train", "--data", path("p-*.h5"), "--model", "flatten dense(4,softmax)", "--batch", "4",
                               "--device", "cpu", "--threads", "1", "--progress", "line"});
  EXPECT_EQ(r.rc, kExitRuntimeError) << r.out << r.err;
  EXPECT_NE(r.err.find(path("p-2.h5")), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not an HDF5 file"), std::string::npos) << r.err;
  const CliResult s = run_cli({"inspect", path("p-*.h5")});
  EXPECT_EQ(s.rc, kExitOk);
  EXPECT_NE(s.out.find("unreadable: " + path("p-2.h5")), std::string::npos) << s.out;

  struct Bad {
    std::string data, message;
  };
  const Bad bad[] = {
      {path("nothing-*.h5"), "no file matches"},
      {"@" + path("missing.txt"), "cannot read the list file"},
      {"@" + path("empty.txt"), "names no files"},
      {path("p-0.h5") + "," + path("dir"), "mixes image folders and files"},
  };
  { std::ofstream(path("empty.txt")) << "# nothing\n\n"; }
  std::filesystem::create_directories(path("dir"));
  for (const Bad& b : bad) {
    const CliResult e = run_cli({"train", "--data", b.data, "--device", "cpu", "--progress", "line"});
    EXPECT_EQ(e.rc, kExitUsage) << b.data << ": " << e.err;
    EXPECT_NE(e.err.find(b.message), std::string::npos) << b.data << ": " << e.err;
  }
}

TEST_F(DataFiles, SeveralImageFoldersTrainAsOneWithClassesByName) {
  // part1/{a,b}, part2/{b,c}: classes a, b, c (b from both parts).
  const std::pair<const char*, const char*> files[] = {{"part1", "a"}, {"part1", "b"}, {"part2", "b"}, {"part2", "c"}};
  for (const auto& [part, cls] : files) {
    std::filesystem::create_directories(path(std::string(part) + "/" + cls));
    for (int i = 0; i < 3; ++i) {
      std::vector<std::uint8_t> px(8 * 8 * 3, static_cast<std::uint8_t>(cls[0] * 2 + i));
      const std::vector<std::uint8_t> jpg = encode_jpeg(px.data(), 8, 8, 3, {});
      std::ofstream(path(std::string(part) + "/" + cls + "/" + std::to_string(i) + ".jpg"), std::ios::binary)
          .write(reinterpret_cast<const char*>(jpg.data()), static_cast<std::streamsize>(jpg.size()));
    }
  }
  const CliResult r = run_cli({"train", "--data", path("part1") + "," + path("part2"), "--model", "flatten dense(3,softmax)",
                               "--batch", "4", "--device", "cpu", "--threads", "1", "--progress", "line"});
  ASSERT_EQ(r.rc, kExitOk) << r.out << r.err;
  EXPECT_NE(r.out.find("12 JPEGs in 3 classes"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace stoker::cli::testing
