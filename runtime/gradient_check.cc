// kiln — gradient checking against finite differences.
#include "runtime/gradient_check.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "support/str.h"

namespace kiln::testing {
namespace {

// Calls `f.template operator()<T>()` with T the C++ type of floating dtype `dtype`. The one
// place to extend when kiln gains float64.
template <typename F>
auto visit_floating(DType dtype, const char* what, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f.template operator()<float>();
    case DType::kFloat64:
      return f.template operator()<double>();
    default:
      break;
  }
  throw InvalidArgumentError(
      cat(what, ": dtype ", dtype_name(dtype), " is not a floating dtype kiln can evaluate in"));
}

std::vector<double> values_of(const Tensor& t, const char* what) {
  return visit_floating(t.dtype(), what, [&]<typename T>() {
    const T* p = t.data<T>();
    return std::vector<double>(p, p + t.num_elements());
  });
}

Tensor from_values(const std::vector<double>& v, const Shape& shape, DType dtype,
                   const char* what) {
  Tensor t = Tensor::empty(dtype, shape);
  visit_floating(dtype, what, [&]<typename T>() {
    T* p = static_cast<T*>(t.mutable_raw_data());
    for (size_t i = 0; i < v.size(); ++i) p[i] = static_cast<T>(v[i]);
  });
  return t;
}

// A copy of `x` with element `e` set to `v` (rounded to x's dtype); `*stored` gets the value
// actually stored.
Tensor with_element(const Tensor& x, int64_t e, double v, double* stored, const char* what) {
  Tensor t = Tensor::empty(x.dtype(), x.shape());
  std::memcpy(t.mutable_raw_data(), x.raw_data(), x.num_elements() * dtype_size(x.dtype()));
  visit_floating(x.dtype(), what, [&]<typename T>() {
    T* p = static_cast<T*>(t.mutable_raw_data());
    p[e] = static_cast<T>(v);
    *stored = static_cast<double>(p[e]);
  });
  return t;
}

std::string coords_of(int64_t flat, const Shape& shape) {
  std::vector<int64_t> c(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    c[d] = shape[d] == 0 ? 0 : flat % shape[d];
    flat = shape[d] == 0 ? 0 : flat / shape[d];
  }
  std::string out = "[";
  for (size_t i = 0; i < c.size(); ++i) out += cat(i ? "," : "", c[i]);
  return out + "]";
}

// Deterministic weights +-[0.5, 1.5) (splitmix64).
std::vector<double> weights(int64_t n, uint64_t seed) {
  std::vector<double> w(n);
  uint64_t state = seed;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    const double u = static_cast<double>(z >> 11) * 0x1.0p-53;  // [0, 1)
    w[i] = (z & 1 ? -1.0 : 1.0) * (0.5 + u);
  }
  return w;
}

Tensor call(const GradientFunction& fn, std::span<const Tensor> inputs, const char* what) {
  Tensor y = fn(inputs);
  if (!y.defined()) throw InvalidArgumentError(cat(what, ": the function returned no tensor"));
  if (!is_floating(y.dtype())) {
    throw InvalidArgumentError(cat(what, ": the function returned a ", dtype_name(y.dtype()),
                                   " tensor; gradients need a floating result"));
  }
  return y;
}

double weighted_sum(const Tensor& y, const std::vector<double>* w, const char* what) {
  const std::vector<double> v = values_of(y, what);
  double s = 0;
  for (size_t i = 0; i < v.size(); ++i) s += w ? (*w)[i] * v[i] : v[i];
  return s;
}

std::string format_element(const InputCheck& in) {
  const ElementCheck& e = *in.worst;
  return cat("input #", in.input, " at element ", e.element, " ", e.coords, ": analytic ",
             e.analytic, ", numeric ", e.numeric, " (abs error ", e.abs_error, ", rel error ",
             e.rel_error, ")");
}

}  // namespace

std::string GradientCheckReport::to_string() const {
  std::string out = passed ? "gradient check passed" : "gradient check failed";
  for (const InputCheck& in : inputs) {
    if (!in.checked) {
      out += cat("\n  input #", in.input, ": not floating, not checked");
      continue;
    }
    out += cat("\n  input #", in.input, ": ", in.passed ? "ok" : "FAILED", ", max abs error ",
               in.max_abs_error, ", max rel error ", in.max_rel_error);
    if (in.worst) out += cat("; worst ", format_element(in));
  }
  return out;
}

