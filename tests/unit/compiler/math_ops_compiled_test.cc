// kiln — the elementwise math ops compiled by kiln::function against their eager kernels:
// values (with the max error recorded per op), special values, broadcasting, fusion of several
// new ops into one loop, and the int32 division error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/math_ops.h"
#include "support/error.h"

namespace kiln {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Edge values, then a spread of magnitudes; 1037 elements (not a multiple of any vector width).
std::vector<float> inputs(float scale) {
  std::vector<float> v = {0.f,  -0.f,  0.5f, -0.5f, 1.5f,  2.5f,  -2.5f,  1e-8f, -1e-8f, 1e-30f,
                          kInf, -kInf, kNan, 88.f,  -88.f, 100.f, -100.f, 9.f,   -9.f,   4.f};
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> dist(-scale, scale);
  while (v.size() < 1037) v.push_back(dist(gen));
  return v;
}

Tensor vec(const std::vector<float>& v) {
  return constant(v, Shape{static_cast<int64_t>(v.size())});
}

// Checks |compiled - eager| <= abs_tol + rel_tol * |eager| (nan where eager has nan, infinities
// equal) and prints the max relative error seen.
void expect_close(const std::string& name, const Tensor& eager, const Tensor& compiled,
                  double rel_tol, double abs_tol = 0) {
  ASSERT_EQ(eager.dtype(), compiled.dtype()) << name;
  ASSERT_EQ(eager.shape(), compiled.shape()) << name;
  if (eager.dtype() != float32) {
    if (eager.dtype() == bool_) {
      EXPECT_EQ(eager.to_vector<bool>(), compiled.to_vector<bool>()) << name;
    } else {
      EXPECT_EQ(eager.to_vector<int32_t>(), compiled.to_vector<int32_t>()) << name;
    }
    return;
  }
  const auto e = eager.to_vector<float>(), c = compiled.to_vector<float>();
  double max_rel = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    if (std::isnan(e[i]) || std::isinf(e[i])) {
      EXPECT_EQ(std::isnan(c[i]), std::isnan(e[i])) << name << " element " << i;
      if (std::isinf(e[i])) {
        EXPECT_EQ(c[i], e[i]) << name << " element " << i;
      }
      continue;
    }
    const double err = std::fabs(double{c[i]} - e[i]);
    EXPECT_LE(err, abs_tol + rel_tol * std::fabs(e[i]))
        << name << " element " << i << ": eager " << e[i] << ", compiled " << c[i];
    if (e[i] != 0) max_rel = std::max(max_rel, err / std::fabs(e[i]));
  }
  std::printf("  %-14s max relative error compiled vs eager %.3g\n", name.c_str(), max_rel);
}

using Unary = Tensor (*)(const Tensor&);

struct UnaryCase {
  const char* name;
  Unary fn;
  float scale;
  double rel_tol;
  double abs_tol;
};

TEST(MathOpsCompiledTest, UnaryFloatOps) {
  const UnaryCase cases[] = {
      {"sqrt", &sqrt, 100, 0, 0},
      {"rsqrt", &rsqrt, 100, 0, 0},
      {"floor", &floor, 10, 0, 0},
      {"ceil", &ceil, 10, 0, 0},
      {"round", &round, 10, 0, 0},
      {"sign", &sign, 10, 0, 0},
      {"relu", &relu, 10, 0, 0},
      {"relu6", &relu6, 10, 0, 0},
      {"expm1", &expm1, 20, 1e-6, 0},
      {"log1p", &log1p, 20, 1e-6, 0},
      {"sin", &sin, 10, 1e-6, 1e-7},
      {"cos", &cos, 10, 1e-6, 1e-7},
      {"tanh", &tanh, 10, 1e-6, 0},
      {"sigmoid", &sigmoid, 30, 1e-6, 0},
      {"softplus", &softplus, 30, 1e-6, 1e-40},
      {"elu", &elu, 10, 1e-6, 0},
      {"selu", &selu, 10, 1e-6, 0},
      {"gelu", &gelu, 10, 1e-5, 1e-7},
  };
  for (const UnaryCase& c : cases) {
    auto compiled = function([fn = c.fn](const Tensor& x) { return fn(x); });
    const Tensor x = vec(inputs(c.scale));
    expect_close(c.name, c.fn(x), compiled(x), c.rel_tol, c.abs_tol);
    const std::string llvm = compiled.get_concrete_function(TensorSpec({1037})).llvm_ir();
    EXPECT_EQ(llvm.find("kiln_rt_kernel_call"), std::string::npos) << c.name << " is not lowered";
  }
  auto leaky = function([](const Tensor& x) { return leaky_relu(x, 0.1); });
  const Tensor x = vec(inputs(10));
  expect_close("leaky_relu", leaky_relu(x, 0.1), leaky(x), 0);
  // softplus's tail: exp(-|x|) with subnormal results, eagerly too.
  const std::vector<float> tail = softplus(vec({-90.f, -100.f, -kInf})).to_vector<float>();
  EXPECT_NEAR(tail[0], 8.194e-40, 2e-45);
  EXPECT_NEAR(tail[1], 3.72e-44, 2e-45);
  EXPECT_EQ(tail[2], 0.f);
}

