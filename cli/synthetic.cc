// Synthetic gratings (see synthetic.h).
#include "cli/synthetic.h"

#include <algorithm>
#include <cmath>

#include "pipeline/rng.h"

namespace stoker::cli {

int synth_sample(const SynthSpec& s, std::int64_t index, std::uint8_t* out) {
  constexpr double kPi = 3.14159265358979323846;
  Rng rng(s.seed, 0, static_cast<std::uint64_t>(index));
  const int label = static_cast<int>(rng.uniform_int(static_cast<std::uint64_t>(s.classes)));
  const double spacing = kPi / s.classes;
  const double theta = spacing * label + rng.uniform(-0.3, 0.3) * spacing;
  const double base = std::max(4.0, std::min(s.height, s.width) / 6.0);
  const double period = label % 2 ? base * 1.6 : base;
  const double phase = rng.uniform(0, 2 * kPi);
  const double contrast = rng.uniform(45, 90);
  const double brightness = rng.uniform(-25, 25);
  // Colour: the class's hue shifts each channel's mean and scales its grating.
  double tint[3] = {1, 1, 1}, offset[3] = {0, 0, 0};
  if (s.channels == 3) {
    for (int ch = 0; ch < 3; ++ch) {
      const double c = std::cos(2 * kPi * (static_cast<double>(label) / s.classes + ch / 3.0));
      tint[ch] = 0.6 + 0.4 * c;
      offset[ch] = 30.0 * c;
    }
  }
  const double kx = std::cos(theta) * 2 * kPi / period, ky = std::sin(theta) * 2 * kPi / period;
  for (int y = 0; y < s.height; ++y) {
    for (int x = 0; x < s.width; ++x) {
      const double wave = std::sin(kx * x + ky * y + phase);
      for (int ch = 0; ch < s.channels; ++ch) {
        const double noise = static_cast<double>(rng.next_u64() >> 58) - 32.0;  // uniform in [-32, 32)
        const double v = 128.0 + brightness + offset[ch] + contrast * tint[ch] * wave + noise;
        *out++ = static_cast<std::uint8_t>(std::clamp(v, 0.0, 255.0));
      }
    }
  }
  return label;
}

}  // namespace stoker::cli
