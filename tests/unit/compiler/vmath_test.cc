// kiln — the compiled float32 sin, cos, pow and mod: special values against libm and the eager
// kernel (bitwise), accuracy on random inputs, and vectorized loops without libm calls.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/math_accuracy.h"
#include "gtest/gtest.h"
#include "runtime/kernels/math_functions.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln::compiler {
namespace {

using namespace ::kiln::compiler::testing;  // NOLINT

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNan = std::numeric_limits<float>::quiet_NaN();

uint32_t bits_of(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
float from_bits(uint32_t u) {
  float v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}
// Equal bit patterns, or both nan (payloads are not compared).
bool same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits_of(a) == bits_of(b); }

std::vector<float> run(ir::OpKind kind, const std::vector<float>& x,
                       const std::vector<float>* y = nullptr, const CompileOptions& options = {}) {
  auto kernel =
      accuracy::UnaryKernel::create(kind, static_cast<int64_t>(x.size()), options, y ? 2 : 1);
  EXPECT_TRUE(kernel.ok()) << kernel.status();
  std::vector<float> out(x.size(), -1.0f);
  if (!kernel.ok()) return out;
  absl::Status st =
      y ? kernel->run(x.data(), y->data(), out.data()) : kernel->run(x.data(), out.data());
  EXPECT_TRUE(st.ok()) << st;
  return out;
}

// Values that exercise every special case of sin, cos, pow and fmod.
std::vector<float> special_values() {
  std::vector<float> v = {0.0f,
                          0x1p-149f,
                          0x1.8p-140f,
                          0x1p-126f,
                          1e-30f,
                          1e-10f,
                          0.25f,
                          0.5f,
                          0.75f,
                          0.785398f,
                          0.7853982f,
                          1.0f,
                          1.0f + 0x1p-23f,
                          1.0f - 0x1p-24f,
                          1.5f,
                          1.5707964f,
                          2.0f,
                          2.5f,
                          3.0f,
                          3.1415927f,
                          7.0f,
                          10.0f,
                          100.5f,
                          12345.678f,
                          16777215.0f,
                          16777216.0f,
                          8388609.0f,
                          1e10f,
                          3e20f,
                          1e30f,
                          1.7014118e38f,
                          std::numeric_limits<float>::max(),
                          kInf};
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) v.push_back(-v[i]);
  v.push_back(kNan);
  return v;
}

TEST(VmathTest, SinCosSpecialValues) {
  const std::vector<float> x = special_values();
  const std::vector<float> s = run(ir::OpKind::kSin, x), c = run(ir::OpKind::kCos, x);
  for (size_t i = 0; i < x.size(); ++i) {
    SCOPED_TRACE(x[i]);
    EXPECT_EQ(std::isnan(s[i]), std::isnan(std::sin(x[i])));
    EXPECT_EQ(std::isnan(c[i]), std::isnan(std::cos(x[i])));
    EXPECT_LE(accuracy::ulp_error(s[i], std::sin(static_cast<double>(x[i]))), 0.51);
    EXPECT_LE(accuracy::ulp_error(c[i], std::cos(static_cast<double>(x[i]))), 0.51);
    if (x[i] == 0 || std::fabs(x[i]) < 1e-20f) EXPECT_TRUE(same(s[i], x[i])) << s[i];
  }
}

// Every float32 in [-2^20, 2^20] (and beyond, by bit pattern) is reduced exactly enough that
// the result is the correctly rounded value, or the other neighbour within ~0.5 ulp.
TEST(VmathTest, SinCosRandomBitPatterns) {
  std::mt19937 rng(7);
  std::vector<float> x;
  while (x.size() < (1u << 20)) {
    const float v = from_bits(static_cast<uint32_t>(rng()));
    if (std::isfinite(v)) x.push_back(v);
  }
  for (float v : random_floats(1 << 18, -100, 100, 8)) x.push_back(v);
  const std::vector<float> s = run(ir::OpKind::kSin, x), c = run(ir::OpKind::kCos, x);
  accuracy::UlpStats ss, cs;
  for (size_t i = 0; i < x.size(); ++i) {
    ss.add(x[i], s[i], std::sin(static_cast<double>(x[i])));
    cs.add(x[i], c[i], std::cos(static_cast<double>(x[i])));
  }
  std::cout << "sin: max " << ss.max_ulp << " ulp at " << ss.worst_x << "; cos: max " << cs.max_ulp
            << " ulp at " << cs.worst_x << "\n";
  EXPECT_LE(ss.max_ulp, accuracy::kSinMaxUlp) << "at x = " << ss.worst_x;
  EXPECT_LE(cs.max_ulp, accuracy::kCosMaxUlp) << "at x = " << cs.worst_x;
}

