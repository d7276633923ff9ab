// kiln — the gradient of a traced `cond` (used by the autodiff pass through RuleDifferentiator).
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "ir/function.h"
#include "runtime/tensor.h"

namespace kiln::gradients {

// Inside an active trace positioned where the backward ops go: the cotangents of `cond`'s
// operands (nullopt for the predicate and for operands that are not floating point), given
// those of its results (`dys`, nullopt = zero). Emits one `cond` on the same predicate whose
// branches recompute the forward branch and run its backward sweep with the ops' gradient rules
// (a cond nested in a branch recurses; a while in a branch is an InvalidArgumentError).
std::vector<std::optional<Tensor>> cond_gradient(const ir::Op& op, std::span<const Tensor> operands,
                                                 std::span<const std::optional<Tensor>> dys);

}  // namespace kiln::gradients
