// kiln — float16, bfloat16, float64 and int64 compiled by kiln::function against eager
// execution: fused arithmetic (bit-exact: the 16-bit floats are rounded after every op in both),
// the float math ops, every cast, and integer division by zero.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "support/error.h"
#include "support/half.h"
#include "tests/unit/tensor_util.h"

namespace kiln {
namespace {

// Same dtype and shape; values within rel_tol (0: bit-equal values; nan matches nan).
void expect_agree(const std::string& name, const Tensor& eager, const Tensor& compiled,
                  double rel_tol = 0) {
  ASSERT_EQ(eager.dtype(), compiled.dtype()) << name;
  ASSERT_EQ(eager.shape(), compiled.shape()) << name;
  if (eager.dtype() == DType::kInt64) {  // exactly, beyond double's 53 bits
    EXPECT_EQ(eager.to_vector<int64_t>(), compiled.to_vector<int64_t>()) << name;
    return;
  }
  int mismatches = 0;
  for (int64_t i = 0; i < eager.num_elements(); ++i) {
    const double e = at(eager, i), c = at(compiled, i);
    if (std::isnan(e) || std::isnan(c)) {
      EXPECT_EQ(std::isnan(e), std::isnan(c)) << name << " element " << i;
      continue;
    }
    const bool ok = rel_tol == 0 ? e == c : std::fabs(e - c) <= rel_tol * std::fabs(e);
    if (!ok && ++mismatches <= 5) {
      ADD_FAILURE() << name << " (" << dtype_name(eager.dtype()) << ") element " << i << ": eager "
                    << e << ", compiled " << c;
    }
  }
}

Tensor values(DType dtype, int64_t n, double lo, double hi, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = dist(gen);
  v[0] = 0;
  v[1] = -1.5;
  return cast(constant(v, Shape{n}), dtype);
}

std::string llvm_of(auto& fn, const Shape& shape, DType dtype) {
  return fn.get_concrete_function(TensorSpec(shape, dtype), TensorSpec(shape, dtype)).llvm_ir();
}

TEST(DTypesCompiledTest, FusedArithmeticIsBitExact) {
  auto fn = [](const Tensor& x, const Tensor& y) {
    const Tensor t = x * y + x - y / 4;
    return where(x < y, t, abs(t) - x * x) + minimum(x, y) * 3;
  };
  auto compiled = function(fn, {.name = "arith"});
  for (DType d : {float16, bfloat16, float32, float64}) {
    const Tensor x = values(d, 1031, -20, 20, 1), y = values(d, 1031, -20, 20, 2);
    expect_agree("arith", fn(x, y), compiled(x, y));
    const std::string llvm = llvm_of(compiled, Shape{1031}, d);
    EXPECT_EQ(llvm.find("kiln_rt_kernel_call"), std::string::npos) << dtype_name(d);
  }
  // Broadcasting a row against a matrix.
  const Tensor m = values(float16, 64, -3, 3, 3), r = values(float16, 8, -3, 3, 4);
  expect_agree("broadcast", fn(reshape(m, {8, 8}), r), compiled(reshape(m, {8, 8}), r));
}

TEST(DTypesCompiledTest, Int64Arithmetic) {
  auto fn = [](const Tensor& x, const Tensor& y) {
    return (x * y + x - y) * 4096 + floordiv(x, y) + mod(x, y) + maximum(x, y) + sign(x) + relu(x) +
           abs(y);
  };
  auto compiled = function(fn, {.name = "i64"});
  std::vector<int64_t> xv, yv;
  std::mt19937_64 gen(9);
  for (int i = 0; i < 1031; ++i) {
    xv.push_back(static_cast<int64_t>(gen()) >> (i % 40));
    int64_t y = static_cast<int64_t>(gen()) >> (20 + i % 40);
    yv.push_back(y == 0 ? 3 : y);
  }
  xv[0] = INT64_MIN;
  yv[0] = -1;  // MIN / -1 wraps
  const Tensor x = constant(xv, Shape{1031}), y = constant(yv, Shape{1031});
  expect_agree("int64", fn(x, y), compiled(x, y));
  EXPECT_EQ(llvm_of(compiled, Shape{1031}, int64).find("kiln_rt_kernel_call"), std::string::npos);
  yv[5] = 0;
  const Tensor y0 = constant(yv, Shape{1031});
  auto compiled_div = function([](const Tensor& a, const Tensor& b) { return div(a, b) + 1; });
  try {
    compiled_div(x, y0);
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("div: Integer division by zero"), std::string::npos)
        << e.what();
  }
}

TEST(DTypesCompiledTest, FloatMathOps) {
  using Unary = Tensor (*)(const Tensor&);
  const std::pair<const char*, Unary> ops[] = {
      {"exp", &exp},           {"sqrt", &sqrt}, {"tanh", &tanh},   {"sigmoid", &sigmoid},
      {"softplus", &softplus}, {"gelu", &gelu}, {"sin", &sin},     {"expm1", &expm1},
      {"log1p", &log1p},       {"elu", &elu},   {"floor", &floor}, {"round", &round}};
  for (DType d : {float16, bfloat16, float64}) {
    // float64: libm in both (bit-equal up to the formulas built from several functions).
    // 16-bit: float32 computations that differ by float32 ulps, then rounded: at most one ulp.
    const double tol = d == float64 ? 1e-15 : d == float16 ? 1.0 / 1024 : 1.0 / 128;
    for (auto [name, op] : ops) {
      auto compiled = function([op](const Tensor& x) { return op(x); });
      const Tensor x = values(d, 1031, name == std::string("sqrt") ? 0 : -8, 8, 5);
      expect_agree(name, op(x), compiled(x), tol);
    }
    auto log_abs = function([](const Tensor& x) { return log(abs(x) + 0.5); });
    const Tensor x = values(d, 1031, -100, 100, 6);
    expect_agree("log", log(abs(x) + 0.5), log_abs(x), tol);
    auto powf = function([](const Tensor& x) { return pow(abs(x), 1.5) + mod(x, 3.0); });
    expect_agree("pow+mod", pow(abs(x), 1.5) + mod(x, 3.0), powf(x), tol);
  }
}

// A non-scalar constant inside a fused loop is read from a global of the constant's dtype.
TEST(DTypesCompiledTest, TensorConstantsInLoops) {
  for (DType d : {float16, bfloat16, float64, int64}) {
    auto fn = [d](const Tensor& x) { return x * constant({1.5, -2.0, 0.5, 3.0}, d) + 1; };
    auto compiled = function(fn);
    const Tensor x = cast(constant({{1.0, 2.0, 3.0, 4.0}, {-1.0, 0.25, 8.0, 7.0}}, float64), d);
    expect_agree("constant", fn(x), compiled(x));
    const std::string ir = compiled.get_concrete_function(TensorSpec({2, 4}, d)).ir();
    // (broadcast to [2, 4] by constant folding)
    const std::string row = d == int64 ? "1, -2, 0, 3, " : "1.5, -2.0, 0.5, 3.0, ";
    EXPECT_NE(ir.find("const [" + row + row.substr(0, row.size() - 2) +
                      "] : " + std::string(dtype_ir_name(d)) + "[2,4]"),
              std::string::npos)
        << ir;
  }
}

// Ops compiled as calls of the eager kernels (reductions, matmul, argmax, top_k, gather) take
// the new dtypes too, mixed with lowered elementwise ops.
TEST(DTypesCompiledTest, KernelCallsTakeTheNewDtypes) {
  auto fn = [](const Tensor& x) {
    const Tensor m = reshape(x, {8, 16});
    const Tensor p = matmul(m, m, /*transpose_a=*/false, /*transpose_b=*/true);  // [8, 8]
    const Tensor s =
        reduce_sum(p, std::vector<int64_t>{1}) + reduce_max(p, std::vector<int64_t>{0});
    const Tensor g = gather(s, argmax(p, 1, int64));
    return g * 2 + top_k(s, 3).values[":1"];
  };
  auto compiled = function(fn, {.name = "calls"});
  for (DType d : {float16, bfloat16, float64, int64}) {
    const Tensor x =
        d == int64 ? cast(values(float64, 128, -50, 50, 8), int64) : values(d, 128, -2, 2, 8);
    expect_agree("kernel calls", fn(x), compiled(x));
  }
}

TEST(DTypesCompiledTest, EveryCast) {
  std::vector<double> v = {0, 1, -2.75, 3.5, 1000, -0.5, 70000, 1e10, -1e30, 0.1, 2.5, -3.5};
  v.push_back(std::nan(""));
  const Tensor base = constant(v, Shape{static_cast<int64_t>(v.size())});
  for (DType from : kAllDTypes) {
    const Tensor x = cast(base, from);
    for (DType to : kAllDTypes) {
      auto compiled = function([to](const Tensor& t) { return cast(t * 1, to); });
      if (from == bool_) {
        auto via_where = function([to](const Tensor& t) { return cast(logical_not(t), to); });
        expect_agree(std::string("bool -> ") + std::string(dtype_name(to)),
                     cast(logical_not(x), to), via_where(x));
        continue;
      }
      expect_agree(std::string(dtype_name(from)) + " -> " + std::string(dtype_name(to)),
                   cast(x * 1, to), compiled(x));
    }
  }
}

}  // namespace
}  // namespace kiln
