// kiln — compiled loops and reduce fusions of functions traced with unknown dims
// (input_signature with kiln::None): trip counts and the parallel split come from the run-time
// dims; results equal eager ones at sizes 0, 1 and small and large ones, bitwise the same at 1,
// 2 and 4 threads, from one trace.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "support/str.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using compiler::testing::expect_close;
using compiler::testing::random_normal_tensor;

struct ThreadCount {
  explicit ThreadCount(int n) : saved_(config::num_threads()) { config::set_num_threads(n); }
  ~ThreadCount() { config::set_num_threads(saved_); }
  int saved_;
};

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.num_elements() * dtype_size(a.dtype())) == 0;
}

template <int kArgs, typename F>
Tensor call(const F& f, const std::vector<Tensor>& in) {
  if constexpr (kArgs == 1) {
    return f(in.at(0));
  } else {
    return f(in.at(0), in.at(1));
  }
}

// Runs `f` on inputs made by `make(n)` for every n at 1, 2 and 4 threads: equal to eager
// `fn`, bitwise the same across thread counts, one trace.
template <int kArgs, typename Fn, typename F, typename Make>
void check_sizes(const Fn& fn, F& f, const Make& make, const std::vector<int64_t>& sizes,
                 float tol) {
  for (int64_t n : sizes) {
    SCOPED_TRACE(n);
    const std::vector<Tensor> in = make(n);
    Tensor first;
    for (int threads : {1, 2, 4}) {
      ThreadCount tc(threads);
      const Tensor got = call<kArgs>(f, in);
      if (threads == 1) {
        expect_close(call<kArgs>(fn, in), got, tol);
        first = got;
      } else {
        EXPECT_TRUE(same_bits(first, got)) << threads << " threads";
      }
    }
  }
  EXPECT_EQ(f.trace_count(), 1);
}

// An elementwise loop over [?, 300]: below two parallel chunks it runs on the calling thread,
// above them it is split by the pool; the choice is made at run time.
TEST(PolyFusionTest, LoopsSplitAtRunTime) {
  auto fn = [](const Tensor& x, const Tensor& b) { return exp(-abs(x)) * 2.f + b; };
  auto f = function(
      fn, {.input_signature = {TensorSpec({None, 300}), TensorSpec({300})}, .name = "poly_loop"});
  auto make = [](int64_t n) {
    return std::vector<Tensor>{random_normal_tensor({n, 300}, 1, 1.5f),
                               random_normal_tensor({300}, 2, 1.f)};
  };
  check_sizes<2>(fn, f, make, {0, 1, 7, 437, 1000, 3001}, 1e-6f);
  const std::string llvm =
      f.get_concrete_function(TensorSpec({None, 300}), TensorSpec({300})).llvm_ir();
  EXPECT_NE(llvm.find("kiln_rt_parallel_for"), std::string::npos) << llvm;
  // A flat loop over [?] too.
  auto flat = [](const Tensor& x) { return square(x) * 0.5f - 1.f; };
  auto g = function(flat, {.input_signature = {TensorSpec({None})}, .name = "poly_flat"});
  auto make_flat = [](int64_t n) { return std::vector<Tensor>{random_normal_tensor({n}, 3, 1.f)}; };
  check_sizes<1>(flat, g, make_flat, {0, 1, 100, 131071, 131072, 500001}, 1e-6f);
}

bool reduce_fused(const std::string& ir, const std::string& llvm) {
  return ir.find("\"reduce\"") != std::string::npos &&
         llvm.find("kiln_rt_kernel_call") == std::string::npos;
}