GradientCheckReport check_gradients(const GradientFunction& fn, std::span<const Tensor> inputs,
                                    const GradientCheckOptions& options) {
  constexpr const char* kWhat = "check_gradients";
  if (!is_floating(options.dtype)) {
    throw InvalidArgumentError(
        cat(kWhat, ": the evaluation dtype must be floating, got ", dtype_name(options.dtype)));
  }
  std::vector<Tensor> xs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined()) throw InvalidArgumentError(cat(kWhat, ": input #", i, " is empty"));
    if (x.is_symbolic()) {
      throw InvalidArgumentError(cat(kWhat, ": input #", i, " is symbolic; pass concrete tensors"));
    }
    xs.push_back(is_floating(x.dtype()) && x.dtype() != options.dtype ? cast(x, options.dtype) : x);
  }

  // Analytic: the tape gradient of sum(fn(x) * w).
  std::vector<double> w;
  std::vector<std::optional<Tensor>> analytic;
  {
    GradientTape tape;
    std::vector<Source> sources;
    for (const Tensor& x : xs) {
      tape.watch(x);
      sources.emplace_back(x);
    }
    const Tensor y = call(fn, xs, kWhat);
    w = weights(y.num_elements(), options.seed);
    const Tensor target = reduce_sum(mul(y, from_values(w, y.shape(), y.dtype(), kWhat)));
    analytic = tape.gradient(target, sources, std::nullopt, UnconnectedGradients::kZero);
  }

  GradientCheckReport report;
  for (size_t i = 0; i < xs.size(); ++i) {
    InputCheck in;
    in.input = static_cast<int>(i);
    if (!is_floating(xs[i].dtype())) {
      report.inputs.push_back(in);
      continue;
    }
    in.checked = true;
    const std::vector<double> a = values_of(*analytic[i], kWhat);
    const std::vector<double> x = values_of(xs[i], kWhat);
    double worst_ratio = -1;
    std::vector<Tensor> probe = xs;
    for (int64_t e = 0; e < static_cast<int64_t>(x.size()); ++e) {
      const double h = options.step * std::max(1.0, std::abs(x[e]));
      double hi = 0, lo = 0;
      probe[i] = with_element(xs[i], e, x[e] + h, &hi, kWhat);
      const double f_hi = weighted_sum(call(fn, probe, kWhat), &w, kWhat);
      probe[i] = with_element(xs[i], e, x[e] - h, &lo, kWhat);
      const double f_lo = weighted_sum(call(fn, probe, kWhat), &w, kWhat);
      probe[i] = xs[i];
      ElementCheck c;
      c.element = e;
      c.analytic = a[e];
      c.numeric = (f_hi - f_lo) / (hi - lo);
      c.abs_error = std::abs(c.analytic - c.numeric);
      const double magnitude = std::max(std::abs(c.analytic), std::abs(c.numeric));
      c.rel_error = magnitude > 0 ? c.abs_error / magnitude : 0.0;
      const double tolerance = options.atol + options.rtol * magnitude;
      // NaN on either side fails.
      c.passed = c.abs_error <= tolerance;
      in.max_abs_error = std::max(in.max_abs_error, c.abs_error);
      in.max_rel_error = std::max(in.max_rel_error, c.rel_error);
      if (std::isnan(c.abs_error)) in.max_abs_error = in.max_rel_error = NAN;
      // The worst element; among failures the first one (later ones tie at HUGE_VAL).
      const double ratio = c.passed ? c.abs_error / tolerance : HUGE_VAL;
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        c.coords = coords_of(e, xs[i].shape());
        in.worst = c;
      }
      in.passed = in.passed && c.passed;
    }
    report.passed = report.passed && in.passed;
    report.inputs.push_back(in);
  }
  return report;
}

GradientCheckReport check_gradients(const GradientFunction& fn,
                                    std::initializer_list<Tensor> inputs,
                                    const GradientCheckOptions& options) {
  return check_gradients(fn, std::span<const Tensor>(inputs.begin(), inputs.size()), options);
}

GradientCheckReport expect_gradients_close(const GradientFunction& fn,
                                           std::span<const Tensor> inputs,
                                           const GradientCheckOptions& options) {
  GradientCheckReport report = check_gradients(fn, inputs, options);
  if (report.passed) return report;
  for (const InputCheck& in : report.inputs) {
    if (in.passed) continue;
    throw GradientCheckError(cat("gradient check failed for ", format_element(in), "; tolerance ",
                                 options.atol, " + ", options.rtol,
                                 " * max(|analytic|, |numeric|)"));
  }
  return report;
}

