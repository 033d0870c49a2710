// Synthetic, learnable image data in the seed's shape (N x H x W x C, K classes) for
// `stoker make-dataset`: sample i is a function of (seed, i) only, so any block of rows can be
// generated independently, in parallel, in any order.
//
// Class k is a sinusoidal grating at orientation pi*k/K (period alternating between two sizes),
// tinted with a colour of hue k/K (channel means and
// grating amplitudes); each sample draws a random phase, contrast, brightness, a
// small orientation jitter (below half the class spacing) and per-pixel noise. A small conv net
// separates the classes from orientation and colour, but not from any single pixel.
#pragma once

#include <cstdint>

namespace stoker::cli {

struct SynthSpec {
  int height = 128, width = 128, channels = 3, classes = 10;
  std::uint64_t seed = 0;
};

// Writes sample `index` (height x width x channels uint8, HWC) to `out`; returns its label.
int synth_sample(const SynthSpec& spec, std::int64_t index, std::uint8_t* out);

}  // namespace stoker::cli
