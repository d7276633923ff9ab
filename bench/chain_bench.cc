// kiln — a chain of 10 elementwise ops with exp and tanh over N float32 elements, compiled by
// kiln::function (one fused, vectorized loop with the own exp/tanh polynomials) and eager:
//   relu(tanh(x * 0.5 + y) * exp(-|x|) - y * 0.25)
// (mul add tanh abs neg exp mul mul sub relu). bench/compare.py runs the same chain in NumPy,
// PyTorch eager and torch.jit.script. Reports bytes/s (2 reads + 1 write per element).
#include <benchmark/benchmark.h>

#include <vector>

#include "bench/bench_util.h"
#include "kiln/kiln.h"

namespace k = kiln;

namespace {

k::Tensor chain_fxn(const k::Tensor& x, const k::Tensor& y) {
  return k::relu(k::tanh(x * 0.5f + y) * k::exp(-k::abs(x)) - y * 0.25f);
}

void BM_ChainCompiled(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor x = k::constant(k::bench::random_normal(n, 5, 2.f), k::Shape{n});
  k::Tensor y = k::constant(k::bench::random_normal(n, 6, 2.f), k::Shape{n});
  auto chain = k::function(chain_fxn, {.name = "chain"});
  chain(x, y);  // trace and compile outside the timed loop
  for (auto _ : state) {
    k::Tensor out = chain(x, y);
    benchmark::DoNotOptimize(out.raw_data());
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

void BM_ChainEager(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor x = k::constant(k::bench::random_normal(n, 5, 2.f), k::Shape{n});
  k::Tensor y = k::constant(k::bench::random_normal(n, 6, 2.f), k::Shape{n});
  for (auto _ : state) {
    k::Tensor out = chain_fxn(x, y);
    benchmark::DoNotOptimize(out.raw_data());
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

// The same ten ops unfused (each result an intermediate value) with a None batch dim: with
// buffer-plan (/1) every intermediate shares one slot sized per batch, without it (/0) each has
// its own. Rows of 256 float32; bytes/s as above.
void BM_ChainUnfusedPolymorphic(benchmark::State& state) {
  const int64_t rows = state.range(0);
  const bool planned = state.range(1) != 0;
  const int64_t n = rows * 256;
  k::Tensor x = k::constant(k::bench::random_normal(n, 5, 2.f), k::Shape{rows, 256});
  k::Tensor y = k::constant(k::bench::random_normal(n, 6, 2.f), k::Shape{rows, 256});
  const k::TensorSpec spec({k::None, 256});
  auto chain =
      k::function(chain_fxn, {.input_signature = {spec, spec},
                              .name = "chain",
                              .pipeline = planned ? "autodiff,dce,buffer-plan" : "autodiff,dce"});
  chain(x, y);
  for (auto _ : state) {
    k::Tensor out = chain(x, y);
    benchmark::DoNotOptimize(out.raw_data());
  }
  const k::MemoryStats m = chain.get_concrete_function(spec, spec).memory_stats();
  state.counters["workspace_KiB"] = static_cast<double>(m.workspace_bytes) / 1024;
  k::bench::set_binary_elementwise_bytes(state, n);
}

constexpr int64_t k16M = int64_t{1} << 24;
BENCHMARK(BM_ChainCompiled)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChainEager)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ChainUnfusedPolymorphic)
    ->ArgsProduct({{64, 1024, 16384}, {0, 1}})
    ->Unit(benchmark::kMicrosecond);

}  // namespace
