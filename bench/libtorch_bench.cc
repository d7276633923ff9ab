// kiln — the same work as kiln_bench's eager, kernel, Huber and MLP-gradient benchmarks, done
// with libtorch's C++ API (ATen ops and torch::autograd), so that bench/compare.py and
// bench/compare_autodiff.py can print a C++ peer beside kiln without Python's call overhead.
// Benchmark names match their kiln counterparts (bench/eager_bench.cc, bench/kernels_bench.cc,
// bench/huber_bench.cc, bench/autodiff_bench.cc, bench/mlp_bench.cc). Built only on request, when
// CMake finds Torch.
//
// Timing: single-thread benchmarks report process CPU time (any helper thread a library starts
// is counted); the 2-thread ones report wall time, as kiln_bench does.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <torch/csrc/autograd/autograd.h>

#include <random>
#include <vector>

namespace {

// libtorch's intra-op pool follows at::set_num_threads, but the BLAS it calls for float32 matmul
// (OpenBLAS on Debian) keeps its own pool, sized to the machine unless told otherwise. Sets both
// for one benchmark and restores them afterwards.
class Threads {
 public:
  explicit Threads(int64_t n) : saved_(at::get_num_threads()) { set(static_cast<int>(n)); }
  ~Threads() { set(saved_); }

 private:
  static void set(int n) {
    at::set_num_threads(n);
    using SetBlasThreads = void (*)(int);
    if (auto fn = reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
      fn(n);
  }
  int saved_;
};

at::Tensor random_tensor(std::vector<int64_t> shape, unsigned seed, float scale, bool uniform) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(n);
  std::mt19937 gen(seed);
  if (uniform) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    for (float& x : v) x = dist(gen);
  } else {
    std::normal_distribution<float> dist(0.f, scale);
    for (float& x : v) x = dist(gen);
  }
  return at::from_blob(v.data(), shape, at::kFloat).clone();
}

// Runs an op a few times before timing: the first calls fault in fresh pages for every
// temporary (with an allocator that keeps freed memory, later calls reuse them), and the first
// BLAS call sets up its buffers.
template <typename Op>
void warm_up(Op op) {
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(op().data_ptr());
}