GradientCheckReport expect_gradients_close(const GradientFunction& fn,
                                           std::initializer_list<Tensor> inputs,
                                           const GradientCheckOptions& options) {
  return expect_gradients_close(fn, std::span<const Tensor>(inputs.begin(), inputs.size()),
                                options);
}

std::vector<Tensor> numeric_gradient(const GradientFunction& f, std::span<const Tensor> inputs,
                                     double eps, Difference difference) {
  constexpr const char* kWhat = "numeric_gradient";
  if (!(eps > 0)) throw InvalidArgumentError(cat(kWhat, ": eps must be positive, got ", eps));
  std::vector<Tensor> xs(inputs.begin(), inputs.end());
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!xs[i].defined()) throw InvalidArgumentError(cat(kWhat, ": input #", i, " is empty"));
  }
  const double f0 =
      difference == Difference::kForward ? weighted_sum(call(f, xs, kWhat), nullptr, kWhat) : 0;
  std::vector<Tensor> out;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!is_floating(inputs[i].dtype())) {
      out.emplace_back();
      continue;
    }
    const std::vector<double> x = values_of(inputs[i], kWhat);
    std::vector<double> g(x.size());
    std::vector<Tensor> probe = xs;
    for (size_t e = 0; e < x.size(); ++e) {
      double hi = 0, lo = x[e];
      probe[i] = with_element(inputs[i], static_cast<int64_t>(e), x[e] + eps, &hi, kWhat);
      const double f_hi = weighted_sum(call(f, probe, kWhat), nullptr, kWhat);
      double f_lo = f0;
      if (difference == Difference::kCentral) {
        probe[i] = with_element(inputs[i], static_cast<int64_t>(e), x[e] - eps, &lo, kWhat);
        f_lo = weighted_sum(call(f, probe, kWhat), nullptr, kWhat);
      }
      probe[i] = inputs[i];
      if (hi == lo) {
        throw InvalidArgumentError(cat(kWhat, ": eps = ", eps, " is below the ",
                                       dtype_name(inputs[i].dtype()), " spacing at input #", i,
                                       " element ", e, " (value ", x[e], ")"));
      }
      // Central: divided by the step the dtype actually stored. Forward: by eps as written, so
      // the chapter's (f(w + eps) - f(w)) / eps comes out digit for digit.
      g[e] = (f_hi - f_lo) / (difference == Difference::kForward ? eps : hi - lo);
    }
    out.push_back(from_values(g, inputs[i].shape(), inputs[i].dtype(), kWhat));
  }
  return out;
}

std::vector<Tensor> numeric_gradient(const GradientFunction& f,
                                     std::initializer_list<Tensor> inputs, double eps,
                                     Difference difference) {
  return numeric_gradient(f, std::span<const Tensor>(inputs.begin(), inputs.size()), eps,
                          difference);
}

}  // namespace kiln::testing

namespace kiln {
namespace config {
namespace {
std::atomic<bool> g_check_custom_gradients{false};
}
void check_custom_gradients(bool enable) { g_check_custom_gradients.store(enable); }
bool custom_gradients_checked() { return g_check_custom_gradients.load(std::memory_order_relaxed); }
}  // namespace config

namespace internal {

bool check_custom_gradient(std::span<const Tensor> inputs,
                           const std::function<Tensor(std::span<const Tensor>)>& fn) {
  for (const Tensor& t : inputs) {
    if (!t.defined() || t.is_symbolic()) return false;
  }
  PauseAllTapes pause;  // the check's own ops stay off the user's tapes
  testing::GradientCheckReport report;
  try {
    report = testing::check_gradients(fn, inputs);
  } catch (const Error&) {
    // The function may only work in its own dtype (e.g. float32 constants): check it there,
    // with float32 steps and tolerances.
    testing::GradientCheckOptions f32;
    f32.dtype = DType::kFloat32;
    f32.step = 1e-2;
    f32.atol = 2e-3;
    f32.rtol = 2e-2;
    report = testing::check_gradients(fn, inputs, f32);
  }
  if (!report.passed) {
    throw InvalidArgumentError(
        cat("custom_gradient: the gradient function disagrees with "
            "central differences of the forward function:\n",
            report.to_string()));
  }
  return true;
}

}  // namespace internal
}  // namespace kiln
