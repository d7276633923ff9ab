// kiln — the elementwise math ops eagerly: hand-computed values, edge cases (nan, inf, signed
// zero, negative mod, half-to-even rounding, cast truncation), broadcasting, error messages.
#include "runtime/math_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor vec(std::vector<float> v) {
  const auto n = static_cast<int64_t>(v.size());
  return constant(v, Shape{n});
}
Tensor ivec(std::vector<int32_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return constant(v, Shape{n});
}
Tensor bvec(std::vector<bool> v) {
  const auto n = static_cast<int64_t>(v.size());
  return constant(v, Shape{n});
}

// Elementwise comparison with a relative tolerance; nan must match nan, infinities exactly.
void expect_near(const Tensor& t, const std::vector<double>& want, double rel = 2e-6) {
  ASSERT_EQ(t.dtype(), float32);
  const std::vector<float> got = t.to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i << ": " << got[i];
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + 1e-30) << "element " << i;
    }
  }
}

// The reference applied in double to every element of `in`.
std::vector<double> ref(const std::vector<float>& in, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (float x : in) out.push_back(f(x));
  return out;
}

TEST(MathOpsTest, SqrtRsqrt) {
  expect_near(sqrt(vec({0.f, 4.f, 2.f, -1.f, kInf})), {0, 2, std::sqrt(2.0), NAN, INFINITY});
  expect_near(rsqrt(vec({4.f, 0.f, 0.25f})), {0.5, INFINITY, 2});
}

TEST(MathOpsTest, Expm1Log1pAccurateNearZero) {
  const std::vector<float> x = {1e-10f, -1e-7f, 0.5f, -3.f, 20.f, 80.f, -kInf, 0.f};
  expect_near(expm1(vec(x)), ref(x, [](double v) { return std::expm1(v); }), 4e-7);
  const std::vector<float> y = {1e-10f, -1e-7f, 0.5f, 1e10f, -0.99f, 0.f};
  expect_near(log1p(vec(y)), ref(y, [](double v) { return std::log1p(v); }), 4e-7);
  expect_near(log1p(vec({-1.f, -2.f, kInf})), {-INFINITY, NAN, INFINITY});
  expect_near(expm1(vec({100.f, kNan})), {INFINITY, NAN});
}

TEST(MathOpsTest, SinCos) {
  const std::vector<float> x = {0.f, 0.5f, -2.f, 3.14159265f, 100.f};
  expect_near(sin(vec(x)), ref(x, [](double v) { return std::sin(v); }), 1e-5);
  expect_near(cos(vec(x)), ref(x, [](double v) { return std::cos(v); }), 1e-5);
}

TEST(MathOpsTest, TanhSigmoidSoftplus) {
  const std::vector<float> x = {0.f, 1e-5f, 0.3f, -0.6f, 0.7f, -2.f, 9.f, 50.f, -50.f};
  expect_near(tanh(vec(x)), ref(x, [](double v) { return std::tanh(v); }), 1e-6);
  const std::vector<float> s = {0.f, 2.f, -2.f, 30.f, -30.f, -100.f, 100.f};
  expect_near(sigmoid(vec(s)), ref(s, [](double v) { return 1 / (1 + std::exp(-v)); }), 1e-6);
  expect_near(
      softplus(vec(s)),
      ref(s, [](double v) { return std::log1p(std::exp(-std::fabs(v))) + std::max(v, 0.0); }),
      1e-6);
  expect_near(tanh(vec({kInf, -kInf, kNan})), {1, -1, NAN});
  expect_near(sigmoid(vec({kInf, -kInf})), {1, 0});
  // e^x / (1 + e^x) for x < 0: no overflow of e^-x, subnormal results keep their accuracy.
  const std::vector<float> tiny = {-87.f, -90.f, -100.f, -103.f};
  const std::vector<float> tiny_got = sigmoid(vec(tiny)).to_vector<float>();
  for (size_t i = 0; i < tiny.size(); ++i) {
    const double want = std::exp(static_cast<double>(tiny[i]));
    EXPECT_NEAR(tiny_got[i], want, 2e-6 * want + 3e-45) << tiny[i];
    EXPECT_GT(tiny_got[i], 0.f) << tiny[i];
  }
  expect_near(softplus(vec({kInf, -kInf})), {INFINITY, 0});
}

