// image_folder / files sources and read_file, and decode_jpeg inside a running pipeline: errors
// name the file and the record, kSkip drops exactly the bad files, any thread count gives the
// same batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "formats/file_source.h"
#include "formats/jpeg_decode.h"
#include "tests/formats/jpeg_test_util.h"

namespace stoker {
namespace {

using namespace stoker::testing;

std::vector<Element> drain(const Dataset& ds, Options o = {}) {
  auto it = ds.iterator(o);
  std::vector<Element> out;
  while (auto e = it.next()) out.push_back(std::move(*e));
  return out;
}

TEST(ImageFolder, ListsClassesSortedWithLabelsAndExtensionFilter) {
  TempDir dir;
  auto jpeg = make_jpeg(8, 8);
  write_bytes(dir / "zebra/b.JPG", jpeg);
  write_bytes(dir / "zebra/a.jpeg", jpeg);
  write_bytes(dir / "ant/x.jpg", jpeg);
  write_bytes(dir / "ant/sub/y.Jpg", jpeg);
  write_bytes(dir / "ant/notes.txt", {1, 2, 3});
  write_bytes(dir / "stray.jpg", jpeg);  // not in a class folder: ignored
  std::filesystem::create_directories(dir.path() / "empty_class");

  ImageFolderListing l = list_image_folder(dir.path().string());
  EXPECT_EQ(l.classes, (std::vector<std::string>{"ant", "empty_class", "zebra"}));
  EXPECT_EQ(l.paths, (std::vector<std::string>{dir / "ant/sub/y.Jpg", dir / "ant/x.jpg", dir / "zebra/a.jpeg",
                                               dir / "zebra/b.JPG"}));
  EXPECT_EQ(l.labels, (std::vector<std::int32_t>{0, 0, 2, 2}));

  EXPECT_EQ(list_image_folder(dir.path().string(), {.recursive = false}).paths.size(), 3u);
  EXPECT_EQ(list_image_folder(dir.path().string(), {.extensions = {"TXT"}}).paths,
            (std::vector<std::string>{dir / "ant/notes.txt"}));
  EXPECT_EQ(list_image_folder(dir.path().string(), {.extensions = {}}).paths.size(), 5u);

  auto elems = drain(image_folder(dir.path().string()));
  ASSERT_EQ(elems.size(), 4u);
  EXPECT_EQ(tensor_path(elems[2][0]), dir / "zebra/a.jpeg");
  EXPECT_EQ(elems[2][0].dtype(), DType::kI8);
  EXPECT_EQ(elems[2][1].item<std::int32_t>(), 2);
  EXPECT_EQ(image_folder(dir.path().string()).cardinality(), 4);
}

TEST(ImageFolder, MissingOrEmptyRootIsAClearError) {
  TempDir dir;
  auto code_of = [](const std::string& root) {
    try {
      image_folder(root);
    } catch (const Error& e) {
      EXPECT_EQ(e.context().source, root);
      return e.code();
    }
    ADD_FAILURE() << "no error for " << root;
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code_of(dir / "nope"), ErrorCode::kNotFound);
  EXPECT_EQ(code_of(dir.path().string()), ErrorCode::kInvalidArgument);  // no class folders
  std::filesystem::create_directories(dir.path() / "cls");
  write_bytes(dir / "cls/readme.txt", {1});
  EXPECT_EQ(code_of(dir.path().string()), ErrorCode::kInvalidArgument);  // no images
  write_bytes(dir / "file.jpg", {1});
  EXPECT_EQ(code_of(dir / "file.jpg"), ErrorCode::kInvalidArgument);  // not a directory
}

TEST(Files, YieldsPathsAndLabelsInOrderAndShardsAtTheSource) {
  std::vector<std::string> paths = {"a", "b", "c", "d", "e"};
  auto ds = files(paths, {0, 1, 2, 3, 4});
  EXPECT_EQ(ds.cardinality(), 5);
  auto shard = drain(ds.shard(2, 1));
  ASSERT_EQ(shard.size(), 2u);
  EXPECT_EQ(tensor_path(shard[0][0]), "b");
  EXPECT_EQ(shard[1][1].item<std::int32_t>(), 3);
  EXPECT_EQ(ds.shard(2, 0).cardinality(), 3);
  EXPECT_EQ(drain(files({}, {})).size(), 0u);
  EXPECT_THROW(files({"a"}, {}), Error);
}

TEST(Files, ReadFileReturnsTheBytesAndNamesMissingFiles) {
  TempDir dir;
  write_bytes(dir / "x.bin", {1, 2, 3});
  write_bytes(dir / "empty.bin", {});
  auto got = drain(files({dir / "x.bin", dir / "empty.bin"}, {7, 8}).map(read_file()));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0][0], (Tensor::from_values<std::uint8_t>(Shape{3}, {1, 2, 3})));
  EXPECT_EQ(got[0][1].item<std::int32_t>(), 7);
  EXPECT_EQ(got[1][0].shape(), Shape{0});
  auto it = files({dir / "gone.bin"}, {0}).map(read_file()).iterator();
  try {
    it.next();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
    EXPECT_EQ(e.context().source, dir / "gone.bin");
  }
}

