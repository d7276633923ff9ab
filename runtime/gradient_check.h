// kiln — gradient checking: the GradientTape's gradients compared with finite differences.
//
//   auto report = kiln::testing::check_gradients(
//       [](std::span<const Tensor> x) { return kiln::pow(x[0], x[1]); }, {base, exponent});
//   kiln::testing::expect_gradients_close(fn, inputs);  // throws GradientCheckError naming the
//                                                        // input, element and both values
//
// check_gradients differentiates reduce_sum(fn(inputs) * w) for a fixed pseudo-random weighting
// w (every output element counts, each with its own weight, so a rule that mixes up elements is
// caught) with respect to every floating input, and compares each element with the central
// difference (F(x + h) - F(x - h)) / (2h). F is accumulated in double from the outputs; the
// inputs are evaluated in `GradientCheckOptions::dtype`.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "runtime/tensor.h"
#include "support/error.h"

namespace kiln::testing {

// The dtype the function is evaluated in for gradient checks: float64, so the central
// difference is accurate to ~1e-10 and the comparison checks the rule, not float32 rounding.
inline constexpr DType kGradientCheckDType = DType::kFloat64;

// A function of several tensors.
using GradientFunction = std::function<Tensor(std::span<const Tensor>)>;

struct GradientCheckOptions {
  // The inputs are cast to this floating dtype before fn sees them.
  DType dtype = kGradientCheckDType;
  // The finite-difference step for an element x: step * max(1, |x|). In float64, 1e-6 keeps
  // the rounding error (~1e-16 |F| / h) and the truncation error (~h^2 |F'''| / 6) near 1e-10.
  // (Evaluating in float32, step 1e-2 with atol 2e-3 and rtol 2e-2 are sensible instead.)
  double step = 1e-6;
  // An element passes if |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
  double atol = 1e-6;
  double rtol = 1e-5;
  // Seed of the output weighting w (entries +-[0.5, 1.5)).
  uint64_t seed = 7;
};

// One element of one input's gradient.
struct ElementCheck {
  int64_t element = 0;  // flat (row-major) index into the input
  std::string coords;   // the same as "[i,j]"
  double analytic = 0, numeric = 0;
  double abs_error = 0, rel_error = 0;
  bool passed = true;
};

struct InputCheck {
  int input = 0;
  bool checked = false;  // false for inputs that are not floating (indices, masks)
  double max_abs_error = 0, max_rel_error = 0;
  std::optional<ElementCheck> worst;  // the element furthest outside (or least inside) tolerance
  bool passed = true;
};

struct GradientCheckReport {
  std::vector<InputCheck> inputs;
  bool passed = true;
  // One line per checked input; a failure names the element and both values.
  std::string to_string() const;
};

// Thrown by expect_gradients_close.
class GradientCheckError : public Error {
 public:
  using Error::Error;
};

// Compares the tape gradient with central differences for every element of every floating
// input. fn must return a floating tensor; it is called 2 * (checked elements) + 1 times.
GradientCheckReport check_gradients(const GradientFunction& fn, std::span<const Tensor> inputs,
                                    const GradientCheckOptions& options = {});
GradientCheckReport check_gradients(const GradientFunction& fn,
                                    std::initializer_list<Tensor> inputs,
                                    const GradientCheckOptions& options = {});

// check_gradients, throwing GradientCheckError if an element is outside tolerance:
// "gradient check failed for input #1 at element 3 [1,0]: analytic 2.5, numeric 2.75 ...".
GradientCheckReport expect_gradients_close(const GradientFunction& fn,
                                           std::span<const Tensor> inputs,
                                           const GradientCheckOptions& options = {});
GradientCheckReport expect_gradients_close(const GradientFunction& fn,
                                           std::initializer_list<Tensor> inputs,
                                           const GradientCheckOptions& options = {});

enum class Difference {
  kCentral,  // (F(x + eps) - F(x - eps)) / (the stored difference of the two x's)
  kForward   // (F(x + eps) - F(x)) / eps, exactly as the chapter's example computes it
};

// The finite-difference estimate of d sum(f(inputs)) / d input for each floating input (a
// tensor of the input's shape; non-floating inputs give an empty Tensor). The inputs are
// perturbed in their own dtype and F is summed in double; the quotient uses the step actually
// taken ((x + eps) - (x - eps) as stored), which differs from 2eps when eps is near the spacing
// of the dtype. Throws InvalidArgumentError if eps vanishes when added to an element.
// The chapter's f(w1, w2) = 3 w1^2 + 2 w1 w2 at (5, 3) with eps = 1e-6, forward, in float64
// gives 36.000003007075065 and 10.000000003174137, the chapter's digits; in float32 the
// estimates are coarse (eps is 2 ulps of w1), and eps = 1e-2 gives 36 and 10 to 4 digits.
std::vector<Tensor> numeric_gradient(const GradientFunction& f, std::span<const Tensor> inputs,
                                     double eps, Difference difference = Difference::kCentral);
std::vector<Tensor> numeric_gradient(const GradientFunction& f,
                                     std::initializer_list<Tensor> inputs, double eps,
                                     Difference difference = Difference::kCentral);

}  // namespace kiln::testing