TEST(MathOpsTest, ReluFamily) {
  expect_near(relu(vec({-1.f, 0.f, 2.5f, kNan})), {0, 0, 2.5, NAN});
  EXPECT_EQ(relu(ivec({-3, 0, 4})).to_vector<int32_t>(), (std::vector<int32_t>{0, 0, 4}));
  expect_near(relu6(vec({-1.f, 3.f, 7.f})), {0, 3, 6});
  EXPECT_EQ(relu6(ivec({-3, 5, 9})).to_vector<int32_t>(), (std::vector<int32_t>{0, 5, 6}));
  expect_near(leaky_relu(vec({-10.f, 3.f})), {-2, 3});
  expect_near(leaky_relu(vec({-10.f, 3.f}), 0.01), {-0.1, 3});
  expect_near(elu(vec({-1.f, 0.f, 2.f})), {std::expm1(-1.0), 0, 2}, 1e-6);
  const double scale = 1.0507009873554804934, alpha = 1.6732632423543772848;
  expect_near(selu(vec({-1.f, 2.f})), {scale * alpha * std::expm1(-1.0), scale * 2}, 1e-6);
  // gelu(x) = x * Phi(x) = 0.5 x erfc(-x / sqrt 2): relative accuracy in the negative tail too
  // (where 1 + erf would cancel), down to the subnormals and -0 below -14.5; nan at -inf.
  const std::vector<float> g = {0.f, 1.f, -1.f, 2.5f, -3.f, 6.f, -6.f, -10.f, -13.f, -14.2f};
  const std::vector<float> got = gelu(vec(g)).to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) {
    const double want = 0.5 * g[i] * std::erfc(-g[i] / M_SQRT2);
    EXPECT_NEAR(got[i], want, 1e-6 * std::fabs(want) + 3e-45) << g[i];
    if (want != 0) {
      EXPECT_EQ(std::signbit(got[i]), std::signbit(want)) << g[i];
    }
  }
  const std::vector<float> far = gelu(vec({-20.f, -kInf, kNan})).to_vector<float>();
  EXPECT_EQ(far[0], 0.f);
  EXPECT_TRUE(std::signbit(far[0]));
  EXPECT_TRUE(std::isnan(far[1]));  // -inf * 0, as 0.5 x (1 + erf(x / sqrt 2)) gives
  EXPECT_TRUE(std::isnan(far[2]));
}

TEST(MathOpsTest, SignFloorCeilRound) {
  const std::vector<float> s = sign(vec({-3.f, 0.f, -0.f, 2.f, kNan})).to_vector<float>();
  EXPECT_EQ(s[0], -1.f);
  EXPECT_EQ(s[1], 0.f);
  EXPECT_TRUE(std::signbit(s[2]));
  EXPECT_EQ(s[3], 1.f);
  EXPECT_TRUE(std::isnan(s[4]));
  EXPECT_EQ(sign(ivec({-7, 0, 9})).to_vector<int32_t>(), (std::vector<int32_t>{-1, 0, 1}));
  expect_near(floor(vec({-1.5f, 1.5f, 2.f})), {-2, 1, 2});
  expect_near(ceil(vec({-1.5f, 1.5f, 2.f})), {-1, 2, 2});
  // Half to even, as tf.round / NumPy.
  expect_near(round(vec({0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.6f, -2.4f})), {0, 2, 2, 0, -2, 3, -2});
  EXPECT_EQ(round(ivec({3, -4})).to_vector<int32_t>(), (std::vector<int32_t>{3, -4}));
}

TEST(MathOpsTest, Pow) {
  expect_near(pow(vec({2.f, 4.f, -2.f, 0.f}), vec({3.f, 0.5f, 2.f, 0.f})), {8, 2, 4, 1});
  expect_near(pow(vec({2.f, -8.f}), 3), {8, -512});
  expect_near(pow(vec({-8.f}), 1.f / 3), {NAN});
  EXPECT_EQ(error_of([] { pow(ivec({2}), ivec({3})); }),
            "pow: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 or "
            "float64");
}