TEST(MathOpsCompiledTest, SeveralNewOpsFuseIntoOneLoop) {
  auto fn = [](const Tensor& x) {
    return tanh(x) * sigmoid(x) + gelu(x) - softplus(x) * relu6(x) + floor(x);
  };
  auto compiled = function(fn, {.name = "mix"});
  const Tensor x = vec(inputs(8));
  expect_close("fused mix", fn(x), compiled(x), 1e-5, 1e-6);
  const std::string ir = compiled.get_concrete_function(TensorSpec({1037})).ir();
  EXPECT_NE(ir.find("fusion"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("\n  %1 = "), std::string::npos) << "only the fusion at top level:\n" << ir;
}

TEST(MathOpsCompiledTest, BinaryFloatOps) {
  std::vector<float> yv = inputs(5);
  for (float& y : yv) y = y == 0 ? 0.75f : y;
  yv[12] = 2.f;  // keep one nan on the left only
  const Tensor x = vec(inputs(10)), y = vec(yv);
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  const std::pair<const char*, Binary> ops[] = {
      {"minimum", &minimum},   {"maximum", &maximum},       {"mod", &mod},
      {"floordiv", &floordiv}, {"less_equal", &less_equal}, {"greater_equal", &greater_equal},
      {"equal", &equal},       {"not_equal", &not_equal},   {"pow", &pow}};
  for (auto [name, op] : ops) {
    auto compiled = function([op](const Tensor& a, const Tensor& b) { return op(a, b); });
    expect_close(name, op(x, y), compiled(x, y), 0);
    // Broadcasting: [1037] against a scalar, and a [2, 3] against a [3].
    const Tensor s = constant(1.25f);
    expect_close(std::string(name) + " (scalar)", op(x, s), compiled(x, s), 0);
    const Tensor m = constant({{-3.5f, 2.f, 7.f}, {0.5f, -1.f, 4.f}});
    const Tensor r = constant({2.f, -1.5f, 3.f});
    expect_close(std::string(name) + " (bcast)", op(m, r), compiled(m, r), 0);
  }
}

TEST(MathOpsCompiledTest, IntegerOps) {
  const int32_t min = std::numeric_limits<int32_t>::min();
  const Tensor a = constant(std::vector<int32_t>{7, -7, 7, -7, 6, min, min, 0, 5, -9}, Shape{10});
  const Tensor b = constant(std::vector<int32_t>{3, 3, -3, -3, 3, -1, 7, 4, -2, 2}, Shape{10});
  using Binary = Tensor (*)(const Tensor&, const Tensor&);
  for (auto [name, op] : std::vector<std::pair<const char*, Binary>>{{"mod", &mod},
                                                                     {"floordiv", &floordiv},
                                                                     {"minimum", &minimum},
                                                                     {"maximum", &maximum},
                                                                     {"equal", &equal},
                                                                     {"less_equal", &less_equal}}) {
    auto compiled = function([op](const Tensor& x, const Tensor& y) { return op(x, y); });
    expect_close(name, op(a, b), compiled(a, b), 0);
  }
  for (auto [name, op] : std::vector<std::pair<const char*, Unary>>{
           {"sign", &sign}, {"relu", &relu}, {"relu6", &relu6}, {"round", &round}}) {
    auto compiled = function([op](const Tensor& x) { return op(x); });
    expect_close(name, op(a), compiled(a), 0);
  }
  auto fmod = function([](const Tensor& x, const Tensor& y) { return mod(x, y); });
  const Tensor zero = constant(std::vector<int32_t>{1, 0}, Shape{2});
  try {
    fmod(zero, zero);
    ADD_FAILURE() << "no error";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("mod: Integer division by zero"), std::string::npos)
        << e.what();
  }
}

TEST(MathOpsCompiledTest, CastAndLogical) {
  const Tensor x = vec(inputs(3e9f));
  for (DType to : {int32, bool_, float32}) {
    auto compiled = function([to](const Tensor& t) { return cast(t, to); });
    expect_close("cast f32", cast(x, to), compiled(x), 0);
  }
  const Tensor i = constant(std::vector<int32_t>{0, 1, -5, 16777217}, Shape{4});
  for (DType to : {float32, bool_}) {
    auto compiled = function([to](const Tensor& t) { return cast(t, to); });
    expect_close("cast i32", cast(i, to), compiled(i), 0);
  }
  const Tensor p = constant(std::vector<bool>{true, true, false, false}, Shape{4});
  const Tensor q = constant(std::vector<bool>{true, false, true, false}, Shape{4});
  auto logic = function([](const Tensor& u, const Tensor& v) {
    return logical_or(logical_and(u, logical_not(v)), equal(u, v));
  });
  expect_close("logical", logic(p, q), logical_or(logical_and(p, logical_not(q)), equal(p, q)), 0);
  auto to_f = function([](const Tensor& u) { return cast(u, float32) + cast(u, int32) > 0; });
  EXPECT_THROW(to_f(p), InvalidArgumentError);  // float32 + int32 is a dtype error
  auto clip = function([](const Tensor& t) { return clip_by_value(t, -1.f, 1.f); });
  expect_close("clip_by_value", clip_by_value(x, -1.f, 1.f), clip(x), 0);
}

}  // namespace
}  // namespace kiln
