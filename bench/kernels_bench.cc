// kiln — kernel throughput against this machine's limits, measured in the same binary: peak
// float32 FMA rate (a hand-written AVX2 loop) beside 1024x1024 matmul, and STREAM-style copy and
// triad bandwidth beside a large eager add. The trailing argument of the threaded benchmarks is
// the thread count (kiln::config::set_num_threads).
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <random>
#include <vector>

#include "kiln/kiln.h"
#include "runtime/kernels/gemm_f32.h"
#include "runtime/parallel.h"

namespace k = kiln;

// OpenBLAS, linked through kiln_runtime (declared here as runtime/kernels/matmul.cc does).
extern "C" void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, const float* b, int ldb, float beta, float* c,
                            int ldc);
extern "C" void openblas_set_num_threads(int n);

namespace {

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111;

std::vector<float> random_vector(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Sets the pool's thread count for one benchmark and restores it afterwards.
class Threads {
 public:
  explicit Threads(int64_t n) : saved_(k::config::num_threads()) {
    k::config::set_num_threads(static_cast<int>(n));
  }
  ~Threads() { k::config::set_num_threads(saved_); }

 private:
  int saved_;
};

// 12 independent accumulator chains of 8-wide FMAs: enough to cover FMA latency times the
// number of FMA pipes on current x86 cores, so the loop runs at the core's FMA throughput. The
// chains are separate variables kept in registers (an array would go through the stack).
constexpr int kChains = 12;

__attribute__((noinline)) float fma_chains(int64_t iters) {
  __m256 c0 = _mm256_set1_ps(0.f), c1 = _mm256_set1_ps(1.f), c2 = _mm256_set1_ps(2.f),
         c3 = _mm256_set1_ps(3.f), c4 = _mm256_set1_ps(4.f), c5 = _mm256_set1_ps(5.f),
         c6 = _mm256_set1_ps(6.f), c7 = _mm256_set1_ps(7.f), c8 = _mm256_set1_ps(8.f),
         c9 = _mm256_set1_ps(9.f), c10 = _mm256_set1_ps(10.f), c11 = _mm256_set1_ps(11.f);
  const __m256 mul = _mm256_set1_ps(0.999999f), add = _mm256_set1_ps(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
    c0 = _mm256_fmadd_ps(c0, mul, add);
    c1 = _mm256_fmadd_ps(c1, mul, add);
    c2 = _mm256_fmadd_ps(c2, mul, add);
    c3 = _mm256_fmadd_ps(c3, mul, add);
    c4 = _mm256_fmadd_ps(c4, mul, add);
    c5 = _mm256_fmadd_ps(c5, mul, add);
    c6 = _mm256_fmadd_ps(c6, mul, add);
    c7 = _mm256_fmadd_ps(c7, mul, add);
    c8 = _mm256_fmadd_ps(c8, mul, add);
    c9 = _mm256_fmadd_ps(c9, mul, add);
    c10 = _mm256_fmadd_ps(c10, mul, add);
    c11 = _mm256_fmadd_ps(c11, mul, add);
    // Keeps the compiler from evaluating or shortening the chains (no code is emitted).
    asm volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5));
    asm volatile("" : "+x"(c6), "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
  }
  const __m256 sum =
      _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)),
                                  _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7))),
                    _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}

