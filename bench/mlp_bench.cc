// kiln — dense layers and MLP training steps, compiled, at 1 and 2 threads (the benchmark's
// argument): a 1024x1024x1024 float32 product with a fused bias + relu epilogue (beside the
// eager three-op version and the bare eager matmul, the GEMM bound); one Nadam training step
// of the chapter's MLP (5 -> 30 elu -> 1, batch 32, MAE + l2); one Adam step of a
// 784 -> 256 -> 256 -> 10 relu MLP with softmax cross-entropy (batch 128). The optimizers are
// written with kiln ops on Variables, the gradient comes from a GradientTape, and each step is
// one kiln::function. bench/compare.py --mlp runs the same work in PyTorch, libtorch and NumPy.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kiln/kiln.h"

namespace k = kiln;

namespace {

k::Tensor randn(k::Shape shape, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(gen);
  return k::constant(v, shape);
}

// Sets the thread count for one benchmark and restores it after.
struct Threads {
  explicit Threads(int n) : saved(k::config::num_threads()) { k::config::set_num_threads(n); }
  ~Threads() { k::config::set_num_threads(saved); }
  int saved;
};

// --- dense layer: relu(x @ w + b), 1024^3 ----------------------------------------------------

constexpr int kDense = 1024;

k::Tensor dense_relu(const k::Tensor& x, const k::Tensor& w, const k::Tensor& b) {
  return k::relu(k::matmul(x, w) + b);
}

struct Dense {
  k::Tensor x = randn({kDense, kDense}, 1, 1.f), w = randn({kDense, kDense}, 2, 0.03f);
  k::Tensor b = randn({kDense}, 3, 1.f);
};

void BM_DenseReluCompiled(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Dense d;
  auto f = k::function(dense_relu, {.name = "dense_relu"});
  f(d.x, d.w, d.b);
  for (auto _ : state) benchmark::DoNotOptimize(f(d.x, d.w, d.b).raw_data());
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * kDense * kDense * kDense,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

void BM_DenseReluEager(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Dense d;
  for (auto _ : state) benchmark::DoNotOptimize(dense_relu(d.x, d.w, d.b).raw_data());
}

void BM_Sgemm1024Eager(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Dense d;
  for (auto _ : state) benchmark::DoNotOptimize(k::matmul(d.x, d.w).raw_data());
  state.counters["GFLOPS"] = benchmark::Counter(2.0 * kDense * kDense * kDense,
                                                benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
}

// --- the chapter's MLP, one Nadam step -------------------------------------------------------

// Nadam as PyTorch's NAdam computes it (momentum decay 0.004): with mu_t = b1 (1 - 0.5 *
// 0.96^(0.004 t)) and mu_product = prod mu_1..mu_t,
//   m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, denom = sqrt(v / (1 - b2^t)) + eps,
//   p -= lr (1 - mu_t) / (1 - mu_product) g / denom
//        + lr mu_{t+1} / (1 - mu_product mu_{t+1}) m / denom
struct Nadam {
  float lr = 0.002f, b1 = 0.9f, b2 = 0.999f, eps = 1e-7f;
  k::Variable t{k::constant(0.f), {.name = "t", .trainable = false}};
  k::Variable mu_product{k::constant(1.f), {.name = "mu_product", .trainable = false}};
  std::vector<k::Variable> m, v;

  explicit Nadam(const std::vector<k::Variable*>& params) {
    for (k::Variable* p : params) {
      m.emplace_back(k::zeros_like(p->value()), k::VariableOptions{.trainable = false});
      v.emplace_back(k::zeros_like(p->value()), k::VariableOptions{.trainable = false});
    }
  }

  void apply(const std::vector<k::Variable*>& params, const std::vector<k::Tensor>& grads) {
    t.assign_add(k::constant(1.f));
    const k::Tensor step = t;
    const k::Tensor mu = b1 * (1.f - 0.5f * k::pow(k::constant(0.96f), step * 0.004f));
    const k::Tensor mu_next = b1 * (1.f - 0.5f * k::pow(k::constant(0.96f), (step + 1.f) * 0.004f));
    mu_product.assign(mu_product * mu);
    const k::Tensor mp = mu_product;
    const k::Tensor bias2 = 1.f - k::pow(k::constant(b2), step);
    const k::Tensor c_grad = lr * (1.f - mu) / (1.f - mp);
    const k::Tensor c_m = lr * mu_next / (1.f - mp * mu_next);
    for (size_t i = 0; i < params.size(); ++i) {
      const k::Tensor& g = grads[i];
      m[i].assign(b1 * m[i] + (1.f - b1) * g);
      v[i].assign(b2 * v[i] + (1.f - b2) * k::square(g));
      const k::Tensor denom = k::sqrt(v[i] / bias2) + eps;
      params[i]->assign_sub(c_grad * g / denom + c_m * m[i] / denom);
    }
  }
};

struct Chapter {
  k::Tensor x = randn({32, 5}, 1, 1.f), y = randn({32, 1}, 2, 1.f);
  k::Variable w1{randn({5, 30}, 3, 0.45f), {.name = "w1"}}, b1{k::zeros({30}), {.name = "b1"}};
  k::Variable w2{randn({30, 1}, 4, 0.25f), {.name = "w2"}}, b2{k::zeros({1}), {.name = "b2"}};
  std::vector<k::Variable*> params{&w1, &b1, &w2, &b2};
  Nadam opt{params};

  k::Tensor step(const k::Tensor& x, const k::Tensor& y) {
    k::GradientTape tape;
    k::Tensor h = k::elu(k::matmul(x, w1) + b1);
    k::Tensor pred = k::matmul(h, w2) + b2;
    k::Tensor loss = k::reduce_mean(k::abs(y - pred)) +
                     0.05f * (k::reduce_sum(k::square(w1)) + k::reduce_sum(k::square(w2)));
    auto g = tape.gradient(loss, {w1, b1, w2, b2});
    opt.apply(params, {*g[0], *g[1], *g[2], *g[3]});
    return loss;
  }
};

void BM_ChapterNadamStepCompiled(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Chapter c;
  auto step = k::function([&](const k::Tensor& x, const k::Tensor& y) { return c.step(x, y); },
                          {.name = "chapter_nadam_step"});
  step(c.x, c.y);
  for (auto _ : state) benchmark::DoNotOptimize(step(c.x, c.y).raw_data());
}

void BM_ChapterNadamStepEager(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Chapter c;
  for (auto _ : state) benchmark::DoNotOptimize(c.step(c.x, c.y).raw_data());
}

// --- 784 -> 256 -> 256 -> 10, softmax cross-entropy, one Adam step ---------------------------

// Adam as PyTorch computes it: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
struct Adam {
  float lr = 0.001f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
  k::Variable t{k::constant(0.f), {.name = "t", .trainable = false}};
  std::vector<k::Variable> m, v;

  explicit Adam(const std::vector<k::Variable*>& params) {
    for (k::Variable* p : params) {
      m.emplace_back(k::zeros_like(p->value()), k::VariableOptions{.trainable = false});
      v.emplace_back(k::zeros_like(p->value()), k::VariableOptions{.trainable = false});
    }
  }

  void apply(const std::vector<k::Variable*>& params, const std::vector<k::Tensor>& grads) {
    t.assign_add(k::constant(1.f));
    const k::Tensor step = t;
    const k::Tensor step_size = lr / (1.f - k::pow(k::constant(b1), step));
    const k::Tensor root_bias2 = k::sqrt(1.f - k::pow(k::constant(b2), step));
    for (size_t i = 0; i < params.size(); ++i) {
      const k::Tensor& g = grads[i];
      m[i].assign(b1 * m[i] + (1.f - b1) * g);
      v[i].assign(b2 * v[i] + (1.f - b2) * k::square(g));
      params[i]->assign_sub(step_size * m[i] / (k::sqrt(v[i]) / root_bias2 + eps));
    }
  }
};

constexpr int kBatch = 128;

k::Tensor one_hot_labels(unsigned seed) {
  std::mt19937 gen(seed);
  std::vector<float> v(kBatch * 10, 0.f);
  for (int i = 0; i < kBatch; ++i) v[i * 10 + gen() % 10] = 1.f;
  return k::constant(v, {kBatch, 10});
}

struct Mnist {
  k::Tensor x = randn({kBatch, 784}, 11, 1.f), y = one_hot_labels(12);
  k::Variable w1{randn({784, 256}, 13, 0.05f), {.name = "w1"}};
  k::Variable b1{k::zeros({256}), {.name = "b1"}};
  k::Variable w2{randn({256, 256}, 14, 0.088f), {.name = "w2"}};
  k::Variable b2{k::zeros({256}), {.name = "b2"}};
  k::Variable w3{randn({256, 10}, 15, 0.088f), {.name = "w3"}};
  k::Variable b3{k::zeros({10}), {.name = "b3"}};
  std::vector<k::Variable*> params{&w1, &b1, &w2, &b2, &w3, &b3};
  Adam opt{params};

  k::Tensor step(const k::Tensor& x, const k::Tensor& y) {
    k::GradientTape tape;
    k::Tensor h1 = k::relu(k::matmul(x, w1) + b1);
    k::Tensor h2 = k::relu(k::matmul(h1, w2) + b2);
    k::Tensor logits = k::matmul(h2, w3) + b3;
    k::Tensor loss = -k::reduce_mean(k::reduce_sum(y * k::log_softmax(logits), {{1}}));
    auto g = tape.gradient(loss, {w1, b1, w2, b2, w3, b3});
    opt.apply(params, {*g[0], *g[1], *g[2], *g[3], *g[4], *g[5]});
    return loss;
  }
};

// Multiply-adds of one step's products: forward x@w1, h1@w2, h2@w3; backward dW for all three
// and dX for layers 2 and 3 (the input needs none).
constexpr double kMnistStepFlops =
    2.0 * kBatch * (784.0 * 256 * 2 + 256.0 * 256 * 3 + 256.0 * 10 * 3);

void BM_MnistAdamStepCompiled(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Mnist n;
  auto step = k::function([&](const k::Tensor& x, const k::Tensor& y) { return n.step(x, y); },
                          {.name = "mnist_adam_step"});
  step(n.x, n.y);
  for (auto _ : state) benchmark::DoNotOptimize(step(n.x, n.y).raw_data());
  state.counters["GFLOPS"] = benchmark::Counter(
      kMnistStepFlops, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}

void BM_MnistAdamStepEager(benchmark::State& state) {
  Threads threads(static_cast<int>(state.range(0)));
  Mnist n;
  for (auto _ : state) benchmark::DoNotOptimize(n.step(n.x, n.y).raw_data());
}

BENCHMARK(BM_DenseReluCompiled)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DenseReluEager)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Sgemm1024Eager)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ChapterNadamStepCompiled)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ChapterNadamStepEager)->Arg(1)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MnistAdamStepCompiled)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MnistAdamStepEager)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
