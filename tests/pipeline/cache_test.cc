// cache(path): later passes and later runs read the file; an interrupted or failed first pass
// never leaves a file that is trusted; corrupt files give DataLoss naming file and record.
#include <atomic>
#include <filesystem>
#include <fstream>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using testing::collect;
using testing::concat;
using testing::ints;
using testing::Values;

class CacheFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stoker_cache_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    path_ = (dir_ / "c.bin").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  Dataset counted(std::int64_t n, std::shared_ptr<std::atomic<int>> calls, std::int64_t fail_at = -1) const {
    return ints(n, fail_at).map([calls](Element e) {
      calls->fetch_add(1);
      Tensor img(DType::kF32, Shape{3, 2});
      for (int i = 0; i < 6; ++i) img.mutable_data_as<float>()[i] = static_cast<float>(e[0].item<std::int64_t>()) + 0.5f * i;
      return Element{e[0], img};
    });
  }
  std::size_t files_in_dir() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()));
  }

  fs::path dir_;
  std::string path_;
};

TEST_F(CacheFile, LaterEpochsAndLaterRunsReadTheFile) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  Dataset ds = counted(50, calls).cache(path_);
  auto first = collect(ds.repeat(3));
  EXPECT_EQ(first.out.size(), 150u);
  EXPECT_EQ(calls->load(), 50) << "epochs 2 and 3 read the cache file";
  EXPECT_TRUE(fs::exists(path_));
  // A later run (new iterator, same path) does not run the input at all, and sees equal data.
  std::vector<Element> a, b;
  {
    Iterator it = counted(50, calls).iterator();
    while (auto e = it.next()) a.push_back(*e);
  }
  calls->store(0);
  {
    Iterator it = ds.iterator();
    while (auto e = it.next()) b.push_back(*e);
  }
  EXPECT_EQ(calls->load(), 0);
  EXPECT_TRUE(a == b);
  EXPECT_EQ(files_in_dir(), 1u);
}

TEST_F(CacheFile, InterruptedFirstPassLeavesNothingTrusted) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  {
    Iterator it = counted(50, calls).cache(path_).iterator();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(it.next());
  }  // destroyed mid-pass
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_EQ(files_in_dir(), 0u) << "partial file removed";
  // take() stops the pass early too.
  collect(counted(50, calls).cache(path_).take(5));
  EXPECT_FALSE(fs::exists(path_));
  calls->store(0);
  auto full = collect(counted(50, calls).cache(path_));
  EXPECT_EQ(full.out.size(), 50u);
  EXPECT_EQ(calls->load(), 50);
  EXPECT_TRUE(fs::exists(path_));
}

TEST_F(CacheFile, AFirstPassThatSawAnErrorIsNotPublished) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto r = collect(counted(20, calls, /*fail_at=*/7).cache(path_));
  ASSERT_TRUE(r.error);
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_EQ(files_in_dir(), 0u);
  // Same for the in-memory cache: the second epoch re-reads the input (elements 0..6, then the
  // generator fails and ends again) instead of replaying a cache with a gap.
  calls->store(0);
  auto mem = collect(counted(20, calls, 7).cache().repeat(2));
  EXPECT_EQ(calls->load(), 14);
  EXPECT_EQ(mem.out.size(), 14u);
}

TEST_F(CacheFile, TruncatedFileIsNotTrustedAndIsRebuilt) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  collect(counted(30, calls).cache(path_));
  fs::resize_file(path_, fs::file_size(path_) - 5);  // loses the footer
  calls->store(0);
  auto again = collect(counted(30, calls).cache(path_));
  EXPECT_FALSE(again.error);
  EXPECT_EQ(again.out.size(), 30u);
  EXPECT_EQ(calls->load(), 30) << "rebuilt from the input";
}

TEST_F(CacheFile, CorruptRecordRaisesDataLossNamingFileAndRecord) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  collect(counted(30, calls).cache(path_));
  {
    // Record layout: u32 count, then u8 dtype, u8 rank, dims... Overwrite record 0's component
    // count with an absurd value.
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12);
    std::uint32_t bogus = 1000;
    f.write(reinterpret_cast<const char*>(&bogus), sizeof bogus);
  }
  auto r = collect(counted(30, calls).cache(path_));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::kDataLoss);
  EXPECT_EQ(r.error->context().source, path_);
  EXPECT_EQ(r.error->context().record, 0);
}

TEST_F(CacheFile, ForeignFileAtThePathIsRefusedClearly) {
  { std::ofstream(path_) << "not a cache file, but long enough to have a header and a footer"; }
  auto calls = std::make_shared<std::atomic<int>>(0);
  // Not a complete cache: treated as absent and replaced.
  auto r = collect(counted(5, calls).cache(path_));
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.out.size(), 5u);
  EXPECT_THROW(Dataset::range(3).cache(""), Error);
}

}  // namespace
}  // namespace stoker
