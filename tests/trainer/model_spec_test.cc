// ModelSpec: parsing, presets, shapes, parameters and Keras-style initialisation.
#include "trainer/model_spec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "pipeline/error.h"

namespace stoker {
namespace {

std::int64_t count(const std::vector<ParamInfo>& ps) {
  std::int64_t n = 0;
  for (const auto& p : ps) n += p.size;
  return n;
}

TEST(ModelSpec, SeedPresetShapesMatchKeras) {
  ModelSpec m = ModelSpec::preset("seed", 10);
  auto sh = m.shapes({28, 28, 1});
  ASSERT_EQ(sh.size(), 4u);
  EXPECT_EQ(sh[0].out, (Hwc{26, 26, 32}));
  EXPECT_EQ(sh[1].out, (Hwc{13, 13, 32}));
  EXPECT_EQ(sh[2].out, (Hwc{1, 1, 5408}));
  EXPECT_EQ(sh[3].out, (Hwc{1, 1, 10}));
  EXPECT_EQ(count(m.params({28, 28, 1})), 320 + 54090);  // Keras model.summary()
}

TEST(ModelSpec, ConvnetPresetMatchesTheLayersTutorial) {
  ModelSpec m = ModelSpec::preset("convnet", 10);
  auto sh = m.shapes({28, 28, 1});
  EXPECT_EQ(sh[0].out, (Hwc{28, 28, 32}));
  EXPECT_EQ(sh[2].out, (Hwc{14, 14, 64}));
  EXPECT_EQ(sh[4].in, (Hwc{7, 7, 64}));
  EXPECT_EQ(sh[0].pad_top, 2);
  EXPECT_EQ(count(m.params({28, 28, 1})), 3274634);
}

TEST(ModelSpec, ParsesKeywordsAndRoundTrips) {
  ModelSpec m = ModelSpec::parse("conv2d(filters=8, kernel=3, stride=2, padding=same, activation=relu) relu "
                                 "maxpool(2,1) flatten dense(16,relu) dropout(0.25) dense(3) softmax");
  ASSERT_EQ(m.layers().size(), 7u);
  EXPECT_EQ(m.layers()[0].stride, 2);
  EXPECT_TRUE(m.layers()[0].same);
  EXPECT_EQ(m.layers()[2].stride, 1);
  EXPECT_FLOAT_EQ(m.layers()[5].rate, 0.25f);
  EXPECT_EQ(m.classes(), 3);
  ModelSpec again = ModelSpec::parse(m.to_string());
  EXPECT_EQ(again.to_string(), m.to_string());
  auto sh = m.shapes({9, 9, 2});
  EXPECT_EQ(sh[0].out, (Hwc{5, 5, 8}));
  EXPECT_EQ(sh[2].out, (Hwc{4, 4, 8}));
}

TEST(ModelSpec, BadSpecsNameTheToken) {
  for (const char* bad : {"conv2d(32) flatten dense(10)", "dense(10) relu", "flatten dense(10,softmax) dense(3)",
                          "conv2d(8,3) maxpool(2) dense(4)", "wobble dense(3)", "dropout(1.5) dense(2)", "dense(0)",
                          ""}) {
    try {
      ModelSpec m = ModelSpec::parse(bad);
      m.shapes({8, 8, 1});
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << bad;
    }
  }
  EXPECT_THROW(ModelSpec::preset("resnet"), Error);
  EXPECT_THROW(ModelSpec::parse("conv2d(4,5) flatten dense(2)").shapes({3, 3, 1}), Error);
}

TEST(ModelSpec, GlorotUniformIsSeededAndBounded) {
  ModelSpec m = ModelSpec::preset("seed", 10);
  auto a = m.init_params({28, 28, 1}, 1), b = m.init_params({28, 28, 1}, 1), c = m.init_params({28, 28, 1}, 2);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const double conv_limit = std::sqrt(6.0 / (9 + 9 * 32));
  double mx = 0, sum = 0;
  for (float x : a[0]) mx = std::max(mx, std::abs(double(x))), sum += x;
  EXPECT_LE(mx, conv_limit);
  EXPECT_GT(mx, 0.9 * conv_limit);
  EXPECT_LT(std::abs(sum / a[0].size()), 0.1 * conv_limit);
  for (float x : a[1]) EXPECT_EQ(x, 0.f);  // zero biases
  const double dense_limit = std::sqrt(6.0 / (5408 + 10));
  for (float x : a[2]) ASSERT_LE(std::abs(x), dense_limit);
}

}  // namespace
}  // namespace stoker