// A folder of 2 classes x 4 valid JPEGs of different sizes, plus the bad files asked for.
struct Folder {
  TempDir dir;
  std::vector<std::string> good;
  explicit Folder(bool with_bad) {
    for (int i = 0; i < 8; ++i) {
      std::string p = dir / ((i < 4 ? "cat/" : "dog/") + std::to_string(i) + ".jpg");
      write_bytes(p, make_jpeg(30 + 3 * i, 40 + 5 * i, 3, {.progressive = i % 3 == 0}, i));
      good.push_back(p);
    }
    if (with_bad) {
      auto j = make_jpeg(30, 40);
      write_bytes(dir / "cat/2_truncated.jpg", std::vector<std::uint8_t>(j.begin(), j.begin() + long(j.size() / 2)));
      write_bytes(dir / "dog/5_png.jpg", tiny_png());
      write_bytes(dir / "dog/6_empty.jpg", {});
    }
  }
};

TEST(JpegPipeline, ErrorsNameTheFileAndTheRecord) {
  Folder f(true);
  auto ds = image_folder(f.dir.path().string()).map(decode_jpeg());
  auto it = ds.iterator({.num_threads = 2});
  std::vector<std::string> bad;
  std::int64_t record = 0;
  for (;; ++record) {
    try {
      if (!it.next()) break;
    } catch (const Error& e) {
      EXPECT_EQ(e.context().record, record) << e.what();
      EXPECT_EQ(e.context().stage, "decode_jpeg");
      bad.push_back(std::filesystem::path(e.context().source).filename().string());
    }
  }
  EXPECT_EQ(record, 11);
  EXPECT_EQ(bad, (std::vector<std::string>{"2_truncated.jpg", "5_png.jpg", "6_empty.jpg"}));
}

TEST(JpegPipeline, SkipPolicyDropsOnlyTheBadFiles) {
  Folder with_bad(true), clean(false);
  DecodeJpegOptions o{.height = 16, .width = 16, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  Options opts{.num_threads = 2, .seed = 5, .error_policy = ErrorPolicy::kSkip};
  auto it = image_folder(with_bad.dir.path().string()).map(decode_jpeg(o)).iterator(opts);
  std::vector<std::int32_t> labels;
  std::size_t n = 0;
  while (auto e = it.next()) {
    ASSERT_EQ((*e)[0].shape(), (Shape{16, 16, 3}));
    labels.push_back((*e)[1].item<std::int32_t>());
    ++n;
  }
  EXPECT_EQ(n, 8u);
  EXPECT_EQ(labels, (std::vector<std::int32_t>{0, 0, 0, 0, 1, 1, 1, 1}));
  EXPECT_EQ(it.stats().skipped, 3u);
  // Nothing else lost: the good images decode exactly as when decoded alone (same file, same
  // pixels; crops differ because indices shift, so compare unaugmented decodes).
  auto plain = drain(image_folder(with_bad.dir.path().string()).map(decode_jpeg()), opts);
  auto ref = drain(image_folder(clean.dir.path().string()).map(decode_jpeg()), opts);
  ASSERT_EQ(plain.size(), ref.size());
  for (std::size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(plain[i], ref[i]) << i;
}

TEST(JpegPipeline, SameBatchesForAnyThreadCount) {
  Folder f(false);
  DecodeJpegOptions o{.height = 20, .width = 20, .crop = CropMode::kRandomResized, .flip_probability = 0.5};
  auto ds = image_folder(f.dir.path().string()).shuffle(8).map(decode_jpeg(o)).batch(3);
  auto one = drain(ds, {.num_threads = 1, .seed = 11});
  ASSERT_EQ(one.size(), 3u);
  EXPECT_EQ(one[0][0].shape(), (Shape{3, 20, 20, 3}));
  for (int threads : {2, 4}) {
    auto many = drain(ds, {.num_threads = threads, .seed = 11});
    ASSERT_EQ(many.size(), one.size());
    for (std::size_t i = 0; i < one.size(); ++i) EXPECT_EQ(many[i], one[i]) << "threads " << threads << " batch " << i;
  }
  EXPECT_NE(drain(ds, {.num_threads = 2, .seed = 12})[0], one[0]);
}

TEST(JpegPipeline, DecodesBytesFromReadFileToo) {
  Folder f(false);
  auto via_bytes = drain(image_folder(f.dir.path().string()).map(read_file()).map(decode_jpeg()), {.num_threads = 2});
  auto via_path = drain(image_folder(f.dir.path().string()).map(decode_jpeg()), {.num_threads = 2});
  ASSERT_EQ(via_bytes.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) EXPECT_EQ(via_bytes[i], via_path[i]);
}

}  // namespace
}  // namespace stoker