// Reductions over unknown dims are reduce fusions: sums of a row each ([?, 300] over axis 1),
// of everything ([?], split in blocks of a run-time count), of columns ([?, 300] over axis 0,
// a bias gradient) and over a middle axis ([?, 40, 64] over axis 1), NaN-free max and min.
TEST(PolyFusionTest, ReductionsOverUnknownDims) {
  auto rows = [](const Tensor& x) { return reduce_sum(exp(x * 0.25f), {{1}}) * 0.5f; };
  auto all = [](const Tensor& x, const Tensor& y) { return reduce_mean(square(x - y) * 0.5f); };
  auto cols = [](const Tensor& x) { return reduce_sum(square(x) - 1.f, {{0}}); };
  auto middle = [](const Tensor& x) { return reduce_max(abs(x) * 2.f, {{1}}, true); };
  auto all_min = [](const Tensor& x) { return reduce_min(x * 3.f); };
  auto f_rows = function(rows, {.input_signature = {TensorSpec({None, 300})}});
  auto f_all = function(all, {.input_signature = {TensorSpec({None}), TensorSpec({None})}});
  auto f_cols = function(cols, {.input_signature = {TensorSpec({None, 300})}});
  auto f_middle = function(middle, {.input_signature = {TensorSpec({None, 40, 64})}});
  auto f_min = function(all_min, {.input_signature = {TensorSpec({None})}});
  auto make_rows = [](int64_t n) {
    return std::vector<Tensor>{random_normal_tensor({n, 300}, 4, 1.f)};
  };
  auto make_flat = [](int64_t n) {
    return std::vector<Tensor>{random_normal_tensor({n}, 5, 1.5f),
                               random_normal_tensor({n}, 6, 1.5f)};
  };
  auto make_middle = [](int64_t n) {
    return std::vector<Tensor>{random_normal_tensor({n, 40, 64}, 7, 1.f)};
  };
  check_sizes<1>(rows, f_rows, make_rows, {0, 1, 5, 1000}, 1e-6f);
  check_sizes<2>(all, f_all, make_flat, {0, 1, 2, 16384, 16385, 100003, 1 << 20}, 1e-6f);
  check_sizes<1>(cols, f_cols, make_rows, {0, 1, 2, 999}, 1e-5f);
  check_sizes<1>(middle, f_middle, make_middle, {0, 1, 3, 100}, 0.f);
  check_sizes<1>(all_min, f_min, make_flat, {0, 1, 70001}, 0.f);
  {
    const auto c = f_rows.get_concrete_function(TensorSpec({None, 300}));
    EXPECT_TRUE(reduce_fused(c.ir(), c.llvm_ir())) << c.ir();
  }
  {
    const auto c = f_all.get_concrete_function(TensorSpec({None}), TensorSpec({None}));
    EXPECT_TRUE(reduce_fused(c.ir(), c.llvm_ir())) << c.ir();
    EXPECT_NE(c.llvm_ir().find("kiln_rt_parallel_for"), std::string::npos);
  }
  {
    const auto c = f_cols.get_concrete_function(TensorSpec({None, 300}));
    EXPECT_TRUE(reduce_fused(c.ir(), c.llvm_ir())) << c.ir();
  }
  {
    const auto c = f_middle.get_concrete_function(TensorSpec({None, 40, 64}));
    EXPECT_TRUE(reduce_fused(c.ir(), c.llvm_ir())) << c.ir();
  }
}

// An input of a reduce fusion read along the reduction is checked against the reduction's
// input at run time: an unknown dim may not turn out to broadcast.
TEST(PolyFusionTest, ReduceFusionInputsMustNotBroadcastAlongUnknownDims) {
  auto fn = [](const Tensor& x, const Tensor& w) { return reduce_sum(x * w, {{0}}); };
  auto f = function(fn, {.input_signature = {TensorSpec({None, 300}), TensorSpec({None, 1})},
                         .name = "weighted"});
  const Tensor x = random_normal_tensor({5, 300}, 9, 1.f);
  const Tensor w = random_normal_tensor({5, 1}, 10, 1.f);
  expect_close(fn(x, w), f(x, w), 1e-6f);
  EXPECT_NE(f.get_concrete_function(TensorSpec({None, 300}), TensorSpec({None, 1}))
                .ir()
                .find("\"reduce\""),
            std::string::npos);
  EXPECT_EQ(invalid_argument_of([&] {
              f(x, zeros({1, 1}));
            }),
            "weighted: 'fusion': an operand of type f32[?,1] is [1, 1] at run time and would "
            "broadcast to [5, 300] along dim 0, which was unknown when traced (not supported: "
            "give that dim a known size of 1)");
}