// One core's peak: FLOP/s counts 2 per FMA lane.
void BM_FmaPeak(benchmark::State& state) {
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : state) benchmark::DoNotOptimize(fma_chains(kIters));
  state.counters["FLOPS"] = benchmark::Counter(static_cast<double>(kIters) * kChains * 8 * 2,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// kiln::matmul, result allocated each call (the caching allocator hands back the last one). A few
// untimed calls first, as the libtorch peer does: the first ones set up OpenBLAS's buffers, start
// the pool's workers and fault in the result's pages.
void BM_Matmul(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  k::Tensor a = k::constant(random_vector(n * n, 1), k::Shape{n, n});
  k::Tensor b = k::constant(random_vector(n * n, 2), k::Shape{n, n});
  for (int i = 0; i < 3; ++i) benchmark::DoNotOptimize(k::matmul(a, b).raw_data());
  for (auto _ : state) {
    k::Tensor c = k::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

// The library underneath alone: one cblas_sgemm call (OpenBLAS, one thread) into a result
// allocated once, from plain vectors; arguments m, k, n. kiln's matmul uses it only where
// gemm_f32 cannot run (no AVX2/FMA, or KILN_SGEMM=openblas): it is the peer of BM_GemmDirect.
void BM_SgemmDirect(benchmark::State& state) {
  const int64_t m = state.range(0), kk = state.range(1), n = state.range(2);
  const std::vector<float> a = random_vector(m * kk, 1), b = random_vector(kk * n, 2);
  std::vector<float> c(m * n);
  openblas_set_num_threads(1);  // as kiln's fallback does
  auto sgemm = [&] {
    cblas_sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, static_cast<int>(m),
                static_cast<int>(n), static_cast<int>(kk), 1.f, a.data(), static_cast<int>(kk),
                b.data(), static_cast<int>(n), 0.f, c.data(), static_cast<int>(n));
  };
  for (int i = 0; i < 3; ++i) sgemm();
  for (auto _ : state) {
    sgemm();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * m * n * kk, benchmark::Counter::kIsIterationInvariantRate);
}

// kiln's own GEMM (runtime/kernels/gemm_f32.cc) called directly on one thread, as
// BM_SgemmDirect calls OpenBLAS; arguments m, k, n. BM_Matmul/N/1 minus this is the cost of
// kiln's matmul around the product.
void BM_GemmDirect(benchmark::State& state) {
  const int64_t m = state.range(0), kk = state.range(1), n = state.range(2);
  const std::vector<float> a = random_vector(m * kk, 1), b = random_vector(kk * n, 2);
  std::vector<float> c(m * n);
  auto gemm = [&] {
    k::kernels::internal::gemm_f32(a.data(), kk, false, b.data(), n, false, c.data(), n, m, n, kk,
                                   0, m);
  };
  for (int i = 0; i < 3; ++i) gemm();
  for (auto _ : state) {
    gemm();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["FLOPS"] =
      benchmark::Counter(2.0 * m * n * kk, benchmark::Counter::kIsIterationInvariantRate);
}

// A batch of 64 products of 128x128 matrices.
void BM_BatchMatmul(benchmark::State& state) {
  constexpr int64_t kBatch = 64, kN = 128;
  Threads threads(state.range(0));
  k::Tensor a = k::constant(random_vector(kBatch * kN * kN, 1), k::Shape{kBatch, kN, kN});
  k::Tensor b = k::constant(random_vector(kBatch * kN * kN, 2), k::Shape{kBatch, kN, kN});
  for (auto _ : state) {
    k::Tensor c = k::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.counters["FLOPS"] = benchmark::Counter(2.0 * kBatch * kN * kN * kN,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// STREAM copy b = a and triad a = b + s*c, split over the pool like the eager kernels.
void BM_StreamCopy(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  auto a = random_vector(n, 1);
  std::vector<float> b(n);
  for (auto _ : state) {
    k::internal::parallel_for(n, 1 << 16, 16, [&](int64_t lo, int64_t hi) {
      const float* __restrict src = a.data();
      float* __restrict dst = b.data();
      for (int64_t i = lo; i < hi; ++i) dst[i] = src[i];
    });
    benchmark::DoNotOptimize(b.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 2 * static_cast<int64_t>(sizeof(float)));
}

void BM_StreamTriad(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  auto b = random_vector(n, 1), c = random_vector(n, 2);
  std::vector<float> a(n);
  for (auto _ : state) {
    k::internal::parallel_for(n, 1 << 16, 16, [&](int64_t lo, int64_t hi) {
      float* __restrict out = a.data();
      const float* __restrict x = b.data();
      const float* __restrict y = c.data();
      for (int64_t i = lo; i < hi; ++i) out[i] = x[i] + 3.0f * y[i];
    });
    benchmark::DoNotOptimize(a.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}

// Eager a + b with a fresh result each time: 2 reads and 1 write per element, as the triad.
void BM_EagerAdd(benchmark::State& state) {
  const int64_t n = state.range(0);
  Threads threads(state.range(1));
  k::Tensor a = k::constant(random_vector(n, 1), k::Shape{n});
  k::Tensor b = k::constant(random_vector(n, 2), k::Shape{n});
  for (auto _ : state) {
    k::Tensor c = a + b;
    benchmark::DoNotOptimize(c.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * n * 3 * static_cast<int64_t>(sizeof(float)));
}

constexpr int64_t k16M = int64_t{1} << 24;
// One thread: CPU time, which a busy machine descheduling the process does not inflate. More
// threads: wall time.
BENCHMARK(BM_FmaPeak)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Matmul)->Args({1024, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Matmul)->Args({1024, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
// 1024^3, and the 784-256-256-10 MLP's products at batch 128 (forward, weight gradient).
BENCHMARK(BM_SgemmDirect)->Args({1024, 1024, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GemmDirect)->Args({1024, 1024, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SgemmDirect)
    ->Args({128, 784, 256})
    ->Args({784, 128, 256})
    ->Args({128, 256, 256})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_GemmDirect)
    ->Args({128, 784, 256})
    ->Args({784, 128, 256})
    ->Args({128, 256, 256})
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchMatmul)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BatchMatmul)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StreamCopy)->Args({k16M, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamCopy)->Args({k16M, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StreamTriad)->Args({k16M, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StreamTriad)->Args({k16M, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_EagerAdd)->Args({k16M, 1})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EagerAdd)->Args({k16M, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
