// kiln — reduce fusions and parallel compiled loops: compiled results against eager ones
// (NaN/Inf included for max/min), the IR they come from, and bitwise-equal results for 1, 2
// and 4 threads.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln {
namespace {

using compiler::testing::expect_close;
using compiler::testing::random_normal_tensor;

struct ThreadCount {
  explicit ThreadCount(int n) : saved_(config::num_threads()) { config::set_num_threads(n); }
  ~ThreadCount() { config::set_num_threads(saved_); }
  int saved_;
};

Tensor huber_mean(const Tensor& y, const Tensor& p) {
  auto error = y - p;
  auto is_small_error = abs(error) < 1;
  return reduce_mean(where(is_small_error, square(error) / 2, abs(error) - 0.5));
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.num_elements() * dtype_size(a.dtype())) == 0;
}

// Scalar work that only the epilogue uses (a regularization term added to a mean) fuses into
// the reduce fusion without feeding the reduction; scalar work that feeds both is computed in
// both places.
TEST(ReduceFusionTest, ScalarWorkOnlyTheEpilogueUses) {
  auto loss = [](const Tensor& a, const Tensor& b, const Tensor& c) {
    const Tensor l2 = a + b;
    return reduce_mean(abs(c) * l2) + 0.05f * l2;
  };
  auto f = function(loss, {.name = "mae_l2"});
  const Tensor a = constant(0.75f), b = constant(-2.5f);
  const Tensor c = random_normal_tensor(Shape{32, 1}, 3, 1.f);
  auto concrete = f.get_concrete_function(TensorSpec({}), TensorSpec({}), TensorSpec({32, 1}));
  EXPECT_NE(concrete.ir().find("kind = \"reduce\""), std::string::npos) << concrete.ir();
  expect_close(loss(a, b, c), f(a, b, c), 1e-6f);
  auto g = function([](const Tensor& a, const Tensor& b, const Tensor& c) {
    return reduce_mean(abs(c)) + 0.05f * (a + b);
  });
  expect_close(reduce_mean(abs(c)) + 0.05f * (a + b), g(a, b, c), 1e-6f);
}