// Random ranks, dims (some 1), contiguous axis blocks, keepdims and reductions, with a prologue
// operand broadcast along a random subset of dims: equal to eager with static shapes, and with
// an unknown leading dim when the operand is broadcast along it (the broadcast then stays
// outside the fusion when the loop cannot read it in place, and takes its run-time size from
// the fusion's region).
TEST(PolyFusionTest, RandomShapesAndAxesMatchEager) {
  std::mt19937 rng(42);
  int fused = 0;
  const int kIterations = 40;
  for (int iter = 0; iter < kIterations; ++iter) {
    const int rank = 1 + static_cast<int>(rng() % 4);
    std::vector<int64_t> dims, bdims;
    for (int d = 0; d < rank; ++d) dims.push_back(rng() % 9 == 0 ? 1 : 1 + rng() % 7);
    for (int64_t d : dims) bdims.push_back(rng() % 2 ? 1 : d);
    const int a0 = static_cast<int>(rng() % rank);
    const int a1 = a0 + static_cast<int>(rng() % (rank - a0));
    std::vector<int64_t> axes;
    for (int a = a0; a <= a1; ++a) axes.push_back(a);
    const bool keep = rng() % 2;
    const int kind = static_cast<int>(rng() % 4);
    const Shape shape(dims), bshape(bdims);
    SCOPED_TRACE(
        cat(shape, " * ", bshape, " axes ", a0, "..", a1, " keepdims ", keep, " kind ", kind));
    auto fn = [axes, keep, kind](const Tensor& x, const Tensor& b) {
      const Tensor t = x * b + 0.5f;
      switch (kind) {
        case 0:
          return reduce_sum(t, axes, keep) * 2.f;
        case 1:
          return reduce_mean(t, axes, keep);
        case 2:
          return reduce_max(t, axes, keep) - 1.f;
        default:
          return reduce_min(t, axes, keep);
      }
    };
    const Tensor x = random_normal_tensor(shape, iter, 1.f);
    const Tensor b = random_normal_tensor(bshape, iter + 1000, 1.f);
    auto f = function(fn);
    expect_close(fn(x, b), f(x, b), 1e-5f);
    const std::string ir = f.get_concrete_function(TensorSpec(shape), TensorSpec(bshape)).ir();
    if (ir.find("\"reduce\"") != std::string::npos) ++fused;
    if (bdims[0] != 1) continue;
    std::vector<int64_t> poly = dims;
    poly[0] = None;
    auto g = function(fn, {.input_signature = {TensorSpec(Shape(poly)), TensorSpec(bshape)}});
    expect_close(fn(x, b), g(x, b), 1e-5f);
  }
  EXPECT_GT(fused, kIterations / 2);
}

// A broadcast to an unknown dim that the reduce loop cannot read in place ([1, 3] along both
// reduced dims of [?, 3]) is materialized outside the fusion; its size comes from the region.
TEST(PolyFusionTest, BroadcastOperandOutsideAReduceFusion) {
  auto fn = [](const Tensor& x, const Tensor& b) { return reduce_min(x * b + 0.5f); };
  auto f = function(fn, {.input_signature = {TensorSpec({None, 3}), TensorSpec({1, 3})}});
  const Tensor b = random_normal_tensor({1, 3}, 11, 1.f);
  for (int64_t n : {1, 4, 50}) {
    const Tensor x = random_normal_tensor({n, 3}, 12, 1.f);
    expect_close(fn(x, b), f(x, b), 0.f);
  }
  const std::string ir = f.get_concrete_function(TensorSpec({None, 3}), TensorSpec({1, 3})).ir();
  EXPECT_NE(ir.find("\"reduce\""), std::string::npos) << ir;
  EXPECT_EQ(f.trace_count(), 1);
}

// Reductions of static shape with no elements: over an empty axis each output is the empty
// reduction's value (0 for sums, NaN for means, -inf/+inf for max/min), as eager; with no
// outputs ([4, 0] over axis 0) nothing is computed.
TEST(PolyFusionTest, StaticEmptyReductions) {
  const Tensor x = random_normal_tensor({4, 0}, 8, 1.f);
  auto sum = [](const Tensor& t) { return reduce_sum(exp(t), {{1}}); };
  auto mean = [](const Tensor& t) { return reduce_mean(exp(t), {{1}}); };
  auto max = [](const Tensor& t) { return reduce_max(exp(t), {{1}}); };
  auto min = [](const Tensor& t) { return reduce_min(exp(t), {{0}}); };
  for (auto fn : {+sum, +mean, +max, +min}) {
    auto f = function(fn);
    expect_close(fn(x), f(x), 0.f);
  }
  auto f = function(min);
  EXPECT_NE(f.get_concrete_function(TensorSpec({4, 0})).ir().find("\"reduce\""), std::string::npos);
}

}  // namespace
}  // namespace kiln
