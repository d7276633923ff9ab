// kiln — the runtime's ir::Evaluator: evaluates IR ops with the eager kernels.
#pragma once

#include "ir/evaluator.h"

namespace kiln {

class KernelEvaluator : public ir::Evaluator {
 public:
  absl::StatusOr<std::vector<ir::Literal>> evaluate(
      const ir::Op& op, std::span<const ir::Literal* const> operands) override;
};

}  // namespace kiln