TEST(MathOpsTest, MinimumMaximumPropagateNan) {
  expect_near(minimum(vec({1.f, 5.f, kNan, 2.f}), vec({3.f, 4.f, 1.f, kNan})), {1, 4, NAN, NAN});
  expect_near(maximum(vec({1.f, 5.f, kNan, 2.f}), vec({3.f, 4.f, 1.f, kNan})), {3, 5, NAN, NAN});
  EXPECT_EQ(maximum(ivec({1, -5}), 0).to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(minimum(ivec({1, -5}), ivec({0, 0})).to_vector<int32_t>(),
            (std::vector<int32_t>{0, -5}));
  expect_near(clip_by_value(vec({-5.f, 0.5f, 5.f}), -1, 1), {-1, 0.5, 1});
}

TEST(MathOpsTest, FloorModAndFloorDivFollowPython) {
  // Python: 7 % -3 == -2, -7 % 3 == 2, -7 // 2 == -4, 7 // -2 == -4.
  EXPECT_EQ(mod(ivec({7, -7, 7, -7, 6}), ivec({3, 3, -3, -3, 3})).to_vector<int32_t>(),
            (std::vector<int32_t>{1, 2, -2, -1, 0}));
  EXPECT_EQ(floordiv(ivec({7, -7, 7, -7, 6}), ivec({2, 2, -2, -2, 3})).to_vector<int32_t>(),
            (std::vector<int32_t>{3, -4, -4, 3, 2}));
  const int32_t min = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(floordiv(ivec({min}), ivec({-1})).to_vector<int32_t>(), (std::vector<int32_t>{min}));
  EXPECT_EQ(mod(ivec({min}), ivec({-1})).to_vector<int32_t>(), (std::vector<int32_t>{0}));
  expect_near(mod(vec({7.5f, -7.5f, 7.5f, 1.f}), vec({2.f, 2.f, -2.f, 0.f})),
              {1.5, 0.5, -0.5, NAN});
  expect_near(floordiv(vec({7.5f, -7.5f, 1.f}), vec({2.f, 2.f, 0.f})), {3, -4, INFINITY});
  EXPECT_EQ(error_of([] { mod(ivec({1, 2}), ivec({1, 0})); }), "mod: Integer division by zero");
  EXPECT_EQ(error_of([] { floordiv(ivec({1}), 0); }), "floordiv: Integer division by zero");
}

TEST(MathOpsTest, Comparisons) {
  const Tensor a = vec({1.f, 2.f, 3.f, kNan});
  const Tensor b = vec({2.f, 2.f, 2.f, kNan});
  EXPECT_EQ(less_equal(a, b).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(greater_equal(a, b).to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  EXPECT_EQ(equal(a, b).to_vector<bool>(), (std::vector<bool>{false, true, false, false}));
  EXPECT_EQ(not_equal(a, b).to_vector<bool>(), (std::vector<bool>{true, false, true, true}));
  EXPECT_EQ((a <= 2).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ((2 >= a).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(equal(ivec({1, 2}), 2).to_vector<bool>(), (std::vector<bool>{false, true}));
  EXPECT_EQ(equal(bvec({true, false}), bvec({true, true})).to_vector<bool>(),
            (std::vector<bool>{true, false}));
  EXPECT_EQ(error_of([] { equal(vec({1.f}), ivec({1})); }),
            "equal: input #1 (zero-based) was expected to be a float32 tensor but is a int32 "
            "tensor");
  EXPECT_EQ(error_of([] { less_equal(bvec({true}), bvec({true})); }),
            "less_equal: input #0 (zero-based) is a bool tensor; expected float16, bfloat16, "
            "float32, float64, int32 or int64");
}

TEST(MathOpsTest, ComparisonsBroadcast) {
  const Tensor a = constant(std::vector<float>{1, 2}, Shape{2, 1});
  const Tensor c = greater_equal(a, vec({0.f, 1.5f, 2.f}));
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(c.to_vector<bool>(), (std::vector<bool>{true, false, false, true, true, true}));
  EXPECT_EQ(error_of([] {
              equal(vec({1.f, 2.f}), vec({1.f, 2.f, 3.f}));
            }),
            "equal: Incompatible shapes: [2] vs. [3]");
}

TEST(MathOpsTest, Logical) {
  const Tensor a = bvec({true, true, false, false});
  const Tensor b = bvec({true, false, true, false});
  EXPECT_EQ(logical_and(a, b).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(logical_or(a, b).to_vector<bool>(), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(logical_not(a).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(logical_and(a, constant(true)).to_vector<bool>(), a.to_vector<bool>());
  EXPECT_EQ(error_of([] { logical_or(bvec({true}), vec({1.f})); }),
            "logical_or: input #1 (zero-based) was expected to be a bool tensor but is a float32 "
            "tensor");
}

TEST(MathOpsTest, Cast) {
  // Float to int truncates toward zero; nan and out-of-range give INT32_MIN (TF on x86).
  const int32_t min = std::numeric_limits<int32_t>::min();
  EXPECT_EQ(cast(vec({1.9f, -1.9f, 0.5f, -0.5f, 3e9f, kNan}), int32).to_vector<int32_t>(),
            (std::vector<int32_t>{1, -1, 0, 0, min, min}));
  EXPECT_EQ(cast(vec({0.f, -0.f, 0.1f, kNan}), bool_).to_vector<bool>(),
            (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(cast(ivec({0, -3}), bool_).to_vector<bool>(), (std::vector<bool>{false, true}));
  expect_near(cast(ivec({16777217, -2}), float32), {16777216, -2});
  expect_near(cast(bvec({true, false}), float32), {1, 0});
  EXPECT_EQ(cast(bvec({true, false}), int32).to_vector<int32_t>(), (std::vector<int32_t>{1, 0}));
  const Tensor same = cast(vec({1.5f}), float32);
  EXPECT_EQ(same.dtype(), float32);
  EXPECT_EQ(same.item<float>(), 1.5f);
  EXPECT_EQ((cast(constant(2), float32) + 0.5f).item<float>(), 2.5f);
}

TEST(MathOpsTest, FloatOnlyOpsRejectIntegers) {
  const Tensor i = ivec({1, 2});
  for (auto [name, fn] : std::vector<std::pair<std::string, std::function<Tensor(const Tensor&)>>>{
           {"sqrt", [](const Tensor& t) { return sqrt(t); }},
           {"tanh", [](const Tensor& t) { return tanh(t); }},
           {"gelu", [](const Tensor& t) { return gelu(t); }},
           {"floor", [](const Tensor& t) { return floor(t); }},
           {"leaky_relu", [](const Tensor& t) { return leaky_relu(t); }}}) {
    EXPECT_EQ(error_of([&] { fn(i); }), name +
                                            ": input #0 (zero-based) is a int32 tensor; expected "
                                            "float16, bfloat16, float32 or float64");
  }
  EXPECT_EQ(error_of([] { relu(bvec({true})); }),
            "relu: input #0 (zero-based) is a bool tensor; expected float16, bfloat16, float32, "
            "float64, int32 or int64");
  EXPECT_EQ(error_of([] { minimum(ivec({1}), 0.5); }),
            "minimum: cannot convert 0.5 to an int32 operand (the other operand is an int32 "
            "tensor); use kiln::cast");
}

// Same input, same bits, wherever the element sits in the buffer.
TEST(MathOpsTest, TranscendentalsAreDeterministic) {
  std::vector<float> base(100);
  for (int i = 0; i < 100; ++i) base[i] = -5.f + 0.1f * static_cast<float>(i);
  using Fn = Tensor (*)(const Tensor&);
  for (Fn fn : {static_cast<Fn>(&tanh), static_cast<Fn>(&sigmoid), static_cast<Fn>(&expm1),
                static_cast<Fn>(&log1p), static_cast<Fn>(&sin), static_cast<Fn>(&gelu),
                static_cast<Fn>(&softplus)}) {
    const std::vector<float> whole = fn(vec(base)).to_vector<float>();
    for (int shift : {1, 3, 17}) {
      std::vector<float> shifted(base.begin() + shift, base.end());
      const std::vector<float> part = fn(vec(shifted)).to_vector<float>();
      for (size_t i = 0; i < part.size(); ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(part[i]), std::bit_cast<uint32_t>(whole[i + shift]))
            << "element " << i + shift;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
