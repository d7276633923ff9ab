// kiln — check_numerics: find the first op that produces NaN or Inf.
//
// With config::check_numerics(true), every eager op checks its floating results and throws
// InvalidArgumentError naming the op at the first NaN/Inf; kiln::function then runs its
// optimized IR op by op with the eager kernels (a debugging mode, not fast) and names the IR op
// and its location. Off by default; the check costs one pass over each result.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ir/evaluator.h"
#include "ir/types.h"
#include "runtime/evaluator.h"

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
