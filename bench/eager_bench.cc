// kiln — eager dispatch cost: a 2x3 float32 add (allocation of the result included), beside a
// plain C++ add of 6 floats into a fresh refcounted buffer and the cost of a kiln::function
// cache hit (flat and nested arguments, and shape-polymorphic).
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

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

// The same add compiled once for any number of rows (input_signature with None): each call
// also finds the dims binding of its argument shapes (one hash lookup) and passes the dims.
void BM_CompiledCallAdd2x3Polymorphic(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32);
  auto f =
      k::function([](const k::Tensor& x, const k::Tensor& y) { return x + y; },
                  {.input_signature = {k::TensorSpec({k::None, 3}), k::TensorSpec({k::None, 3})}});
  f(a, b);
  for (auto _ : state) {
    k::Tensor c = f(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// The polymorphic add called with 2 and 3 rows in turn (two bindings, one compiled function).
void BM_CompiledCallPolymorphicAlternating(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}, k::float32);
  auto f =
      k::function([](const k::Tensor& x, const k::Tensor& y) { return x + y; },
                  {.input_signature = {k::TensorSpec({k::None, 3}), k::TensorSpec({k::None, 3})}});
  f(a, a);
  f(b, b);
  bool odd = false;
  for (auto _ : state) {
    const k::Tensor& x = (odd = !odd) ? a : b;
    k::Tensor c = f(x, x);
    benchmark::DoNotOptimize(c.raw_data());
  }
}

// A cache hit whose arguments are nested: a std::vector of two Tensors and a map of one, so the
// call also flattens them and builds their structure string.
void BM_CompiledCallNested(benchmark::State& state) {
  std::vector<k::Tensor> xs{k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32),
                            k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32)};
  std::map<std::string, k::Tensor> p{{"scale", k::constant(2.f)}};
  auto f =
      k::function([](const std::vector<k::Tensor>& v, const std::map<std::string, k::Tensor>& m) {
        return (v[0] + v[1]) * m.at("scale");
      });
  f(xs, p);
  for (auto _ : state) {
    k::Tensor c = f(xs, p);
    benchmark::DoNotOptimize(c.raw_data());
  }
}

BENCHMARK(BM_EagerAdd2x3);
BENCHMARK(BM_PlainAdd6WithAllocation);
BENCHMARK(BM_CompiledCallAdd2x3);
BENCHMARK(BM_CompiledCallNested);
BENCHMARK(BM_CompiledCallAdd2x3Polymorphic);
BENCHMARK(BM_CompiledCallPolymorphicAlternating);

}  // namespace
