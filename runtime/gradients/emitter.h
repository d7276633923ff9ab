// kiln — the runtime's ir::Differentiator: emits an op's gradient rule into IR.
#pragma once

#include "ir/differentiator.h"

namespace kiln {

// Traces the rule of runtime/gradients/rules.h for the op into the function being rewritten,
// so the autodiff pass and GradientTape share one rule per op.
class RuleDifferentiator : public ir::Differentiator {
 public:
  absl::StatusOr<Cotangents> differentiate(const ir::Op& op,
                                           std::span<ir::Value* const> result_cotangents,
                                           bool masked, ir::Block& block,
                                           ir::Block::OpList::iterator pos) override;
};

}  // namespace kiln
