// kiln — the gradients of a traced `cond` and `while` (the autodiff pass, via RuleDifferentiator).
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
// (a cond or while nested in a branch recurses).
std::vector<std::optional<Tensor>> cond_gradient(const ir::Op& op, std::span<const Tensor> operands,
                                                 std::span<const std::optional<Tensor>> dys);

// The same for `while` (cotangents of the floating loop variables' initial values and of the
// floating loop invariants). A loop counts the trip count N, then a backward loop runs the
// body's backward sweep for iterations N-1 ... 0, recomputing the loop variables entering each
// iteration from the initial values: no per-iteration storage, so no maximum_iterations is
// needed, at the cost of O(N^2) body evaluations.
std::vector<std::optional<Tensor>> while_gradient(const ir::Op& op,
                                                  std::span<const Tensor> operands,
                                                  std::span<const std::optional<Tensor>> dys);

}  // namespace kiln::gradients