TEST(ReduceFusionTest, HuberMeanIsOneReduceFusion) {
  auto f = function(huber_mean, {.name = "huber_mean"});
  auto concrete = f.get_concrete_function(TensorSpec({4096}), TensorSpec({4096}));
  const std::string ir = concrete.ir();
  EXPECT_NE(ir.find("fusion (%arg0, %arg1) {kind = \"reduce\"}"), std::string::npos) << ir;
  EXPECT_NE(ir.find("reduce_mean"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("\n  %1 = "), std::string::npos) << "only the fusion at top level:\n" << ir;
  EXPECT_EQ(concrete.llvm_ir().find("kiln_rt_kernel_call"), std::string::npos)
      << "the reduction runs no kernel";
}

TEST(ReduceFusionTest, MatchesEagerAcrossSizes) {
  auto f = function(huber_mean);
  // One task; one row split into blocks (with a short last block); large enough to go parallel.
  for (int64_t n : {2, 7, 1000, 16384, 16385, 100003, 1 << 20}) {
    SCOPED_TRACE(n);
    Tensor y = random_normal_tensor({n}, 1, 1.5f), p = random_normal_tensor({n}, 2, 1.5f);
    expect_close(huber_mean(y, p), f(y, p), 1e-6f);
  }
}

TEST(ReduceFusionTest, TrailingAxesAndEpilogue) {
  const Tensor x = random_normal_tensor({6, 5, 300}, 3, 2.f);
  auto rows = [](const Tensor& t) { return reduce_sum(exp(t * 0.25f), {{-1}}) * 0.5f + 1.f; };
  auto two = [](const Tensor& t) { return reduce_mean(square(t), {{1, 2}}, true); };
  auto max_rows = [](const Tensor& t) { return reduce_max(abs(t) - 1.f, {{2}}); };
  auto min_all = [](const Tensor& t) { return reduce_min(t * t - 3.f); };
  // The broadcast row max is read in place, one value per row.
  auto softmax_sum = [](const Tensor& t) {
    return reduce_sum(exp(t - reduce_max(t, {{-1}}, true)), {{-1}}, true);
  };
  for (auto fn : {+rows, +two, +max_rows, +min_all, +softmax_sum}) {
    auto compiled = function(fn);
    expect_close(fn(x), compiled(x), 1e-6f);
    EXPECT_NE(compiled.get_concrete_function(TensorSpec({6, 5, 300})).ir().find("\"reduce\""),
              std::string::npos);
  }
}

bool is_reduce_fusion(const std::string& ir) { return ir.find("\"reduce\"") != std::string::npos; }

// Leading and middle axes ([P, R, Q] with Q > 1) fuse: per-column accumulators over r, column
// blocks of 256 (so 300 and 600 columns leave a short last block), prologue inputs broadcast
// along whole groups read in place, keepdims, and an epilogue per output.
TEST(ReduceFusionTest, LeadingAndMiddleAxes) {
  const Tensor x = random_normal_tensor({7, 40, 600}, 17, 1.5f);
  const Tensor row = random_normal_tensor({600}, 18, 1.f);
  const Tensor mask = random_normal_tensor({40, 1}, 19, 1.f);
  // A bias-gradient-like sum over the batch of computed values, and a lone one (a lone
  // reduction over leading axes is a reduce fusion too, see fuse.cc).
  auto bias_grad = [](const Tensor& t) { return reduce_sum(square(t), {{0}}); };
  auto lone = [](const Tensor& t) { return reduce_sum(t, {{0}}); };
  auto lead2 = [](const Tensor& t) { return reduce_mean(exp(t * 0.5f), {{0, 1}}) * 2.f; };
  auto middle = [](const Tensor& t) { return reduce_sum(square(t), {{1}}, true) + 1.f; };
  auto col_max = [](const Tensor& t) { return reduce_max(abs(t) - 1.f, {{1}}); };
  auto col_min = [](const Tensor& t) { return reduce_min(t * 3.f, {{0}}, true); };
  for (auto fn : {+bias_grad, +lone, +lead2, +middle, +col_max, +col_min}) {
    auto compiled = function(fn);
    expect_close(fn(x), compiled(x), 1e-6f);
    const auto concrete = compiled.get_concrete_function(TensorSpec({7, 40, 600}));
    EXPECT_TRUE(is_reduce_fusion(concrete.ir())) << concrete.ir();
    EXPECT_EQ(concrete.llvm_ir().find("kiln_rt_kernel_call"), std::string::npos);
  }
  auto with_inputs = [](const Tensor& t, const Tensor& r, const Tensor& m) {
    return reduce_sum((t - r) * m, {{1}});
  };
  auto compiled = function(with_inputs);
  expect_close(with_inputs(x, row, mask), compiled(x, row, mask), 1e-6f);
  EXPECT_TRUE(is_reduce_fusion(
      compiled
          .get_concrete_function(TensorSpec({7, 40, 600}), TensorSpec({600}), TensorSpec({40, 1}))
          .ir()));
  // A bias gradient of a 2-D batch, float64 too.
  const Tensor g = random_normal_tensor({128, 300}, 20, 1.f);
  auto compiled_bias = function(bias_grad);
  expect_close(bias_grad(g), compiled_bias(g), 1e-6f);
  const Tensor g64 = cast(g, DType::kFloat64);
  const auto a = bias_grad(g64).to_vector<double>(), b = compiled_bias(g64).to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12 * (1 + std::fabs(a[i])));
}

// Axes that are not contiguous (0 and 2 of a 3-D input) stay kernel calls, with the same values.
TEST(ReduceFusionTest, NonContiguousAxesStayKernelCalls) {
  auto outer = [](const Tensor& t) { return reduce_sum(exp(t), {{0, 2}}); };
  auto compiled = function(outer);
  const Tensor x = random_normal_tensor({6, 5, 30}, 4, 1.f);
  expect_close(outer(x), compiled(x), 1e-6f);
  const std::string ir = compiled.get_concrete_function(TensorSpec({6, 5, 30})).ir();
  EXPECT_FALSE(is_reduce_fusion(ir)) << ir;
  // Size-1 dims between reduced axes do not count: axes 0 and 2 of [6, 1, 30] fuse.
  const Tensor y = random_normal_tensor({6, 1, 30}, 5, 1.f);
  expect_close(outer(y), compiled(y), 1e-6f);
  EXPECT_TRUE(is_reduce_fusion(compiled.get_concrete_function(TensorSpec({6, 1, 30})).ir()));
}