// Every pair of special values: the same bits as libm's powf (any nan for nan).
TEST(VmathTest, PowSpecialValuesMatchLibm) {
  const std::vector<float> v = special_values();
  std::vector<float> x, y;
  for (float a : v) {
    for (float b : v) {
      x.push_back(a);
      y.push_back(b);
    }
  }
  const std::vector<float> r = run(ir::OpKind::kPow, x, &y);
  int mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const float want = std::pow(x[i], y[i]);
    if (!same(r[i], want)) {
      ++mismatches;
      ADD_FAILURE() << "pow(" << x[i] << ", " << y[i] << ") = " << r[i] << ", libm " << want;
    }
    if (mismatches > 20) break;
  }
}

TEST(VmathTest, PowRandomInputs) {
  std::vector<float> x, y;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> ux(0.0f, 4.0f), uy(-30.0f, 30.0f), big(-300.0f, 300.0f);
  for (int i = 0; i < (1 << 19); ++i) {
    x.push_back(ux(rng));
    y.push_back(uy(rng));
  }
  for (int i = 0; i < (1 << 18); ++i) {  // all magnitudes, results near overflow and underflow
    const float a = from_bits(static_cast<uint32_t>(rng()) & 0x7fffffffu);
    if (!std::isfinite(a) || a == 0) continue;
    x.push_back(a);
    y.push_back(big(rng) / std::max(1.0f, std::fabs(std::log2(a))));
  }
  for (int i = 0; i < (1 << 17); ++i) {  // negative x, integer y
    x.push_back(-ux(rng) * 3);
    y.push_back(std::nearbyint(uy(rng)));
  }
  const std::vector<float> r = run(ir::OpKind::kPow, x, &y);
  accuracy::UlpStats stats;
  for (size_t i = 0; i < x.size(); ++i) {
    stats.add(x[i], r[i], std::pow(static_cast<double>(x[i]), static_cast<double>(y[i])));
  }
  std::cout << "pow: max " << stats.max_ulp << " ulp at x = " << stats.worst_x << "\n";
  EXPECT_LE(stats.max_ulp, accuracy::kPowMaxUlp) << "at x = " << stats.worst_x;
}

// mod (floormod) is exact: the same bits as the eager kernel's fmod-based rule.
void expect_mod_matches_eager(const std::vector<float>& x, const std::vector<float>& y,
                              const CompileOptions& options = {}) {
  const std::vector<float> r = run(ir::OpKind::kMod, x, &y, options);
  int mismatches = 0;
  for (size_t i = 0; i < x.size() && mismatches <= 20; ++i) {
    const float want = kernels::math::floor_mod(x[i], y[i]);
    if (!same(r[i], want)) {
      ++mismatches;
      ADD_FAILURE() << std::hexfloat << "mod(" << x[i] << ", " << y[i] << ") = " << r[i]
                    << ", eager " << want;
    }
  }
}

TEST(VmathTest, ModSpecialValuesMatchEager) {
  std::vector<float> v = special_values();
  for (float a : {0x1.fffffep-127f, 0x1p-148f, 3.0f * 0x1p-149f, 1e-38f, 0.1f, 1.0f / 3}) {
    v.push_back(a);
    v.push_back(-a);
  }
  std::vector<float> x, y;
  for (float a : v) {
    for (float b : v) {
      x.push_back(a);
      y.push_back(b);
    }
  }
  expect_mod_matches_eager(x, y);
}

