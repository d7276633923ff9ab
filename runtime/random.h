// kiln — random tensors: normal, uniform, truncated_normal, from a counter-based generator
// (Philox4x32-10) whose output depends only on the seed, never on the platform's std::
// distributions.
//
// An explicit seed makes a call reproducible: the same seed gives the same values on every call,
// run and platform (up to the last bit of libm's log/cos/sin for normal distributions). Without
// a seed the values come from a process-wide Generator seeded from std::random_device. A
// Generator is a reproducible stream: Generator::from_seed(42) yields the same sequence of
// tensors every time, and successive calls continue the stream.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "runtime/tensor.h"

namespace kiln::random {

struct NormalOptions {
  double mean = 0.0;
  double stddev = 1.0;
  std::optional<uint64_t> seed;   // not allowed on Generator methods (the Generator is the seed)
  DType dtype = DType::kFloat32;  // float16, bfloat16, float32 or float64
};

struct UniformOptions {
  double minval = 0.0;
  double maxval = 1.0;  // exclusive; for int32/int64 the values are integers in [minval, maxval)
  std::optional<uint64_t> seed;
  // float dtypes (float64 draws 53 random bits, the others 24) or int32/int64.
  DType dtype = DType::kFloat32;
};

class Generator {
 public:
  static Generator from_seed(uint64_t seed);
  // Seeded from std::random_device.
  static Generator non_deterministic();

  // Normal(mean, stddev) via Box-Muller.
  Tensor normal(const Shape& shape, const NormalOptions& options = {});
  // Uniform in [minval, maxval).
  Tensor uniform(const Shape& shape, const UniformOptions& options = {});
  // Normal, resampling values more than 2 stddev from the mean.
  Tensor truncated_normal(const Shape& shape, const NormalOptions& options = {});

  // The next 4 raw 32-bit words of the stream (one Philox block).
  std::array<uint32_t, 4> next_block();
  uint64_t seed() const { return seed_; }

 private:
  explicit Generator(uint64_t seed) : seed_(seed) {}
  uint64_t seed_;
  uint64_t counter_ = 0;  // Philox blocks used so far
};

Tensor normal(const Shape& shape, const NormalOptions& options = {});
Tensor uniform(const Shape& shape, const UniformOptions& options = {});
Tensor truncated_normal(const Shape& shape, const NormalOptions& options = {});

// The Philox4x32-10 block function (Salmon et al., SC'11).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

}  // namespace kiln::random
