// kiln — the thread pool: thread-count configuration, range coverage, and large eager kernels
// giving the same bits at every thread count.
#include "runtime/parallel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

// Restores the thread count a test changed.
class ThreadCount {
 public:
  explicit ThreadCount(int n) : saved_(config::num_threads()) { config::set_num_threads(n); }
  ~ThreadCount() { config::set_num_threads(saved_); }

 private:
  int saved_;
};

TEST(Parallel, ThreadCountIsConfigurable) {
  ThreadCount threads(3);
  EXPECT_EQ(config::num_threads(), 3);
  config::set_num_threads(1);
  EXPECT_EQ(config::num_threads(), 1);
}

TEST(Parallel, ThreadCountOutOfRangeIsRejected) {
  const int before = config::num_threads();
  EXPECT_EQ(invalid_argument_of([] { config::set_num_threads(0); }),
            "set_num_threads: the thread count must be in 1..1024, got 0");
  EXPECT_EQ(invalid_argument_of([] { config::set_num_threads(1025); }),
            "set_num_threads: the thread count must be in 1..1024, got 1025");
  EXPECT_EQ(config::num_threads(), before);
}

// Run by ctest with KILN_NUM_THREADS set and KILN_EXPECT_THREADS the count it should give
// (tests/CMakeLists.txt); skipped otherwise.
TEST(ParallelEnv, ThreadCountFromEnvironment) {
  const char* expect = std::getenv("KILN_EXPECT_THREADS");
  if (expect == nullptr) GTEST_SKIP() << "KILN_EXPECT_THREADS not set";
  const int want = std::string(expect) == "hardware"
                       ? static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))
                       : std::atoi(expect);
  EXPECT_EQ(config::num_threads(), want);
}

TEST(Parallel, ChunksCoverTheRangeOnce) {
  for (int t : {1, 2, 3, 7}) {
    ThreadCount threads(t);
    for (int64_t n : {0, 1, 5, 63, 64, 1000, 4097, 100003}) {
      for (int64_t grain : {1, 10, 1000}) {
        for (int64_t align : {1, 16}) {
          std::vector<std::atomic<int>> hits(n);
          std::atomic<int> calls{0};
          internal::parallel_for(n, grain, align, [&](int64_t lo, int64_t hi) {
            ++calls;
            EXPECT_LT(lo, hi);
            EXPECT_TRUE(lo % align == 0) << lo;
            if (hi < n) {
              EXPECT_GE(hi - lo, grain);  // rounding may shorten the last one
            }
            for (int64_t i = lo; i < hi; ++i) ++hits[i];
          });
          for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i], 1) << n << " " << i;
          EXPECT_EQ(calls, n == 0 ? 0 : internal::parallel_chunks(n, grain, align));
          EXPECT_LE(calls, t);
        }
      }
    }
  }
}

TEST(Parallel, SmallRangesStayOnTheCaller) {
  ThreadCount threads(4);
  const auto caller = std::this_thread::get_id();
  internal::parallel_for(199, 100, 1, [&](int64_t lo, int64_t hi) {
    EXPECT_EQ(std::this_thread::get_id(), caller);
    EXPECT_EQ(lo, 0);
    EXPECT_EQ(hi, 199);
  });
  EXPECT_EQ(internal::parallel_chunks(200, 100, 1), 2);
}

TEST(Parallel, NestedCallsRunInline) {
  ThreadCount threads(2);
  std::atomic<int64_t> total{0};
  internal::parallel_for(1000, 100, 1, [&](int64_t lo, int64_t hi) {
    internal::parallel_for(hi - lo, 1, 1, [&](int64_t a, int64_t b) { total += b - a; });
  });
  EXPECT_EQ(total, 1000);
}

TEST(Parallel, ConcurrentCallersAllFinish) {
  ThreadCount threads(2);
  std::vector<std::thread> callers;
  std::atomic<int64_t> total{0};
  for (int c = 0; c < 4; ++c) {
    callers.emplace_back([&] {
      for (int r = 0; r < 50; ++r) {
        internal::parallel_for(10000, 100, 1, [&](int64_t lo, int64_t hi) { total += hi - lo; });
      }
    });
  }
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(total, 4 * 50 * 10000);
}

