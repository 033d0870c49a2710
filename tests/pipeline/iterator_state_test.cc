// Iterator::save() / Dataset::iterator(options, state): for every stage the CLI and the C++ API
// offer (shuffle, random map, filter, batch, padded_batch, prefetch, repeat, take, skip, shard,
// cache), an iterator restored from state saved after k elements yields exactly elements k.. of
// an uninterrupted run, with another thread count too; a pipeline with a stage that cannot be
// restored is refused at save() naming the stage; foreign or corrupt state is refused.
#include "pipeline/iterator_state.h"

#include <gtest/gtest.h>

#include <functional>

#include "pipeline/dataset.h"
#include "pipeline/error.h"
#include "tests/pipeline/test_util.h"

namespace stoker::testing {
namespace {

// x -> x * 1000 + a random draw keyed by (seed, epoch, index): order and augmentation both show.
Dataset augmented(Dataset d) {
  return d.map([](Element e, Rng& rng) {
    const std::int64_t x = e[0].data_as<std::int64_t>()[0];
    return Element{Tensor::scalar<std::int64_t>(x * 1000 + static_cast<std::int64_t>(rng.uniform_int(1000)))};
  });
}

struct Case {
  const char* name;
  std::function<Dataset()> make;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"shuffle", [] { return Dataset::range(50).shuffle(16); }},
      {"map random", [] { return augmented(Dataset::range(40)); }},
      {"shuffle map batch prefetch", [] { return augmented(Dataset::range(103).shuffle(30)).batch(8).prefetch(2); }},
      {"shuffle repeat (reshuffles each epoch)", [] { return Dataset::range(20).shuffle(20).repeat(3); }},
      {"repeat shuffle (mixes across epochs)", [] { return Dataset::range(20).repeat(3).shuffle(25); }},
      {"filter take skip", [] {
         return Dataset::range(100).filter([](const Element& e) { return e[0].data_as<std::int64_t>()[0] % 3 != 0; }).skip(5).take(40);
       }},
      {"shard shuffle", [] { return Dataset::range(90).shard(3, 1).shuffle(10); }},
      {"cache shuffle repeat", [] { return augmented(Dataset::range(30)).cache().shuffle(30).repeat(2); }},
      {"padded batch", [] { return Dataset::range(21).shuffle(7).padded_batch(4); }},
      {"empty", [] { return Dataset::range(0).shuffle(4).batch(2); }},
  };
  return all;
}

std::vector<Values> all_of(Iterator& it) {
  std::vector<Values> out;
  while (auto e = it.next()) out.push_back(flatten(*e));
  return out;
}

TEST(IteratorState, RestoredIteratorsContinueExactlyForEveryStage) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Dataset ds = c.make();
    Iterator full_it = ds.iterator({.num_threads = 2, .seed = 42});
    const std::vector<Values> full = all_of(full_it);
    for (std::size_t k : {std::size_t{0}, std::size_t{1}, full.size() / 2, full.size()}) {
      if (k > full.size()) continue;
      std::string state;
      {
        Iterator it = ds.iterator({.num_threads = 2, .seed = 42});
        for (std::size_t i = 0; i < k; ++i) ASSERT_TRUE(it.next());
        EXPECT_EQ(it.position(), k);
        state = it.save();
      }  // destroyed mid-run, as a killed process would be
      EXPECT_EQ(state.size(), kIteratorStateBytes);
      for (int threads : {1, 3}) {
        Iterator resumed = ds.iterator({.num_threads = threads, .seed = 42}, state);
        const std::vector<Values> rest = all_of(resumed);
        EXPECT_EQ(rest, std::vector<Values>(full.begin() + static_cast<std::ptrdiff_t>(k), full.end()))
            << "k=" << k << " threads=" << threads;
      }
    }
  }
}

TEST(IteratorState, ErrorsKeepTheirPlaceInTheSequence) {
  // Element 7 fails in every run: it is delivered as an error before and after the restore.
  const Dataset ds = Dataset::range(12).map([](Element e) {
    if (e[0].data_as<std::int64_t>()[0] == 7) throw Error(ErrorCode::kDataLoss, "bad record 7");
    return e;
  });
  Iterator it = ds.iterator({.num_threads = 2});
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(it.next());
  EXPECT_THROW(it.next(), Error);
  ASSERT_TRUE(it.next());  // 8
  const std::string state = it.save();
  Iterator resumed = ds.iterator({.num_threads = 1}, state);
  EXPECT_EQ(all_of(resumed), (std::vector<Values>{{9}, {10}, {11}}));
}

TEST(IteratorState, StagesThatCannotBeRestoredAreNamedAtSave) {
  Iterator gen = ints(10).shuffle(4).iterator();
  gen.next();
  try {
    (void)gen.save();
    ADD_FAILURE() << "saved a pipeline with a user generator";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnsupported);
    EXPECT_NE(std::string(e.what()).find("stage 'generator': a user generator"), std::string::npos) << e.what();
  }
  Iterator unordered = Dataset::range(10).map([](Element e) { return e; }, {.deterministic = false, .name = "resize"}).iterator();
  try {
    (void)unordered.save();
    ADD_FAILURE() << "saved a map with deterministic=false";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stage 'resize': it runs with deterministic=false"), std::string::npos) << e.what();
  }
}

TEST(IteratorState, ForeignOrCorruptStateIsRefused) {
  const Dataset ds = Dataset::range(10).shuffle(5);
  Iterator it = ds.iterator({.seed = 3});
  it.next();
  const std::string state = it.save();
  EXPECT_THROW(ds.iterator({.seed = 4}, state), Error);                         // another seed
  EXPECT_THROW(Dataset::range(10).batch(2).iterator({.seed = 3}, state), Error);  // another pipeline
  EXPECT_THROW(ds.iterator({.seed = 3}, state.substr(0, 20)), Error);            // truncated
  std::string far = state;
  far[8] = 100;  // position 100 of a 10-element pipeline
  try {
    ds.iterator({.seed = 3}, far);
    ADD_FAILURE() << "restored past the end";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("ends after 10"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stoker::testing
