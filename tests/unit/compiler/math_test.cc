// kiln — accuracy and special values of the compiled exp and log polynomials.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>

#include "compiler/compile.h"
#include "compiler/math_accuracy.h"
#include "gtest/gtest.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln::compiler {
namespace {

using namespace ::kiln::compiler::testing;  // NOLINT

// Compiles `kind` applied to an f32[n] argument (a lone op) and runs it on `x`.
std::vector<float> run_unary(ir::OpKind kind, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(x.size());
  ir::Function fn("unary");
  ir::Value* arg = fn.body().add_argument(f32({n}), "x");
  ir::Builder b(&fn.body());
  b.create_return({op(b, kind, {arg})});
  auto exe = compile_or_die(fn);
  std::vector<float> out(x.size(), -1.0f);
  if (!exe) return out;
  const void* args[] = {x.data()};
  void* results[] = {out.data()};
  absl::Status st = exe->run(args, results);
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

double relative_error(float got, double want) {
  if (want == 0) return got == 0 ? 0 : std::numeric_limits<double>::infinity();
  return std::fabs((static_cast<double>(got) - want) / want);
}

TEST(MathTest, ExpAccuracy) {
  std::vector<float> x;
  const int kSteps = 1 << 21;
  for (int i = 0; i <= kSteps; ++i) x.push_back(-80.0f + 160.0f * i / kSteps);
  for (float v : random_floats(1 << 20, -80, 80, 42)) x.push_back(v);
  for (float v : random_floats(1 << 16, -1e-3f, 1e-3f, 43)) x.push_back(v);
  std::vector<float> y = run_unary(ir::OpKind::kExp, x);
  double max_err = 0;
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double err = relative_error(y[i], std::exp(static_cast<double>(x[i])));
    if (!(err <= max_err)) {
      max_err = err;
      worst = x[i];
    }
  }
  std::cout << "exp: max relative error " << max_err << " at x = " << worst << "\n";
  EXPECT_LT(max_err, 2e-7) << "at x = " << worst;
}

TEST(MathTest, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {0.0f,  -0.0f,  inf,     -inf,    nan,     88.72f,  88.73f, 89.0f, 100.0f,
                          1e30f, -87.0f, -100.0f, -103.9f, -104.0f, -110.0f, -1e30f, 1.0f};
  std::vector<float> y = run_unary(ir::OpKind::kExp, x);
  EXPECT_EQ(y[0], 1.0f);
  EXPECT_EQ(y[1], 1.0f);
  EXPECT_EQ(y[2], inf);
  EXPECT_EQ(y[3], 0.0f);
  EXPECT_TRUE(std::isnan(y[4]));
  EXPECT_TRUE(std::isfinite(y[5]));
  EXPECT_LT(relative_error(y[5], std::exp(static_cast<double>(x[5]))), 2e-7);
  EXPECT_EQ(y[6], inf);
  EXPECT_EQ(y[7], inf);
  EXPECT_EQ(y[8], inf);
  EXPECT_EQ(y[9], inf);
  EXPECT_LT(relative_error(y[10], std::exp(static_cast<double>(x[10]))), 2e-7);
  // Subnormal results: within a couple of subnormal steps (1.4e-45) of the true value.
  EXPECT_NEAR(y[11], std::exp(static_cast<double>(x[11])), 3e-45);
  EXPECT_GT(y[11], 0.0f);
  EXPECT_NEAR(y[12], std::exp(static_cast<double>(x[12])), 1.5e-45);
  EXPECT_EQ(y[13], 0.0f);
  EXPECT_EQ(y[14], 0.0f);
  EXPECT_EQ(y[15], 0.0f);
  EXPECT_LT(relative_error(y[16], std::exp(1.0)), 2e-7);
}

TEST(MathTest, LogAccuracy) {
  std::vector<float> x;
  // Log-uniform over (1e-30, 1e30), plus a dense sample around 1 where log(x) is near 0.
  const int kSteps = 1 << 21;
  for (int i = 1; i < kSteps; ++i) {
    x.push_back(static_cast<float>(std::pow(10.0, -30.0 + 60.0 * i / kSteps)));
  }
  for (float v : random_floats(1 << 18, 0.5f, 2.0f, 44)) x.push_back(v);
  for (float v : random_floats(1 << 16, 0.999f, 1.001f, 45)) x.push_back(v);
  std::vector<float> y = run_unary(ir::OpKind::kLog, x);
  double max_err = 0;
  float worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double err = relative_error(y[i], std::log(static_cast<double>(x[i])));
    if (!(err <= max_err)) {
      max_err = err;
      worst = x[i];
    }
  }
  std::cout << "log: max relative error " << max_err << " at x = " << worst << "\n";
  EXPECT_LT(max_err, 2e-7) << "at x = " << worst;
}

TEST(MathTest, LogSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float denorm = std::numeric_limits<float>::denorm_min();
  std::vector<float> x = {1.0f,
                          0.0f,
                          -0.0f,
                          -1.0f,
                          inf,
                          -inf,
                          nan,
                          denorm,
                          1e-40f,
                          std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::min()};
  std::vector<float> y = run_unary(ir::OpKind::kLog, x);
  EXPECT_EQ(y[0], 0.0f);
  EXPECT_EQ(y[1], -inf);
  EXPECT_EQ(y[2], -inf);
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(y[4], inf);
  EXPECT_TRUE(std::isnan(y[5]));
  EXPECT_TRUE(std::isnan(y[6]));
  for (size_t i = 7; i < x.size(); ++i) {
    EXPECT_LT(relative_error(y[i], std::log(static_cast<double>(x[i]))), 2e-7) << x[i];
  }
}

