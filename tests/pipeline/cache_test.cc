// cache(path): later passes and later runs read the file; an interrupted or failed first pass
// never leaves a file that is trusted; corrupt files give DataLoss naming file and record.
#include <atomic>
#include <filesystem>
#include <fstream>

#include "tests/pipeline/fault_util.h"
#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

namespace fs = std::filesystem;
using testing::collect;
using testing::concat;
using testing::FileSizeLimit;
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

  std::string path_of_test() const { return path_; }
  static std::string testing_read(const std::string& p) { return testing::file_bytes(p); }

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
    // Flip one byte of float payload in the middle of the file: every field still parses, so only
    // the record's CRC-32 can tell.
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(fs::file_size(path_) / 2);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(at);
    f.write(&c, 1);
  }
  auto r = collect(counted(30, calls).cache(path_));
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->code(), ErrorCode::kDataLoss);
  EXPECT_EQ(r.error->context().source, path_);
  ASSERT_TRUE(r.error->context().record);
  EXPECT_GT(*r.error->context().record, 0);
  EXPECT_LT(*r.error->context().record, 30);
  EXPECT_NE(std::string(r.error->what()).find("CRC"), std::string::npos) << r.error->what();
}

TEST_F(CacheFile, ForeignFileAtThePathIsRefusedClearly) {
  const std::string foreign = "not a cache file, but long enough to have a header and a footer";
  { std::ofstream(path_) << foreign; }
  auto calls = std::make_shared<std::atomic<int>>(0);
  try {
    collect(counted(5, calls).cache(path_));
    FAIL() << "a foreign file was replaced";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(e.context().source, path_);
    EXPECT_NE(std::string(e.what()).find("not a stoker cache"), std::string::npos) << e.what();
  }
  EXPECT_EQ(testing_read(path_), foreign) << "left as it was";
  EXPECT_EQ(files_in_dir(), 1u);
  EXPECT_THROW(Dataset::range(3).cache(""), Error);
}

// A cache made from other input or other parameters is rebuilt, not replayed.
TEST_F(CacheFile, ACacheOfOtherInputIsRebuilt) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto make = [this, calls](std::int64_t n, std::int64_t batch) {
    return Dataset::range(n)
        .map([calls](Element e) {
          calls->fetch_add(1);
          return e;
        })
        .batch(batch)
        .cache(path_of_test());
  };
  EXPECT_EQ(collect(make(30, 10)).out.size(), 3u);
  EXPECT_EQ(collect(make(30, 10)).out.size(), 3u);
  EXPECT_EQ(calls->load(), 30) << "same input: replayed";
  auto other = collect(make(40, 10));
  EXPECT_EQ(other.out.size(), 4u) << "range(40) is not range(30)";
  auto rebatched = collect(make(40, 5));
  EXPECT_EQ(rebatched.out.size(), 8u) << "batch(5) is not batch(10)";
  EXPECT_EQ(calls->load(), 30 + 40 + 40);
  EXPECT_EQ(files_in_dir(), 1u);
}

// shard(n, i, equal) keeps other elements than shard(n, i): its cache is another cache.
TEST_F(CacheFile, AnEqualShardIsNotTheUnequalShardsCache) {
  // A generator (unknown size) so both take the row-wise stage: 7 elements, shard 0 of 2.
  auto make = [this](bool equal) { return testing::ints(7).shard(2, 0, equal).cache(path_of_test()); };
  EXPECT_EQ(collect(make(false)).out.size(), 4u);  // 0 2 4 6
  EXPECT_EQ(collect(make(true)).out.size(), 3u) << "equal: 0 2 4 (6's group is incomplete)";
  EXPECT_EQ(collect(make(false)).out.size(), 4u);
}

// Under ErrorPolicy::kSkip a bad element is dropped and the pass goes on: such a pass lacks
// elements and must not become the cache.
TEST_F(CacheFile, APassWithSkippedElementsIsNotPublished) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  Dataset ds = Dataset::range(20)
                   .map([calls](Element e) {
                     calls->fetch_add(1);
                     if (e[0].item<std::int64_t>() == 7) throw Error(ErrorCode::kDataLoss, "bad element 7");
                     return e;
                   })
                   .cache(path_);
  Options skip;
  skip.error_policy = ErrorPolicy::kSkip;
  auto r = collect(ds, skip);
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.out.size(), 19u);
  EXPECT_FALSE(fs::exists(path_)) << "published a cache missing element 7";
  EXPECT_EQ(files_in_dir(), 0u);
  // Same for the in-memory cache: epoch 2 runs the input again.
  calls->store(0);
  auto mem = collect(Dataset::range(20)
                         .map([calls](Element e) {
                           calls->fetch_add(1);
                           if (e[0].item<std::int64_t>() == 7) throw Error(ErrorCode::kDataLoss, "bad element 7");
                           return e;
                         })
                         .cache()
                         .repeat(2),
                     skip);
  EXPECT_EQ(mem.out.size(), 38u);
  EXPECT_EQ(calls->load(), 40);
}

// A full disk (here: RLIMIT_FSIZE, which fails write() with EFBIG once SIGXFSZ is ignored) while
// rebuilding a cache: a clear kIo error, the old file byte-identical, no temporary left, and no
// later finish() publishes the torn data.
TEST_F(CacheFile, AWriteErrorLeavesTheOldFileAndIsSticky) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto input = [calls](std::int64_t n) {
    return Dataset::range(n).map([calls](Element e) {
      calls->fetch_add(1);
      return Element{e[0], Tensor(DType::kF32, Shape{1024})};  // 4 KiB per record
    });
  };
  collect(input(10).cache(path_));
  const std::string old = testing_read(path_);
  ASSERT_GT(old.size(), 40000u);
  {
    FileSizeLimit limit(16 << 10);  // the rebuild (other input: 100 records) needs 400 KiB
    Iterator it = input(100).cache(path_).iterator();
    std::optional<Error> first;
    std::size_t delivered = 0;
    for (;;) {  // continue after the error, to the end of the input
      try {
        if (!it.next()) break;
        ++delivered;
      } catch (const Error& e) {
        if (!first) first = e;
      }
    }
    ASSERT_TRUE(first);
    EXPECT_EQ(first->code(), ErrorCode::kIo);
    EXPECT_EQ(first->context().source, path_);
    EXPECT_NE(std::string(first->what()).find("File too large"), std::string::npos) << first->what();
    EXPECT_GT(delivered, 90u) << "elements after the failed write still flow";
  }
  EXPECT_EQ(testing_read(path_), old) << "the old cache was touched";
  EXPECT_EQ(files_in_dir(), 1u) << "a temporary file was left behind";
}

}  // namespace
}  // namespace stoker
