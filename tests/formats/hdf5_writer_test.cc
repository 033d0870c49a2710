// Hdf5Writer (blocked appends, groups, vlen bytes, option checks) and hdf5_describe.
#include <gtest/gtest.h>

#include "formats/hdf5_source.h"
#include "formats/hdf5_writer.h"
#include "tests/formats/hdf5_test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::make_rows;
using testing::row_of;
using testing::TempDir;

TEST(Hdf5Writer, AppendingInBlocksEqualsOneWrite) {
  TempDir dir;
  Tensor all = make_rows<float>(101, Shape{2, 3}, [](std::int64_t i) { return i * 0.5f; });
  std::string a = dir.file("a.h5"), b = dir.file("b.h5");
  {
    Hdf5Writer w(a);
    w.write("x", all, {.chunk_rows = 8, .deflate_level = 2, .shuffle = true});
  }
  {
    Hdf5Writer w(b);
    w.create("x", DType::kF32, {2, 3}, {.chunk_rows = 8});
    for (std::int64_t lo = 0; lo < 101; lo += 13) {
      std::int64_t n = std::min<std::int64_t>(13, 101 - lo);
      Tensor part(DType::kF32, Shape{n, 2, 3});
      std::memcpy(part.mutable_data(), all.data() + lo * 24, part.nbytes());
      w.append("x", part);
      EXPECT_EQ(w.rows("x"), lo + n);
    }
    w.close();
    w.close();  // idempotent
  }
  auto x = collect(hdf5(a, {"x"})), y = collect(hdf5(b, {"x"}));
  ASSERT_EQ(x.size(), 101u);
  EXPECT_EQ(x, y);
  EXPECT_EQ(x[100][0], row_of(all, 100));
}

TEST(Hdf5Writer, SpanAppendAndScalarRows) {
  TempDir dir;
  std::string path = dir.file("s.h5");
  {
    Hdf5Writer w(path);
    w.create("/labels/fine", DType::kI32, {});
    std::vector<std::int32_t> v{5, 6, 7};
    w.append<std::int32_t>("/labels/fine", v);
    w.append<std::int32_t>("labels/fine", v);
  }
  auto rows = collect(hdf5(path, {"/labels/fine"}));
  ASSERT_EQ(rows.size(), 6u);
  EXPECT_EQ(rows[4][0].item<std::int32_t>(), 6);
}

TEST(Hdf5Writer, RejectsMismatchedRowsWithClearErrors) {
  TempDir dir;
  Hdf5Writer w(dir.file("r.h5"));
  w.create("x", DType::kU8, {4});
  w.create_bytes("b");
  auto code = [](auto f) {
    try {
      f();
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code([&] { w.append("x", Tensor(DType::kU8, Shape{2, 5})); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([&] { w.append("x", Tensor(DType::kI8, Shape{2, 4})); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([&] { w.append("nope", Tensor(DType::kU8, Shape{2, 4})); }), ErrorCode::kNotFound);
  EXPECT_EQ(code([&] { w.create("x", DType::kU8, {4}); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([&] { w.create("h", DType::kF16, {4}); }), ErrorCode::kUnsupported);
  EXPECT_EQ(code([&] { w.append("b", Tensor(DType::kU8, Shape{1, 4})); }), ErrorCode::kInvalidArgument);
  std::vector<std::uint8_t> bytes{1, 2};
  EXPECT_EQ(code([&] { w.append_bytes("x", std::span<const std::uint8_t>(bytes)); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([&] { Hdf5Writer(dir.file("no/such/dir/f.h5")); }), ErrorCode::kIo);
}

TEST(Hdf5Writer, DescribeListsDatasetsShapesChunksAndFilters) {
  TempDir dir;
  std::string path = dir.file("d.h5");
  {
    Hdf5Writer w(path);
    w.write("/train/images", make_rows<std::uint8_t>(30, Shape{8, 8, 3}, [](std::int64_t i) { return i; }),
            {.chunk_rows = 16, .deflate_level = 4, .shuffle = true});
    w.write("/train/labels", make_rows<std::int64_t>(30, Shape{}, [](std::int64_t i) { return i; }));
    w.create_bytes("/train/jpeg");
    w.append_bytes("/train/jpeg", std::span<const std::uint8_t>(std::vector<std::uint8_t>{1, 2, 3}));
  }
  Hdf5FileInfo info = hdf5_describe(path);
  ASSERT_EQ(info.datasets.size(), 3u);
  const Hdf5DatasetInfo& img = info.datasets[0];
  EXPECT_EQ(img.name, "/train/images");
  EXPECT_EQ(img.dtype, "uint8");
  EXPECT_EQ(img.stoker_dtype, DType::kU8);
  EXPECT_EQ(img.shape, (std::vector<std::int64_t>{30, 8, 8, 3}));
  EXPECT_EQ(img.chunk, (std::vector<std::int64_t>{16, 8, 8, 3}));
  EXPECT_EQ(img.layout, "chunked");
  ASSERT_EQ(img.filters.size(), 2u);
  EXPECT_EQ(img.filters[0].name, "shuffle");
  EXPECT_EQ(img.filters[1].name, "deflate");
  EXPECT_EQ(img.filters[1].values.at(0), 4u);
  EXPECT_GT(img.storage_bytes, 0u);
  EXPECT_EQ(info.datasets[1].name, "/train/jpeg");
  EXPECT_TRUE(info.datasets[1].vlen_bytes);
  EXPECT_EQ(info.datasets[1].shape, (std::vector<std::int64_t>{1}));
  EXPECT_EQ(info.datasets[2].dtype, "int64");
  std::string text = info.to_string();
  EXPECT_NE(text.find("/train/images  uint8  [30,8,8,3]  chunked chunk [16,8,8,3] shuffle deflate(4)"),
            std::string::npos)
      << text;
  EXPECT_THROW(hdf5_describe(dir.file("missing.h5")), Error);
}

}  // namespace
}  // namespace stoker