// exp and log inside a fusion vectorize: no call to a scalar libm function remains.
TEST(MathTest, ExpLogFusionHasNoLibmCalls) {
  ir::Function fn("softplusish");
  ir::Value* x = fn.body().add_argument(f32({4096}), "x");
  ir::Builder b(&fn.body());
  ir::Value* out = fusion(b, {x}, f32({4096}), [](ir::Builder& rb, std::vector<ir::Value*> v) {
    ir::Value* e = op(rb, ir::OpKind::kExp, {v[0]});
    ir::Value* one = rb.scalar_constant(DType::kFloat32, 1.0);
    return op(rb, ir::OpKind::kLog, {op(rb, ir::OpKind::kAdd, {e, one})});
  });
  b.create_return({out});
  CompileOptions options;
  options.cpu = "znver3";
  auto text = emit_llvm_ir(fn, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->find("@expf"), std::string::npos);
  EXPECT_EQ(text->find("@logf"), std::string::npos);
  EXPECT_NE(text->find("<8 x float>"), std::string::npos);
}

// Max ulp error of every compiled float32 math function against the double-precision value,
// over every 1021st float32 bit pattern (4.2 million inputs of all signs and magnitudes,
// subnormals, infinities and nans included). The bounds are the measurements of bench/vmath_ulp.cc
// (recorded in compiler/lower_elementwise_math.cc), rounded up: `all` over
// every input, `normal` over the inputs whose exact result is a normal float.
struct UlpBound {
  double all, normal;
};

TEST(MathTest, MaxUlpErrorOnSample) {
  const std::map<std::string, UlpBound> bounds = {
      {"exp", {1.05, 1.05}},
      {"log", {1.0, 1.0}},
      {"expm1", {2.5, 2.5}},
      {"log1p", {2.5, 2.5}},
      {"tanh", {1.5, 1.5}},
      {"sigmoid", {3.0, 3.0}},
      {"softplus", {2.75, 2.75}},
      {"gelu", {18, 18}},
      {"sin", {accuracy::kSinMaxUlp, accuracy::kSinMaxUlp}},
      {"cos", {accuracy::kCosMaxUlp, accuracy::kCosMaxUlp}},
  };
  constexpr int64_t kChunk = 1 << 16, kStride = 1021, kTotal = int64_t{1} << 32;
  for (const accuracy::MathFunction& f : accuracy::math_functions()) {
    SCOPED_TRACE(f.name);
    auto kernel = accuracy::UnaryKernel::create(f.kind, kChunk);
    ASSERT_TRUE(kernel.ok()) << kernel.status();
    accuracy::UlpStats all, normal;
    std::vector<float> x(kChunk), y(kChunk);
    for (int64_t start = 0; start < kTotal; start += kChunk * kStride) {
      for (int64_t i = 0; i < kChunk; ++i) {
        const auto bits = static_cast<uint32_t>((start + i * kStride) % kTotal);
        std::memcpy(&x[i], &bits, sizeof bits);
      }
      ASSERT_TRUE(kernel->run(x.data(), y.data()).ok());
      for (int64_t i = 0; i < kChunk && start + i * kStride < kTotal; ++i) {
        const double want = f.reference(x[i]);
        all.add(x[i], y[i], want);
        if (std::fabs(want) >= 0x1p-126 && std::fabs(want) <= 0x1.fffffep127) {
          normal.add(x[i], y[i], want);
        }
      }
    }
    std::cout << f.name << ": max " << all.max_ulp << " ulp at x = " << all.worst_x
              << "; normal results: max " << normal.max_ulp << " ulp at x = " << normal.worst_x
              << "\n";
    const UlpBound& bound = bounds.at(f.name);
    EXPECT_LE(all.max_ulp, bound.all)
        << "at x = " << all.worst_x << ": got " << all.worst_got << ", exact " << all.worst_want;
    EXPECT_LE(normal.max_ulp, bound.normal) << "at x = " << normal.worst_x;
    EXPECT_GT(all.count, int64_t{4000000});
  }
}

TEST(MathTest, UlpErrorDefinition) {
  EXPECT_EQ(accuracy::ulp_error(1.0f, 1.0), 0.0);
  EXPECT_EQ(accuracy::ulp_error(1.0f + 0x1p-23f, 1.0), 1.0);
  EXPECT_EQ(accuracy::ulp_error(1.0f, 1.0 + 0x1p-24), 0.5);
  EXPECT_EQ(accuracy::ulp_error(0x1p-149f, 0.0), 1.0);  // subnormal spacing
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(accuracy::ulp_error(inf, 1e300), 0.0);
  EXPECT_EQ(accuracy::ulp_error(3e38f, 1e300), inf);
  EXPECT_EQ(accuracy::ulp_error(std::nanf(""), std::nan("")), 0.0);
  EXPECT_EQ(accuracy::ulp_error(1.0f, std::nan("")), inf);
  EXPECT_EQ(accuracy::ulp_error(std::nanf(""), 1.0), inf);
}

}  // namespace
}  // namespace kiln::compiler
