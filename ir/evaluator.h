// kiln — evaluating IR on concrete values.
//
// The IR layer cannot run kernels itself (they live in runtime/, above it). Whoever needs to
// evaluate ops — constant folding, the reference interpreter used by pass tests — takes an
// Evaluator; the runtime implements it with its eager kernels (runtime/evaluator.h).
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"
#include "ir/literal.h"

namespace kiln::ir {

class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // Computes `op` (not const/fusion/terminators: the interpreter handles those) on `operands`,
  // whose types match op.operands()' types. Returns one Literal per result.
  virtual absl::StatusOr<std::vector<Literal>> evaluate(
      const Op& op, std::span<const Literal* const> operands) = 0;
};

// Runs `fn` on `args` op by op: const ops give their literal, fusion regions are interpreted
// recursively, every other op goes to `evaluator`. Returns the values of `return`.
absl::StatusOr<std::vector<Literal>> interpret(const Function& fn, std::span<const Literal> args,
                                               Evaluator& evaluator);

}  // namespace kiln::ir
