// kiln — Huber loss over N float32 elements: compiled kiln::function vs. a hand-written C++ loop
// (this file is built with -O3 -march=native -fno-trapping-math) vs. kiln eager. Reports bytes/s (2
// reads + 1 write per element).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "bench/bench_util.h"
#include "kiln/kiln.h"

namespace k = kiln;

namespace {

k::Tensor huber_loss_fxn(const k::Tensor& y_true, const k::Tensor& y_pred) {
  auto error = y_true - y_pred;
  auto is_small_error = k::abs(error) < 1;
  return k::where(is_small_error, k::square(error) / 2, k::abs(error) - 0.5);
}

// The reference: what a performance-minded C++ programmer writes by hand. The branch-free
// form 0.5*c*c + (a - c) with c = min(|e|, 1) equals the Huber loss. Even so, g++ 12 keeps a
// branch (and does not vectorize) unless -fno-trapping-math is given, which bench/CMakeLists.txt
// does; the branch costs ~6 ns per element on random data.
__attribute__((noinline)) void huber_loop(const float* __restrict y, const float* __restrict p,
                                          float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float e = y[i] - p[i];
    const float a = std::fabs(e);
    const float c = std::min(a, 1.f);
    out[i] = 0.5f * c * c + (a - c);
  }
}

void BM_HuberHandWritten(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto y = k::bench::random_normal(n, 1, 1.5f), p = k::bench::random_normal(n, 2, 1.5f);
  std::vector<float> out(n);
  for (auto _ : state) {
    huber_loop(y.data(), p.data(), out.data(), n);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

void BM_HuberCompiled(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor y = k::constant(k::bench::random_normal(n, 1, 1.5f), k::Shape{n});
  k::Tensor p = k::constant(k::bench::random_normal(n, 2, 1.5f), k::Shape{n});
  auto huber = k::function(huber_loss_fxn, {.name = "huber"});
  huber(y, p);  // trace and compile outside the timed loop
  for (auto _ : state) {
    k::Tensor out = huber(y, p);
    benchmark::DoNotOptimize(out.raw_data());
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

// The same loss compiled once for any length (input_signature {None}): the loop bound is read
// from the dims table instead of being a constant.
void BM_HuberCompiledPolymorphic(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor y = k::constant(k::bench::random_normal(n, 1, 1.5f), k::Shape{n});
  k::Tensor p = k::constant(k::bench::random_normal(n, 2, 1.5f), k::Shape{n});
  auto huber = k::function(
      huber_loss_fxn,
      {.input_signature = {k::TensorSpec({k::None}), k::TensorSpec({k::None})}, .name = "huber"});
  huber(y, p);  // trace and compile outside the timed loop
  for (auto _ : state) {
    k::Tensor out = huber(y, p);
    benchmark::DoNotOptimize(out.raw_data());
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

void BM_HuberEager(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor y = k::constant(k::bench::random_normal(n, 1, 1.5f), k::Shape{n});
  k::Tensor p = k::constant(k::bench::random_normal(n, 2, 1.5f), k::Shape{n});
  for (auto _ : state) {
    k::Tensor out = huber_loss_fxn(y, p);
    benchmark::DoNotOptimize(out.raw_data());
  }
  k::bench::set_binary_elementwise_bytes(state, n);
}

// The Huber loss reduced to its mean: compiled, this is one reduce fusion reading both inputs
// once and writing nothing but the scalar. Reports bytes/s of the two inputs.
k::Tensor huber_mean_fxn(const k::Tensor& y_true, const k::Tensor& y_pred) {
  return k::reduce_mean(huber_loss_fxn(y_true, y_pred));
}

__attribute__((noinline)) double huber_mean_loop(const float* __restrict y,
                                                 const float* __restrict p, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float e = y[i] - p[i];
    const float a = std::fabs(e);
    const float c = std::min(a, 1.f);
    sum += 0.5f * c * c + (a - c);
  }
  return sum / static_cast<double>(n);
}

void set_two_input_bytes(benchmark::State& state, int64_t n) {
  state.SetBytesProcessed(state.iterations() * n * 2 * static_cast<int64_t>(sizeof(float)));
}

void BM_HuberMeanHandWritten(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto y = k::bench::random_normal(n, 1, 1.5f), p = k::bench::random_normal(n, 2, 1.5f);
  for (auto _ : state) benchmark::DoNotOptimize(huber_mean_loop(y.data(), p.data(), n));
  set_two_input_bytes(state, n);
}

void BM_HuberMeanCompiled(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor y = k::constant(k::bench::random_normal(n, 1, 1.5f), k::Shape{n});
  k::Tensor p = k::constant(k::bench::random_normal(n, 2, 1.5f), k::Shape{n});
  auto huber_mean = k::function(huber_mean_fxn, {.name = "huber_mean"});
  huber_mean(y, p);
  for (auto _ : state) {
    k::Tensor out = huber_mean(y, p);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_two_input_bytes(state, n);
}

void BM_HuberMeanEager(benchmark::State& state) {
  const int64_t n = state.range(0);
  k::Tensor y = k::constant(k::bench::random_normal(n, 1, 1.5f), k::Shape{n});
  k::Tensor p = k::constant(k::bench::random_normal(n, 2, 1.5f), k::Shape{n});
  for (auto _ : state) {
    k::Tensor out = huber_mean_fxn(y, p);
    benchmark::DoNotOptimize(out.raw_data());
  }
  set_two_input_bytes(state, n);
}

// STREAM-style copy: the machine's bandwidth limit, measured in the same run.
void BM_Copy(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = k::bench::random_normal(n, 3, 1.5f);
  std::vector<float> b(n);
  for (auto _ : state) {
    std::copy(a.begin(), a.end(), b.begin());
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 2 * static_cast<int64_t>(sizeof(float)));
}

constexpr int64_t k1M = int64_t{1} << 20, k16M = int64_t{1} << 24;
BENCHMARK(BM_Copy)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberHandWritten)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberCompiled)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberCompiledPolymorphic)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberEager)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberMeanHandWritten)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberMeanCompiled)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_HuberMeanEager)->Arg(k16M)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
