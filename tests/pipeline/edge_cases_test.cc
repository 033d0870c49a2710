// Every stage through one shared table of edge cases: empty input, one element, a size that is
// not a multiple of the batch, an error in the middle, destroyed early, restarted. Each stage
// comes with a reference model of its output on plain vectors.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>

#include "tests/pipeline/test_util.h"

namespace stoker {
namespace {

using testing::collect;
using testing::ints;
using testing::Values;

struct StageCase {
  std::string name;
  std::function<Dataset(Dataset, const std::string& tmp)> apply;
  std::function<std::vector<Values>(const Values&)> reference;
  bool ordered = true;         // false: compare as multisets
  bool reads_to_end = true;    // false: may stop before a failure in the middle
};

std::vector<Values> one_per_element(const Values& in, const std::function<std::int64_t(std::int64_t)>& f) {
  std::vector<Values> out;
  for (std::int64_t v : in) out.push_back({f(v)});
  return out;
}

std::vector<Values> batches(const Values& in, std::size_t n, bool drop) {
  std::vector<Values> out;
  for (std::size_t i = 0; i < in.size(); i += n) {
    Values b(in.begin() + static_cast<std::ptrdiff_t>(i), in.begin() + static_cast<std::ptrdiff_t>(std::min(in.size(), i + n)));
    if (b.size() < n && drop) break;
    out.push_back(b);
  }
  return out;
}

std::vector<StageCase> stage_cases() {
  auto id = [](std::int64_t v) { return v; };
  return {
      {"map", [](Dataset d, auto&) { return d.map([](Element e) { return Element{Tensor::scalar<std::int64_t>(e[0].item<std::int64_t>() * 3 + 1)}; }); },
       [](const Values& in) { return one_per_element(in, [](std::int64_t v) { return v * 3 + 1; }); }},
      {"map_unordered",
       [](Dataset d, auto&) { return d.map([](Element e) { return e; }, {.deterministic = false}); },
       [id](const Values& in) { return one_per_element(in, id); }, false},
      {"filter", [](Dataset d, auto&) { return d.filter([](const Element& e) { return e[0].item<std::int64_t>() % 2 == 0; }); },
       [](const Values& in) {
         std::vector<Values> out;
         for (std::int64_t v : in) if (v % 2 == 0) out.push_back({v});
         return out;
       }},
      {"shuffle", [](Dataset d, auto&) { return d.shuffle(4, 7); }, [id](const Values& in) { return one_per_element(in, id); }, false},
      {"cache_memory", [](Dataset d, auto&) { return d.cache(); }, [id](const Values& in) { return one_per_element(in, id); }},
      {"cache_file", [](Dataset d, const std::string& tmp) { return d.cache(tmp + "/cache.bin"); },
       [id](const Values& in) { return one_per_element(in, id); }},
      {"batch", [](Dataset d, auto&) { return d.batch(4); }, [](const Values& in) { return batches(in, 4, false); }},
      {"batch_drop", [](Dataset d, auto&) { return d.batch(4, true); }, [](const Values& in) { return batches(in, 4, true); }},
      {"padded_batch", [](Dataset d, auto&) { return d.padded_batch(4); }, [](const Values& in) { return batches(in, 4, false); }},
      {"prefetch", [](Dataset d, auto&) { return d.prefetch(2); }, [id](const Values& in) { return one_per_element(in, id); }},
      {"prefetch_auto", [](Dataset d, auto&) { return d.prefetch(kAutotune); }, [id](const Values& in) { return one_per_element(in, id); }},
      {"repeat", [](Dataset d, auto&) { return d.repeat(2); },
       [id](const Values& in) {
         auto once = one_per_element(in, id);
         auto out = once;
         out.insert(out.end(), once.begin(), once.end());
         return out;
       }},
      {"take", [](Dataset d, auto&) { return d.take(3); },
       [id](const Values& in) { return one_per_element(Values(in.begin(), in.begin() + std::min<std::ptrdiff_t>(3, std::ssize(in))), id); },
       true, false},
      {"skip", [](Dataset d, auto&) { return d.skip(3); },
       [id](const Values& in) { return one_per_element(Values(in.begin() + std::min<std::ptrdiff_t>(3, std::ssize(in)), in.end()), id); }},
      {"shard", [](Dataset d, auto&) { return d.shard(3, 1); },
       [](const Values& in) {
         std::vector<Values> out;
         for (std::size_t i = 1; i < in.size(); i += 3) out.push_back({in[i]});
         return out;
       }},
      // Equal shards keep an element only when its whole group of 3 exists (dataset.h).
      {"shard_equal_1", [](Dataset d, auto&) { return d.shard(3, 1, true); },
       [](const Values& in) {
         std::vector<Values> out;
         for (std::size_t g = 0; g + 3 <= in.size(); g += 3) out.push_back({in[g + 1]});
         return out;
       }},
      {"shard_equal_2", [](Dataset d, auto&) { return d.shard(3, 2, true); },
       [](const Values& in) {
         std::vector<Values> out;
         for (std::size_t g = 0; g + 3 <= in.size(); g += 3) out.push_back({in[g + 2]});
         return out;
       }},
  };
}

struct Param {
  StageCase stage;
  int threads;
};
void PrintTo(const Param& p, std::ostream* os) { *os << p.stage.name << " on " << p.threads << " threads"; }

class StageEdgeCases : public ::testing::TestWithParam<Param> {
 protected:
  void SetUp() override {
    tmp_ = std::filesystem::temp_directory_path() /
           ("stoker_edge_" + GetParam().stage.name + "_" + std::to_string(GetParam().threads) + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(tmp_);
    std::filesystem::create_directories(tmp_);
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }

  Dataset build(std::int64_t n, std::int64_t fail_at = -1) const {
    return GetParam().stage.apply(ints(n, fail_at), tmp_.string());
  }
  Options options() const { return {.num_threads = GetParam().threads, .seed = 11}; }

  void expect_matches(std::vector<Values> got, std::vector<Values> want) const {
    if (!GetParam().stage.ordered) {
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
    }
    EXPECT_EQ(got, want);
  }

  static Values iota(std::int64_t n) {
    Values v(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
    return v;
  }

  std::filesystem::path tmp_;
};

TEST_P(StageEdgeCases, EmptyInput) {
  auto r = collect(build(0), options());
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.out.empty());
}

TEST_P(StageEdgeCases, OneElement) {
  auto r = collect(build(1), options());
  EXPECT_FALSE(r.error);
  expect_matches(r.out, GetParam().stage.reference(iota(1)));
}

TEST_P(StageEdgeCases, SizeNotAMultipleOfTheBatch) {
  auto r = collect(build(10), options());
  EXPECT_FALSE(r.error);
  expect_matches(r.out, GetParam().stage.reference(iota(10)));
}

TEST_P(StageEdgeCases, ErrorInTheMiddle) {
  // The source yields 0..4, fails reading element 5, then ends.
  auto r = collect(build(10, 5), options());
  if (GetParam().stage.reads_to_end) {
    ASSERT_TRUE(r.error);
    EXPECT_EQ(r.error->code(), ErrorCode::kDataLoss);
    EXPECT_EQ(r.error->context().record, 5);
    EXPECT_NE(std::string(r.error->what()).find("injected failure"), std::string::npos);
  } else {
    EXPECT_FALSE(r.error);
  }
  // Nothing before the failure is lost.
  expect_matches(r.out, GetParam().stage.reference(iota(5)));
}

TEST_P(StageEdgeCases, DestroyedEarly) {
  auto start = std::chrono::steady_clock::now();
  {
    Iterator it = build(1000).iterator(options());
    auto r = collect(it, 2);
    EXPECT_FALSE(r.error);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // No partial cache file survives an early stop.
  for (const auto& f : std::filesystem::directory_iterator(tmp_)) ADD_FAILURE() << "left behind: " << f.path();
}

TEST_P(StageEdgeCases, Restarted) {
  Dataset ds = build(10);
  {
    Iterator first = ds.iterator(options());
    collect(first, 3);
  }
  auto again = collect(ds, options());
  auto fresh = collect(build(10), options());
  EXPECT_FALSE(again.error);
  // Same seed: same order, even for shuffle (only unordered map may differ run to run).
  if (GetParam().stage.ordered || GetParam().stage.name == "shuffle") EXPECT_EQ(again.out, fresh.out);
  expect_matches(again.out, GetParam().stage.reference(iota(10)));
}

std::vector<Param> params() {
  std::vector<Param> ps;
  for (const StageCase& c : stage_cases()) {
    for (int t : {1, 3}) ps.push_back({c, t});
  }
  return ps;
}

INSTANTIATE_TEST_SUITE_P(AllStages, StageEdgeCases, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& p) {
                           return p.param.stage.name + "_threads" + std::to_string(p.param.threads);
                         });

}  // namespace
}  // namespace stoker
