// kiln — helpers shared by the elementwise benchmarks.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

namespace kiln::bench {

// n normally distributed floats (mean 0), reproducible from `seed`.
inline std::vector<float> random_normal(int64_t n, unsigned seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Bytes/s of a binary elementwise op over n float32 elements: 2 reads + 1 write per element.
inline void set_binary_elementwise_bytes(benchmark::State& state, int64_t n) {
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}

}  // namespace kiln::bench