// 2x3 float32 add with a fresh result: the eager dispatch cost, allocation included.
void BM_EagerAdd2x3(benchmark::State& state) {
  Threads threads(1);
  at::Tensor a = at::tensor({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}).reshape({2, 3});
  at::Tensor b = at::tensor({6.f, 5.f, 4.f, 3.f, 2.f, 1.f}).reshape({2, 3});
  for (auto _ : state) {
    at::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
}

// a + b over 16M float32 with a fresh result: 2 reads and 1 write per element.
void BM_EagerAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  at::Tensor a = random_tensor({n}, 1, 1.f, true), b = random_tensor({n}, 2, 1.f, true);
  warm_up([&] { return a + b; });
  for (auto _ : state) {
    at::Tensor c = a + b;
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}

void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  at::Tensor a = random_tensor({n, n}, 1, 1.f, true), b = random_tensor({n, n}, 2, 1.f, true);
  warm_up([&] { return at::matmul(a, b); });
  for (auto _ : state) {
    at::Tensor c = at::matmul(a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

// The formula of bench/huber_bench.cc's huber_loss_fxn, op for op.
at::Tensor huber_loss_fxn(const at::Tensor& y_true, const at::Tensor& y_pred) {
  at::Tensor error = y_true - y_pred;
  at::Tensor is_small_error = at::abs(error) < 1;
  return at::where(is_small_error, at::square(error) / 2, at::abs(error) - 0.5);
}

void BM_HuberEager(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(1);
  at::Tensor y = random_tensor({n}, 1, 1.5f, false), p = random_tensor({n}, 2, 1.5f, false);
  warm_up([&] { return huber_loss_fxn(y, p); });
  for (auto _ : state) {
    at::Tensor out = huber_loss_fxn(y, p);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}

// bench/autodiff_bench.cc's MLP step: 5 -> 30 elu -> 1, batch 32, MAE + 0.05 * l2; returns the
// loss and its gradients with respect to w1, b1, w2, b2.
struct Mlp {
  at::Tensor x = random_tensor({32, 5}, 1, 1.f, false), y = random_tensor({32, 1}, 2, 1.f, false);
  at::Tensor w1 = random_tensor({5, 30}, 3, 0.45f, false).requires_grad_();
  at::Tensor b1 = at::zeros({30}).requires_grad_();
  at::Tensor w2 = random_tensor({30, 1}, 4, 0.25f, false).requires_grad_();
  at::Tensor b2 = at::zeros({1}).requires_grad_();
};

std::vector<at::Tensor> mlp_step(const Mlp& m) {
  at::Tensor h = at::elu(at::matmul(m.x, m.w1) + m.b1);
  at::Tensor pred = at::matmul(h, m.w2) + m.b2;
  at::Tensor loss = at::mean(at::abs(m.y - pred)) +
                    0.05 * (at::sum(at::square(m.w1)) + at::sum(at::square(m.w2)));
  std::vector<at::Tensor> r = torch::autograd::grad({loss}, {m.w1, m.b1, m.w2, m.b2});
  r.insert(r.begin(), loss);
  return r;
}

void BM_MlpGradEager(benchmark::State& state) {
  Threads threads(1);
  Mlp m;
  for (auto _ : state) {
    auto r = mlp_step(m);
    benchmark::DoNotOptimize(r[1].data_ptr());
  }
}

// --- bench/mlp_bench.cc's benchmarks --------------------------------------------------------

// relu(x @ w + b), 1024^3: addmm (the bias as beta * C) then relu, and the three-op version.
void BM_DenseReluEager(benchmark::State& state) {
  Threads threads(state.range(0));
  at::Tensor x = random_tensor({1024, 1024}, 1, 1.f, false);
  at::Tensor w = random_tensor({1024, 1024}, 2, 0.03f, false);
  at::Tensor b = random_tensor({1024}, 3, 1.f, false);
  warm_up([&] { return at::relu(at::addmm(b, x, w)); });
  for (auto _ : state) benchmark::DoNotOptimize(at::relu(at::addmm(b, x, w)).data_ptr());
}

void BM_DenseRelu3OpEager(benchmark::State& state) {
  Threads threads(state.range(0));
  at::Tensor x = random_tensor({1024, 1024}, 1, 1.f, false);
  at::Tensor w = random_tensor({1024, 1024}, 2, 0.03f, false);
  at::Tensor b = random_tensor({1024}, 3, 1.f, false);
  warm_up([&] { return at::relu(at::matmul(x, w) + b); });
  for (auto _ : state) benchmark::DoNotOptimize(at::relu(at::matmul(x, w) + b).data_ptr());
}

// The chapter's MLP with the Nadam step of bench/mlp_bench.cc, op for op (autograd for the
// gradient, the update under NoGradGuard, in place as a Variable assignment).
struct ChapterNadam {
  Mlp m;
  std::vector<at::Tensor> params{m.w1, m.b1, m.w2, m.b2}, ms, vs;
  at::Tensor t = at::zeros({}), mu_product = at::ones({});
  ChapterNadam() {
    for (const at::Tensor& p : params) {
      ms.push_back(at::zeros_like(p));
      vs.push_back(at::zeros_like(p));
    }
  }
  at::Tensor step() {
    at::Tensor h = at::elu(at::matmul(m.x, m.w1) + m.b1);
    at::Tensor pred = at::matmul(h, m.w2) + m.b2;
    at::Tensor loss = at::mean(at::abs(m.y - pred)) +
                      0.05 * (at::sum(at::square(m.w1)) + at::sum(at::square(m.w2)));
    std::vector<at::Tensor> g = torch::autograd::grad({loss}, params);
    at::NoGradGuard no_grad;
    const double lr = 0.002, b1 = 0.9, b2 = 0.999, eps = 1e-7;
    t.add_(1);
    at::Tensor mu = b1 * (1 - 0.5 * at::pow(0.96, t * 0.004));
    at::Tensor mu_next = b1 * (1 - 0.5 * at::pow(0.96, (t + 1) * 0.004));
    mu_product.mul_(mu);
    at::Tensor bias2 = 1 - at::pow(b2, t);
    at::Tensor c_grad = lr * (1 - mu) / (1 - mu_product);
    at::Tensor c_m = lr * mu_next / (1 - mu_product * mu_next);
    for (size_t i = 0; i < params.size(); ++i) {
      ms[i].copy_(b1 * ms[i] + (1 - b1) * g[i]);
      vs[i].copy_(b2 * vs[i] + (1 - b2) * at::square(g[i]));
      at::Tensor denom = at::sqrt(vs[i] / bias2) + eps;
      params[i].sub_(c_grad * g[i] / denom + c_m * ms[i] / denom);
    }
    return loss;
  }
};

void BM_ChapterNadamStepEager(benchmark::State& state) {
  Threads threads(state.range(0));
  ChapterNadam c;
  for (auto _ : state) benchmark::DoNotOptimize(c.step().data_ptr());
}

// 784 -> 256 -> 256 -> 10 relu MLP, softmax cross-entropy, batch 128, Adam (bench/mlp_bench.cc).
struct MnistAdam {
  at::Tensor x = random_tensor({128, 784}, 11, 1.f, false), y;
  std::vector<at::Tensor> params, ms, vs;
  at::Tensor t = at::zeros({});
  MnistAdam() {
    std::mt19937 gen(12);
    std::vector<float> labels(128 * 10, 0.f);
    for (int i = 0; i < 128; ++i) labels[i * 10 + gen() % 10] = 1.f;
    y = at::from_blob(labels.data(), {128, 10}, at::kFloat).clone();
    params = {random_tensor({784, 256}, 13, 0.05f, false),  at::zeros({256}),
              random_tensor({256, 256}, 14, 0.088f, false), at::zeros({256}),
              random_tensor({256, 10}, 15, 0.088f, false),  at::zeros({10})};
    for (at::Tensor& p : params) {
      p.requires_grad_();
      ms.push_back(at::zeros_like(p));
      vs.push_back(at::zeros_like(p));
    }
  }
  at::Tensor step() {
    at::Tensor h1 = at::relu(at::addmm(params[1], x, params[0]));
    at::Tensor h2 = at::relu(at::addmm(params[3], h1, params[2]));
    at::Tensor logits = at::addmm(params[5], h2, params[4]);
    at::Tensor loss = -at::mean(at::sum(y * at::log_softmax(logits, 1), 1));
    std::vector<at::Tensor> g = torch::autograd::grad({loss}, params);
    at::NoGradGuard no_grad;
    const double lr = 0.001, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    t.add_(1);
    at::Tensor step_size = lr / (1 - at::pow(b1, t));
    at::Tensor root_bias2 = at::sqrt(1 - at::pow(b2, t));
    for (size_t i = 0; i < params.size(); ++i) {
      ms[i].copy_(b1 * ms[i] + (1 - b1) * g[i]);
      vs[i].copy_(b2 * vs[i] + (1 - b2) * at::square(g[i]));
      params[i].sub_(step_size * ms[i] / (at::sqrt(vs[i]) / root_bias2 + eps));
    }
    return loss;
  }
};

void BM_MnistAdamStepEager(benchmark::State& state) {
  Threads threads(state.range(0));
  MnistAdam n;
  for (int i = 0; i < 3; ++i) n.step();
  for (auto _ : state) benchmark::DoNotOptimize(n.step().data_ptr());
}

constexpr int64_t k1M = int64_t{1} << 20, k16M = int64_t{1} << 24;
BENCHMARK(BM_EagerAdd2x3)->MeasureProcessCPUTime();
BENCHMARK(BM_EagerAdd)->Args({k16M, 1})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(BM_EagerAdd)->Args({k16M, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Matmul)->Args({1024, 1})->Unit(benchmark::kMillisecond)->MeasureProcessCPUTime();
BENCHMARK(BM_Matmul)->Args({1024, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_HuberEager)->Arg(k1M)->Arg(k16M)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_MlpGradEager)->Unit(benchmark::kMicrosecond)->MeasureProcessCPUTime();
BENCHMARK(BM_DenseReluEager)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_DenseRelu3OpEager)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ChapterNadamStepEager)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();
BENCHMARK(BM_MnistAdamStepEager)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
