// kiln — differentiating one IR op, for the autodiff pass.
//
// The gradient rules are Tensor code in runtime/ (runtime/gradients/rules.h), one per op, shared
// with the eager GradientTape. The IR layer cannot call them directly; the autodiff pass takes a
// Differentiator, which the runtime implements by tracing the rule into the function being
// rewritten (runtime/gradients/emitter.h).
#pragma once

#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"

namespace kiln::ir {

class Differentiator {
 public:
  virtual ~Differentiator() = default;

  struct Cotangents {
    // One per operand of the op; null where no gradient flows to it.
    std::vector<Value*> operands;
    // The cotangents may hold structural zeros (they passed a select/relu/max mask).
    bool masked = false;
  };

  // Emits the backward computation of `op` before `pos` in `block`: given the cotangent of each
  // result (null = zero; `masked` if they may hold structural zeros), the cotangents of the
  // operands. An op without a rule is an InvalidArgument error naming it; a non-differentiable
  // op gives no cotangents.
  virtual absl::StatusOr<Cotangents> differentiate(const Op& op,
                                                   std::span<Value* const> result_cotangents,
                                                   bool masked, Block& block,
                                                   Block::OpList::iterator pos) = 0;
};

}  // namespace kiln::ir
