// kiln — check_numerics: find the first op that produces NaN or Inf.
//
// With config::check_numerics(true), every eager op checks its floating results and throws
// InvalidArgumentError naming the op at the first NaN/Inf and the C++ line that called it:
//   check_numerics: 'log' produced nan at element 1 of its result f32[2]
//   (called from FILE:LINE in FUNCTION)
// kiln::function then runs its optimized IR op by op with the eager kernels (a debugging mode,
// not fast) and names the IR op and its location ("... at FILE:LINE"). Off by default; the check
// costs one pass over each result.
//
// C++ call sites: the op functions take no std::source_location (the operators cannot, and a
// defaulted parameter would change every op function's type). Instead, the call site is the
// innermost frame of a stack walk outside kiln's own sources (support/call_site.h), taken
// eagerly only when a check fails, and while tracing a kiln::function in this mode for every
// op, as its IR location (file:line, column 0). A function traced with the mode off records no
// locations (its IR, printing and caching are unchanged); its checked run names the IR op only.
// `check_numerics(x, message)` (tf.debugging.check_numerics) names its own call site: eagerly
// it checks x and names its file:line; in kiln::function it gives the op that computes x that
// file:line:col as its IR location if the op has none yet.
#pragma once

#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>

#include "ir/evaluator.h"
#include "ir/types.h"
#include "runtime/evaluator.h"
#include "runtime/tensor.h"

namespace kiln {
namespace config {
void check_numerics(bool enable);
bool check_numerics_enabled();
}  // namespace config

namespace internal {
// "nan at element 3" / "inf at element 0" / "-inf at element 7" for the first non-finite
// element of `n` elements of `dtype` at `data`; nullopt if all are finite or not floating.
std::optional<std::string> first_non_finite(const void* data, DType dtype, int64_t n);
}  // namespace internal

// Returns x; throws InvalidArgumentError "check_numerics: MESSAGE: nan at element 3 of f32[4]
// (checked at FILE:LINE)" if a concrete floating x holds NaN or Inf. Traced, it records the
// call site as the location of the op that computes x (if that op has none yet).
Tensor check_numerics(const Tensor& x, std::string_view message = {},
                      std::source_location where = std::source_location::current());

// A KernelEvaluator that fails at the first op whose result holds NaN or Inf, naming the op as
// printed in `fn`.
class NumericsCheckingEvaluator : public KernelEvaluator {
 public:
  explicit NumericsCheckingEvaluator(const ir::Function& fn) : fn_(fn) {}
  absl::StatusOr<std::vector<ir::Literal>> evaluate(
      const ir::Op& op, std::span<const ir::Literal* const> operands) override;

 private:
  const ir::Function& fn_;
};

}  // namespace kiln