// Column reductions propagate NaN and +-Inf per column, like the kernels.
TEST(ReduceFusionTest, ColumnMaxMinNanAndInf) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v(50 * 300);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 89) - 40.f;
  v[3 * 300 + 5] = nan;     // column 5: NaN
  v[49 * 300 + 17] = inf;   // column 17: +Inf in the last row
  v[0 * 300 + 299] = -inf;  // column 299 (in the short last block): -Inf
  v[7 * 300 + 260] = nan;   // column 260: NaN and -Inf
  v[8 * 300 + 260] = -inf;
  const Tensor x = constant(v, Shape{50, 300});
  auto col_max = [](const Tensor& t) { return reduce_max(t + 1.f, {{0}}); };
  auto col_min = [](const Tensor& t) { return reduce_min(t + 1.f, {{0}}); };
  for (auto fn : {+col_max, +col_min}) {
    auto compiled = function(fn);
    expect_close(fn(x), compiled(x), 0.f);
  }
}

TEST(ReduceFusionTest, MaxMinPropagateNanAndInf) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v(4 * 70000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 97) - 40.f;
  v[5] = nan;                   // row 0: NaN
  v[70000 + 17] = inf;          // row 1: +Inf
  v[2 * 70000 + 69999] = -inf;  // row 2: -Inf, in the last element
  v[3 * 70000 + 3] = nan;       // row 3: NaN and -Inf
  v[3 * 70000 + 4] = -inf;
  const Tensor x = constant(v, Shape{4, 70000});
  auto row_max = [](const Tensor& t) { return reduce_max(t + 1.f, {{1}}); };
  auto row_min = [](const Tensor& t) { return reduce_min(t + 1.f, {{1}}); };
  auto all_max = [](const Tensor& t) { return reduce_max(t * 2.f); };
  for (auto fn : {+row_max, +row_min, +all_max}) {
    auto compiled = function(fn);
    expect_close(fn(x), compiled(x), 0.f);
  }
  // A NaN in one block of a split row wins over every other block.
  auto compiled = function(all_max);
  std::vector<float> w(1 << 20, 1.f);
  w[700000] = nan;
  EXPECT_TRUE(std::isnan(compiled(constant(w, Shape{1 << 20})).item<float>()));
  w[700000] = inf;
  EXPECT_EQ(compiled(constant(w, Shape{1 << 20})).item<float>(), inf);
}

TEST(ReduceFusionTest, Float64) {
  const Tensor x = cast(random_normal_tensor({3, 50000}, 5, 1.f), DType::kFloat64);
  auto fn = [](const Tensor& t) { return reduce_mean(square(t) + 1.0, {{1}}); };
  auto compiled = function(fn);
  const auto a = fn(x).to_vector<double>(), b = compiled(x).to_vector<double>();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12 * std::fabs(a[i]));
}

// The same compiled code gives the same bits whatever the thread count: reductions combine
// per-block partials in block order; elementwise chunks are independent.
TEST(ReduceFusionTest, BitwiseSameForOneTwoFourThreads) {
  const Tensor y = random_normal_tensor({1 << 21}, 6, 1.5f);
  const Tensor p = random_normal_tensor({1 << 21}, 7, 1.5f);
  const Tensor m = random_normal_tensor({64, 20000}, 8, 1.f);
  auto full = function(huber_mean);
  auto rows = function([](const Tensor& t) { return reduce_sum(tanh(t) * 3.f, {{1}}); });
  auto loop = function([](const Tensor& a, const Tensor& b) { return exp(-abs(a)) * b + 1.f; });
  // Column sums: one p with 79 column blocks; 64 p with 1 block each; a middle axis.
  const Tensor c = random_normal_tensor({20, 20000}, 21, 1.f);
  const Tensor d = random_normal_tensor({64, 50, 300}, 22, 1.f);
  auto cols = function([](const Tensor& t) { return reduce_sum(tanh(t) * 3.f, {{0}}); });
  auto mid = function([](const Tensor& t) { return reduce_mean(square(t), {{1}}); });
  std::vector<Tensor> first;
  for (int threads : {1, 2, 4}) {
    ThreadCount tc(threads);
    std::vector<Tensor> got = {full(y, p), rows(m), loop(y, p), cols(c), mid(d)};
    if (first.empty()) {
      first = got;
      continue;
    }
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(same_bits(first[i], got[i])) << "result " << i << " at " << threads;
    }
  }
  EXPECT_NE(full.get_concrete_function(TensorSpec({1 << 21}), TensorSpec({1 << 21}))
                .llvm_ir()
                .find("kiln_rt_parallel_for"),
            std::string::npos);
  for (const std::string& llvm : {cols.get_concrete_function(TensorSpec({20, 20000})).llvm_ir(),
                                  mid.get_concrete_function(TensorSpec({64, 50, 300})).llvm_ir()}) {
    EXPECT_NE(llvm.find("kiln_rt_parallel_for"), std::string::npos);
    EXPECT_EQ(llvm.find("kiln_rt_kernel_call"), std::string::npos);
  }
}

