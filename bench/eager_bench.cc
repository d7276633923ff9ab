// kiln — eager dispatch cost: a 2x3 float32 add (allocation of the result included), beside a
// plain C++ add of 6 floats into a fresh refcounted buffer.
#include <benchmark/benchmark.h>

#include <memory>

#include "kiln/kiln.h"

namespace k = kiln;

namespace {

void BM_EagerAdd2x3(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32);
  for (auto _ : state) {
    k::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_PlainAdd6WithAllocation(benchmark::State& state) {
  float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {6, 5, 4, 3, 2, 1};
  for (auto _ : state) {
    auto c = std::make_shared<std::array<float, 6>>();
    for (int i = 0; i < 6; ++i) (*c)[i] = a[i] + b[i];
    benchmark::DoNotOptimize(c->data());
  }
}

void BM_CompiledCallAdd2x3(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32);
  auto f = k::function([](const k::Tensor& x, const k::Tensor& y) { return x + y; });
  f(a, b);
  for (auto _ : state) {
    k::Tensor c = f(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
}

BENCHMARK(BM_EagerAdd2x3);
BENCHMARK(BM_PlainAdd6WithAllocation);
BENCHMARK(BM_CompiledCallAdd2x3);

}  // namespace
