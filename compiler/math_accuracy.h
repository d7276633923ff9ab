// kiln — measuring the compiled float32 math functions in ulps against a double-precision
// reference: the functions measured, the ulp error of one result, running statistics, and a
// lone op compiled over a float32 vector. Header-only (no LLVM); used by the exhaustive sweep
// (bench/vmath_ulp.cc) and the sampled unit test (tests/unit/compiler/math_test.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "compiler/compile.h"
#include "ir/builder.h"
#include "ir/function.h"

namespace kiln::compiler::accuracy {

// One compiled op and its exact value computed in double.
struct MathFunction {
  const char* name;
  ir::OpKind kind;
  double (*reference)(double);
};

inline double sigmoid_reference(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double softplus_reference(double x) {
  return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}
// erfc keeps the relative accuracy of the negative tail, where 1 + erf cancels.
inline double gelu_reference(double x) { return 0.5 * x * std::erfc(-x * 0.70710678118654752440); }

inline const std::vector<MathFunction>& math_functions() {
  static const std::vector<MathFunction> fns = {
      {"exp", ir::OpKind::kExp, [](double x) { return std::exp(x); }},
      {"log", ir::OpKind::kLog, [](double x) { return std::log(x); }},
      {"expm1", ir::OpKind::kExpm1, [](double x) { return std::expm1(x); }},
      {"log1p", ir::OpKind::kLog1p, [](double x) { return std::log1p(x); }},
      {"tanh", ir::OpKind::kTanh, [](double x) { return std::tanh(x); }},
      {"sigmoid", ir::OpKind::kSigmoid, sigmoid_reference},
      {"softplus", ir::OpKind::kSoftplus, softplus_reference},
      {"gelu", ir::OpKind::kGelu, gelu_reference},
      {"sin", ir::OpKind::kSin, [](double x) { return std::sin(x); }},
      {"cos", ir::OpKind::kCos, [](double x) { return std::cos(x); }},
  };
  return fns;
}

// Max ulp errors measured by bench/vmath_ulp.cc (see the table in
// compiler/lower_elementwise_math.cc), rounded up; the unit tests assert them.
inline constexpr double kSinMaxUlp = 0.51;
inline constexpr double kCosMaxUlp = 0.51;
inline constexpr double kPowMaxUlp = 0.51;

// pow is measured on pairs: x every k-th float32 bit pattern, y from `pow_exponent`.
inline double pow_reference(double x, double y) { return std::pow(x, y); }

// The exponent paired with the i-th x: uniform in [-40, 40) (a hash of i), rounded to an
// integer for every third i (negative x then gives a real result).
inline float pow_exponent(uint64_t i) {
  uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  const float u = static_cast<float>(h >> 40) * 0x1p-24f;  // [0, 1)
  const float y = -40.0f + 80.0f * u;
  return i % 3 == 0 ? std::nearbyint(y) : y;
}

// |got - want| in units of the float32 spacing at `want` (2^-149 below FLT_MIN). nan must
// match nan; an infinite result or reference counts 0 if got is `want` rounded to float, else
// infinitely many ulps.
inline double ulp_error(float got, double want) {
  if (std::isnan(want) || std::isnan(got)) {
    return std::isnan(want) == std::isnan(got) ? 0.0 : std::numeric_limits<double>::infinity();
  }
  const auto rounded = static_cast<float>(want);
  if (std::isinf(got) || std::isinf(rounded)) {
    return got == rounded ? 0.0 : std::numeric_limits<double>::infinity();
  }
  const double a = std::fabs(want);
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const double ulp = a < 0x1p-126 ? 0x1p-149 : std::ldexp(1.0, e - 24);
  return std::fabs(static_cast<double>(got) - want) / ulp;
}

// The max ulp error seen and where.
struct UlpStats {
  double max_ulp = 0;
  float worst_x = 0, worst_got = 0;
  double worst_want = 0;
  int64_t count = 0;

  void add(float x, float got, double want) {
    ++count;
    const double err = ulp_error(got, want);
    if (err > max_ulp) {
      max_ulp = err;
      worst_x = x;
      worst_got = got;
      worst_want = want;
    }
  }
};

// `kind` applied to float32 vectors of `n` elements (`arity` operands; a lone elementwise op,
// so one vectorized loop), compiled for `options`.
class UnaryKernel {
 public:
  static absl::StatusOr<UnaryKernel> create(ir::OpKind kind, int64_t n,
                                            const CompileOptions& options = {}, int arity = 1) {
    auto fn = std::make_unique<ir::Function>(arity == 1 ? "unary" : "binary");
    std::vector<ir::Value*> args;
    for (int k = 0; k < arity; ++k) {
      args.push_back(fn->body().add_argument({DType::kFloat32, Shape({n})}, k == 0 ? "x" : "y"));
    }
    ir::Builder b(&fn->body());
    absl::StatusOr<ir::Value*> y = b.create(kind, args);
    if (!y.ok()) return y.status();
    b.create_return({*y});
    absl::StatusOr<std::unique_ptr<Executable>> exe = compile(*fn, options);
    if (!exe.ok()) return exe.status();
    return UnaryKernel(std::move(*exe));
  }
  // y[0..n) = op(x[0..n)).
  absl::Status run(const float* x, float* y) const {
    const void* args[] = {x};
    void* results[] = {y};
    return exe_->run(args, results);
  }
  // out[0..n) = op(x[0..n), y[0..n)) for a binary kernel.
  absl::Status run(const float* x, const float* y, float* out) const {
    const void* args[] = {x, y};
    void* results[] = {out};
    return exe_->run(args, results);
  }

 private:
  explicit UnaryKernel(std::unique_ptr<Executable> exe) : exe_(std::move(exe)) {}
  std::unique_ptr<Executable> exe_;
};

}  // namespace kiln::compiler::accuracy
