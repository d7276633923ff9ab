// kiln — kiln_vmath_ulp: the max ulp error of the compiled float32 math functions over every
// float32 input (or every k-th bit pattern), against the double-precision libm value.
//
//   kiln_vmath_ulp                        all functions, all 2^32 inputs (minutes per function)
//   kiln_vmath_ulp --stride=257 exp tanh  a sample: every 257th bit pattern
//   kiln_vmath_ulp --cpu=x86-64           code compiled for another CPU (default: this host)
//   kiln_vmath_ulp --bench                compiled loops vs scalar libm loops over 1M floats
//                                         (one thread, by turns, median ns per element)
//   kiln_vmath_ulp --stride=4 pow         pow(x, y): x every k-th bit pattern, y from
//                                         accuracy::pow_exponent (in [-40, 40], every third an
//                                         integer)
//
// Measured on this machine (znver3 code, with FMA), all 2^32 inputs; nan inputs give nan, and
// "ulp" is |got - exact| / (float spacing at exact), the exact value in double:
//   see the table in compiler/lower_elementwise_math.cc (kept there with the formulas).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "compiler/math_accuracy.h"
#include "runtime/kernels/math_functions.h"
#include "runtime/parallel.h"

namespace {

using kiln::compiler::accuracy::MathFunction;
using kiln::compiler::accuracy::UlpStats;
using kiln::compiler::accuracy::UnaryKernel;

int run(const MathFunction& f, int64_t stride, const kiln::compiler::CompileOptions& options) {
  constexpr int64_t kChunk = 1 << 20;
  auto kernel = UnaryKernel::create(f.kind, kChunk, options);
  if (!kernel.ok()) {
    std::fprintf(stderr, "kiln_vmath_ulp: %s: %s\n", f.name, kernel.status().ToString().c_str());
    return 1;
  }
  std::vector<float> x(kChunk), y(kChunk);
  UlpStats all, finite_normal;
  constexpr int64_t kTotal = int64_t{1} << 32;
  for (int64_t start = 0; start < kTotal; start += kChunk * stride) {
    for (int64_t i = 0; i < kChunk; ++i) {
      const auto bits = static_cast<uint32_t>((start + i * stride) % kTotal);
      std::memcpy(&x[i], &bits, sizeof bits);
    }
    if (absl::Status s = kernel->run(x.data(), y.data()); !s.ok()) {
      std::fprintf(stderr, "kiln_vmath_ulp: %s: %s\n", f.name, s.ToString().c_str());
      return 1;
    }
    for (int64_t i = 0; i < kChunk; ++i) {
      if (start + i * stride >= kTotal) break;
      const double want = f.reference(x[i]);
      all.add(x[i], y[i], want);
      if (std::fabs(want) >= 0x1p-126 && std::fabs(want) <= 0x1.fffffep127) {
        finite_normal.add(x[i], y[i], want);
      }
    }
  }
  std::printf(
      "%-9s %12lld inputs  max %.3g ulp at x = %.9g (got %.9g, exact %.17g); normal "
      "results: max %.3g ulp at x = %.9g\n",
      f.name, static_cast<long long>(all.count), all.max_ulp, all.worst_x, all.worst_got,
      all.worst_want, finite_normal.max_ulp, finite_normal.worst_x);
  std::fflush(stdout);
  return 0;
}

int run_pow(int64_t stride, const kiln::compiler::CompileOptions& options) {
  constexpr int64_t kChunk = 1 << 20;
  auto kernel = UnaryKernel::create(kiln::ir::OpKind::kPow, kChunk, options, /*arity=*/2);
  if (!kernel.ok()) {
    std::fprintf(stderr, "kiln_vmath_ulp: pow: %s\n", kernel.status().ToString().c_str());
    return 1;
  }
  std::vector<float> x(kChunk), y(kChunk), r(kChunk);
  UlpStats all;
  float worst_y = 0;
  constexpr int64_t kTotal = int64_t{1} << 32;
  for (int64_t start = 0; start < kTotal; start += kChunk * stride) {
    for (int64_t i = 0; i < kChunk; ++i) {
      const auto bits = static_cast<uint32_t>((start + i * stride) % kTotal);
      std::memcpy(&x[i], &bits, sizeof bits);
      y[i] = kiln::compiler::accuracy::pow_exponent(bits);
    }
    if (absl::Status s = kernel->run(x.data(), y.data(), r.data()); !s.ok()) {
      std::fprintf(stderr, "kiln_vmath_ulp: pow: %s\n", s.ToString().c_str());
      return 1;
    }
    for (int64_t i = 0; i < kChunk; ++i) {
      if (start + i * stride >= kTotal) break;
      const double before = all.max_ulp;
      all.add(x[i], r[i], kiln::compiler::accuracy::pow_reference(x[i], y[i]));
      if (all.max_ulp > before) worst_y = y[i];
    }
  }
  std::printf("%-9s %12lld inputs  max %.3g ulp at x = %.9g, y = %.9g (got %.9g, exact %.17g)\n",
              "pow", static_cast<long long>(all.count), all.max_ulp, all.worst_x, worst_y,
              all.worst_got, all.worst_want);
  std::fflush(stdout);
  return 0;
}

// Per element, the compiled loop of `kind` against a scalar loop calling `libm` per element
// through a function pointer (what the compiled loop did before these functions were emitted
// as IR: a call through the libm address per element, which kept the loop scalar). Runs take
// turns; prints the medians.
int bench_one(const char* name, kiln::ir::OpKind kind, float (*libm)(float, float),
              const std::vector<float>& x, const std::vector<float>& y, int arity) {
  const auto n = static_cast<int64_t>(x.size());
  auto kernel = UnaryKernel::create(kind, n, {}, arity);
  if (!kernel.ok()) {
    std::fprintf(stderr, "kiln_vmath_ulp: %s: %s\n", name, kernel.status().ToString().c_str());
    return 1;
  }
  std::vector<float> out(x.size()), ref(x.size());
  float (*volatile call)(float, float) = libm;
  std::vector<double> compiled_ns, libm_ns;
  for (int round = 0; round < 15; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    absl::Status st = arity == 1 ? kernel->run(x.data(), out.data())
                                 : kernel->run(x.data(), y.data(), out.data());
    auto t1 = std::chrono::steady_clock::now();
    if (!st.ok()) return 1;
    for (int64_t i = 0; i < n; ++i) ref[i] = call(x[i], y[i]);
    auto t2 = std::chrono::steady_clock::now();
    compiled_ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
    libm_ns.push_back(std::chrono::duration<double, std::nano>(t2 - t1).count() / n);
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double c = median(compiled_ns), l = median(libm_ns);
  std::printf("%-5s %lld floats: compiled %.3f ns/elem, libm loop %.3f ns/elem, speedup %.2fx\n",
              name, static_cast<long long>(n), c, l, l / c);
  return 0;
}

int bench() {
  kiln::config::set_num_threads(1);
  constexpr int kN = 1 << 20;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> angle(-10.0f, 10.0f), base(0.0f, 4.0f), expo(-4.0f, 4.0f),
      num(-1000.0f, 1000.0f), den(0.5f, 10.0f);
  std::vector<float> a(kN), b(kN), px(kN), py(kN), mx(kN), my(kN);
  for (int i = 0; i < kN; ++i) {
    a[i] = angle(rng);
    px[i] = base(rng);
    py[i] = expo(rng);
    mx[i] = num(rng);
    my[i] = den(rng);
  }
  using kiln::ir::OpKind;
  int status = 0;
  status |= bench_one(
      "sin", OpKind::kSin, [](float v, float) { return std::sin(v); }, a, b, 1);
  status |= bench_one(
      "cos", OpKind::kCos, [](float v, float) { return std::cos(v); }, a, b, 1);
  status |= bench_one(
      "pow", OpKind::kPow, [](float v, float w) { return std::pow(v, w); }, px, py, 2);
  status |= bench_one("mod", OpKind::kMod, kiln::kernels::math::floor_mod<float>, mx, my, 2);
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t stride = 1;
  kiln::compiler::CompileOptions options;
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--stride=", 0) == 0) {
      stride = std::stoll(a.substr(9));
      if (stride < 1) {
        std::fprintf(stderr, "kiln_vmath_ulp: --stride must be at least 1\n");
        return 2;
      }
    } else if (a == "--bench") {
      return bench();
    } else if (a.rfind("--cpu=", 0) == 0) {
      options.cpu = a.substr(6);
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr,
                   "usage: kiln_vmath_ulp [--stride=K] [--cpu=NAME] [function...] | --bench\n");
      return 2;
    } else {
      names.push_back(a);
    }
  }
  int status = 0;
  for (const MathFunction& f : kiln::compiler::accuracy::math_functions()) {
    bool wanted = names.empty();
    for (const std::string& n : names) wanted = wanted || n == f.name;
    if (wanted) status |= run(f, stride, options);
  }
  bool pow_wanted = names.empty();
  for (const std::string& n : names) pow_wanted = pow_wanted || n == "pow";
  if (pow_wanted) status |= run_pow(stride, options);
  return status;
}
