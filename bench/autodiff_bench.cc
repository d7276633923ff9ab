// kiln — autodiff costs: the GradientTape's recording overhead per op, and one gradient step of
// the chapter's small MLP (5 -> 30 elu -> 1, batch 32, MAE + l2) eagerly and compiled.
#include <benchmark/benchmark.h>

#include <random>

#include "kiln/kiln.h"

namespace k = kiln;

namespace {

constexpr int kOpsPerIteration = 64;

// 64 adds of 2x3 float32, without and with a tape that records each one.
void BM_EagerAdd2x3x64(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32);
  for (auto _ : state) {
    k::Tensor c = a;
    for (int i = 0; i < kOpsPerIteration; ++i) c = c + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

void BM_TapedAdd2x3x64(benchmark::State& state) {
  k::Tensor a = k::constant({{1, 2, 3}, {4, 5, 6}}, k::float32);
  k::Tensor b = k::constant({{6, 5, 4}, {3, 2, 1}}, k::float32);
  for (auto _ : state) {
    k::GradientTape tape;
    tape.watch(a);
    k::Tensor c = a;
    for (int i = 0; i < kOpsPerIteration; ++i) c = c + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
}

k::Tensor random_tensor(k::Shape shape, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(gen);
  return k::constant(v, shape);
}

struct Mlp {
  k::Tensor x = random_tensor({32, 5}, 1, 1.f), y = random_tensor({32, 1}, 2, 1.f);
  k::Tensor w1 = random_tensor({5, 30}, 3, 0.45f), b1 = k::zeros({30});
  k::Tensor w2 = random_tensor({30, 1}, 4, 0.25f), b2 = k::zeros({1});
};

// loss and d loss / d (w1, b1, w2, b2)
std::vector<k::Tensor> mlp_step(const k::Tensor& x, const k::Tensor& y, const k::Tensor& w1,
                                const k::Tensor& b1, const k::Tensor& w2, const k::Tensor& b2) {
  k::GradientTape tape;
  for (const k::Tensor* t : {&w1, &b1, &w2, &b2}) tape.watch(*t);
  k::Tensor h = k::elu(k::matmul(x, w1) + b1);
  k::Tensor pred = k::matmul(h, w2) + b2;
  k::Tensor loss = k::reduce_mean(k::abs(y - pred)) +
                   0.05f * (k::reduce_sum(k::square(w1)) + k::reduce_sum(k::square(w2)));
  auto g = tape.gradient(loss, {w1, b1, w2, b2});
  return {loss, *g[0], *g[1], *g[2], *g[3]};
}

void BM_MlpGradEager(benchmark::State& state) {
  Mlp m;
  for (auto _ : state) {
    auto r = mlp_step(m.x, m.y, m.w1, m.b1, m.w2, m.b2);
    benchmark::DoNotOptimize(r[0].raw_data());
  }
}

void BM_MlpGradCompiled(benchmark::State& state) {
  Mlp m;
  auto step = k::function(mlp_step, {.name = "mlp_grad"});
  step(m.x, m.y, m.w1, m.b1, m.w2, m.b2);
  for (auto _ : state) {
    auto r = step(m.x, m.y, m.w1, m.b1, m.w2, m.b2);
    benchmark::DoNotOptimize(r[0].raw_data());
  }
}

// Trace + passes + LLVM + JIT of the gradient step: the first call of a fresh function.
void BM_MlpGradFirstCall(benchmark::State& state) {
  Mlp m;
  for (auto _ : state) {
    auto step = k::function(mlp_step, {.name = "mlp_grad"});
    auto r = step(m.x, m.y, m.w1, m.b1, m.w2, m.b2);
    benchmark::DoNotOptimize(r[0].raw_data());
  }
}

BENCHMARK(BM_EagerAdd2x3x64);
BENCHMARK(BM_TapedAdd2x3x64);
BENCHMARK(BM_MlpGradEager)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MlpGradCompiled)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MlpGradFirstCall)->Unit(benchmark::kMillisecond);

}  // namespace
