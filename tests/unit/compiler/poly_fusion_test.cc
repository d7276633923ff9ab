// kiln — compiled loops and reduce fusions of functions traced with unknown dims
// (input_signature with kiln::None): trip counts and the parallel split come from the run-time
// dims; results equal eager ones at sizes 0, 1 and small and large ones, bitwise the same at 1,
// 2 and 4 threads, from one trace.
#include <gtest/gtest.h>

#include <cstring>
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

}  // namespace
}  // namespace kiln