TEST(VmathTest, ModRandomInputsMatchEager) {
  std::mt19937 rng(5);
  std::vector<float> x, y;
  // Any bit patterns: huge quotients (up to 2^277), subnormals, infinities, nans.
  for (int i = 0; i < (1 << 20); ++i) {
    x.push_back(from_bits(static_cast<uint32_t>(rng())));
    y.push_back(from_bits(static_cast<uint32_t>(rng())));
  }
  // Moderate quotients, and divisors with few mantissa bits (many exact multiples).
  std::uniform_real_distribution<float> u(-1000.0f, 1000.0f);
  for (int i = 0; i < (1 << 19); ++i) {
    x.push_back(u(rng));
    y.push_back(i % 2 ? u(rng) / 64 : std::nearbyint(u(rng) / 100) * 0.25f);
  }
  // Small exponent gaps and equal magnitudes.
  for (int i = 0; i < (1 << 18); ++i) {
    const uint32_t a = static_cast<uint32_t>(rng());
    const uint32_t shift = static_cast<uint32_t>(rng() % 4) << 23;
    x.push_back(from_bits(a));
    y.push_back(from_bits((a & 0x807fffffu) |
                          ((a & 0x7f800000u) > shift ? (a & 0x7f800000u) - shift : 0u)));
  }
  expect_mod_matches_eager(x, y);
}

// Without FMA (the baseline x86-64: SSE2) every product the exactness argument relies on is
// still exact, so mod stays bitwise equal to the eager kernel, and sin, cos and pow keep their
// accuracy.
TEST(VmathTest, BaselineCpuKeepsExactnessAndAccuracy) {
  CompileOptions options;
  options.cpu = "x86-64";
  std::mt19937 rng(3);
  std::vector<float> x, y;
  std::uniform_real_distribution<float> u(-1000.0f, 1000.0f);
  for (int i = 0; i < (1 << 18); ++i) {
    x.push_back(i % 2 ? u(rng) : from_bits(static_cast<uint32_t>(rng())));
    y.push_back(i % 2 ? u(rng) / 64 : from_bits(static_cast<uint32_t>(rng())));
  }
  expect_mod_matches_eager(x, y, options);
  std::vector<float> base, expo;
  for (size_t i = 0; i < x.size(); ++i) {
    base.push_back(std::fabs(u(rng)) / 100);
    expo.push_back(u(rng) / 50);
  }
  const std::vector<float> s = run(ir::OpKind::kSin, x, nullptr, options);
  const std::vector<float> c = run(ir::OpKind::kCos, x, nullptr, options);
  const std::vector<float> p = run(ir::OpKind::kPow, base, &expo, options);
  accuracy::UlpStats ss, cs, ps;
  for (size_t i = 0; i < x.size(); ++i) {
    ss.add(x[i], s[i], std::sin(static_cast<double>(x[i])));
    cs.add(x[i], c[i], std::cos(static_cast<double>(x[i])));
    ps.add(base[i], p[i], std::pow(static_cast<double>(base[i]), static_cast<double>(expo[i])));
  }
  EXPECT_LE(ss.max_ulp, accuracy::kSinMaxUlp) << "at x = " << ss.worst_x;
  EXPECT_LE(cs.max_ulp, accuracy::kCosMaxUlp) << "at x = " << cs.worst_x;
  EXPECT_LE(ps.max_ulp, accuracy::kPowMaxUlp) << "at x = " << ps.worst_x;
}

// The loops of sin, cos, pow and mod vectorize: no call through a libm address remains.
TEST(VmathTest, LoopsHaveNoLibmCalls) {
  for (ir::OpKind kind : {ir::OpKind::kSin, ir::OpKind::kCos, ir::OpKind::kPow, ir::OpKind::kMod}) {
    const bool binary = kind == ir::OpKind::kPow || kind == ir::OpKind::kMod;
    ir::Function fn("f");
    std::vector<ir::Value*> args = {fn.body().add_argument(f32({4096}), "x")};
    if (binary) args.push_back(fn.body().add_argument(f32({4096}), "y"));
    ir::Builder b(&fn.body());
    b.create_return({op(b, kind, args)});
    CompileOptions options;
    options.cpu = "znver3";
    auto text = emit_llvm_ir(fn, options);
    ASSERT_TRUE(text.ok()) << text.status();
    EXPECT_EQ(text->find("inttoptr"), std::string::npos) << *text;
    EXPECT_NE(text->find("vector.body"), std::string::npos) << *text;
    EXPECT_NE(text->find(" x float>, ptr"), std::string::npos) << *text;
  }
}

}  // namespace
}  // namespace kiln::compiler