TEST(Parallel, ExceptionsReachTheCaller) {
  ThreadCount threads(2);
  for (int64_t bad_chunk : {0, 1}) {  // thrown on the caller or on a worker, whichever runs it
    EXPECT_THROW(internal::parallel_for(1000, 100, 1,
                                        [&](int64_t lo, int64_t) {
                                          if (lo / 500 == bad_chunk) throw std::runtime_error("x");
                                        }),
                 std::runtime_error);
  }
  std::atomic<int64_t> total{0};  // the pool still works
  internal::parallel_for(1000, 100, 1, [&](int64_t lo, int64_t hi) { total += hi - lo; });
  EXPECT_EQ(total, 1000);
}

std::vector<float> random_values(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-3.f, 3.f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Large eager kernels (split over the pool) give the same bits at 1, 2 and 3 threads.
TEST(Parallel, LargeEagerKernelsAreDeterministic) {
  constexpr int64_t kRows = 700, kCols = 1001;  // 700K elements: above the split threshold
  const Tensor a = constant(random_values(kRows * kCols, 1), Shape{kRows, kCols});
  const Tensor b = constant(random_values(kRows * kCols, 2), Shape{kRows, kCols});
  const Tensor row = constant(random_values(kCols, 3), Shape{kCols});
  const Tensor col = constant(random_values(kRows, 4), Shape{kRows, 1});
  const Tensor flat = reshape(a, {kRows * kCols});
  auto run = [&] {
    std::vector<std::vector<float>> out;
    for (const Tensor& t :
         {a + b, a * row, col - a, exp(flat), exp(a * row), log(abs(a)), where(a < b, a, b),
          broadcast_to(row, {kRows, kCols}), square(flat) / 3.0f, sqrt(abs(a)), tanh(a),
          sigmoid(flat), maximum(a, b), pow(abs(a), b), relu(a), cast(cast(a, int32), float32),
          cast(logical_not(a < b), float32)}) {
      out.push_back(t.to_vector<float>());
    }
    return out;
  };
  std::vector<std::vector<float>> one;
  {
    ThreadCount threads(1);
    one = run();
  }
  for (int t : {2, 3}) {
    ThreadCount threads(t);
    const auto many = run();
    ASSERT_EQ(many.size(), one.size());
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(many[i], one[i]) << "result " << i;
  }
  // And they are right: spot-check the broadcast add against a scalar loop.
  const std::vector<float> av = a.to_vector<float>(), rv = row.to_vector<float>();
  const std::vector<float> sum = (a * row).to_vector<float>();
  for (int64_t i = 0; i < kRows * kCols; i += 997) EXPECT_EQ(sum[i], av[i] * rv[i % kCols]);
}

// Matmuls cut into row blocks or spread by product give the same bits at 1 to 4 threads (row
// blocks start at multiples of 12 rows, e.g. 504 of 1000 at 2 threads and 516 of 1024).
TEST(Parallel, MatmulIsDeterministic) {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {
      {{1000, 300}, {300, 997}, false, false},   {{300, 1000}, {997, 300}, true, true},
      {{517, 1001}, {1001, 33}, false, false},   {{1001, 517}, {1001, 40}, true, false},
      {{4, 200, 150}, {150, 170}, false, false}, {{2, 640, 64}, {2, 640, 64}, false, true},
      {{1024, 1024}, {1024, 1024}, false, false}};
  std::vector<std::pair<Tensor, Tensor>> inputs;
  unsigned seed = 10;
  for (const Case& c : cases) {
    const unsigned seed_a = ++seed, seed_b = ++seed;
    inputs.emplace_back(constant(random_values(c.a.num_elements(), seed_a), c.a),
                        constant(random_values(c.b.num_elements(), seed_b), c.b));
  }
  auto run = [&] {
    std::vector<std::vector<float>> out;
    for (size_t i = 0; i < cases.size(); ++i) {
      out.push_back(
          matmul(inputs[i].first, inputs[i].second, cases[i].ta, cases[i].tb).to_vector<float>());
    }
    return out;
  };
  std::vector<std::vector<float>> one;
  {
    ThreadCount threads(1);
    one = run();
  }
  for (int t : {2, 3, 4}) {
    ThreadCount threads(t);
    const auto many = run();
    for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(many[i], one[i]) << "case " << i;
  }
}

}  // namespace
}  // namespace kiln