// An Adam-style step compiles to one multi-output loop and matches eager execution, at sizes
// on one thread and split across the pool.
TEST(ReduceFusionTest, MultiOutputAdamStep) {
  auto step = [](const Tensor& p, const Tensor& m, const Tensor& v, const Tensor& g) {
    Tensor m2 = m * 0.9f + g * 0.1f;
    Tensor v2 = v * 0.999f + square(g) * 0.001f;
    Tensor p2 = p - m2 / (sqrt(v2) + 1e-8f) * 0.001f;
    return std::vector<Tensor>{p2, m2, v2};
  };
  auto compiled = function(step);
  for (int64_t n : {1000, 1 << 20}) {
    SCOPED_TRACE(n);
    Tensor p = random_normal_tensor({n}, 9, 1.f), m = random_normal_tensor({n}, 10, 1.f);
    Tensor v = abs(random_normal_tensor({n}, 11, 1.f)), g = random_normal_tensor({n}, 12, 1.f);
    auto want = step(p, m, v, g);
    auto got = compiled(p, m, v, g);
    ASSERT_EQ(want.size(), got.size());
    for (size_t i = 0; i < want.size(); ++i) expect_close(want[i], got[i], 1e-6f);
  }
  const std::string ir = compiled
                             .get_concrete_function(TensorSpec({1000}), TensorSpec({1000}),
                                                    TensorSpec({1000}), TensorSpec({1000}))
                             .ir();
  EXPECT_NE(ir.find(":3 = fusion"), std::string::npos) << ir;
}

// Transposes feeding elementwise ops are strided reads of the loop: same values as eager, no
// kernel call, at 2-D and 3-D permutations and at a size split across the pool.
TEST(ReduceFusionTest, TransposeReadInPlace) {
  auto t2 = [](const Tensor& a, const Tensor& b) { return exp(transpose(a) * 0.5f) + b; };
  auto t3 = [](const Tensor& a, const Tensor& b) {
    return abs(transpose(a, std::vector<int64_t>{2, 0, 1})) - b;
  };
  auto c2 = function(t2);
  auto c3 = function(t3);
  for (int64_t n : {37, 1024}) {
    SCOPED_TRACE(n);
    const Tensor a = random_normal_tensor({n, 300}, 13, 1.f),
                 b = random_normal_tensor({300, n}, 14, 1.f);
    expect_close(t2(a, b), c2(a, b), 1e-6f);
    EXPECT_EQ(c2.get_concrete_function(TensorSpec({n, 300}), TensorSpec({300, n}))
                  .llvm_ir()
                  .find("kiln_rt_kernel_call"),
              std::string::npos);
  }
  const Tensor a = random_normal_tensor({4, 5, 6}, 15, 1.f),
               b = random_normal_tensor({6, 4, 5}, 16, 1.f);
  expect_close(t3(a, b), c3(a, b), 0.f);
}

// Loops below two parallel chunks stay on the calling thread: no runtime call at all.
TEST(ReduceFusionTest, SmallLoopsDoNotCallThePool) {
  auto loop = function([](const Tensor& a) { return exp(-abs(a)) * 2.f; });
  auto red = function([](const Tensor& a) { return reduce_sum(exp(a)); });
  auto check = [](auto& f) {
    const std::string llvm_small = f.get_concrete_function(TensorSpec({1000})).llvm_ir();
    EXPECT_EQ(llvm_small.find("kiln_rt_parallel_for"), std::string::npos);
    const std::string llvm_big = f.get_concrete_function(TensorSpec({1 << 20})).llvm_ir();
    EXPECT_NE(llvm_big.find("kiln_rt_parallel_for"), std::string::npos);
  };
  check(loop);
  check(red);
}

}  // namespace
}  // namespace kiln
