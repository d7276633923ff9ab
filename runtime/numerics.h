// kiln — check_numerics: find the first op that produces NaN or Inf.
//
// With config::check_numerics(true), every eager op checks its floating results and throws
// InvalidArgumentError naming the op at the first NaN/Inf; kiln::function then runs its
// optimized IR op by op with the eager kernels (a debugging mode, not fast) and names the IR op
// and its location. Off by default; the check costs one pass over each result.
//
// C++ call sites: the op functions take no std::source_location (the operators cannot, and a
// defaulted parameter would change every op function's type), so the automatic mode names the
// op, not the line. `check_numerics(x, message)` (tf.debugging.check_numerics) is where a call
// site is known: eagerly it checks x and names its own file:line; in kiln::function it gives
// the op that computes x that file:line:col as its IR location, which the checking mode above
// reports ("... at file:line:col") and the printer shows with locations on.
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
