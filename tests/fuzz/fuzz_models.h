// The model and input shape the weights target loads for, shared with the seed generator.
#pragma once

#include "trainer/model_spec.h"

namespace stoker::fuzz {
inline constexpr const char* kWeightsModel = "conv2d(4,3,relu) maxpool(2) flatten dense(3,softmax)";
inline constexpr Hwc kWeightsInput = {8, 8, 1};
}  // namespace stoker::fuzz
