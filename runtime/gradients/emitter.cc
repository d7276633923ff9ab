// kiln — emitting gradient rules into IR for the autodiff pass.
#include "runtime/gradients/emitter.h"

#include "runtime/gradients/control_flow.h"
#include "runtime/gradients/rules.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

absl::Status status_of(const Error& e) {
  if (dynamic_cast<const InvalidArgumentError*>(&e)) return absl::InvalidArgumentError(e.what());
  if (dynamic_cast<const FailedPreconditionError*>(&e)) {
    return absl::FailedPreconditionError(e.what());
  }
  if (dynamic_cast<const UnimplementedError*>(&e)) return absl::UnimplementedError(e.what());
  return absl::InternalError(e.what());
}

}  // namespace

absl::StatusOr<ir::Differentiator::Cotangents> RuleDifferentiator::differentiate(
    const ir::Op& op, std::span<ir::Value* const> result_cotangents, bool masked, ir::Block& block,
    ir::Block::OpList::iterator pos) {
  const gradients::RuleEntry& entry = gradients::rule_entry(op.kind());
  Cotangents out;
  out.operands.assign(op.num_operands(), nullptr);
  if (op.kind() == ir::OpKind::kCond || op.kind() == ir::OpKind::kWhile) {
    // runtime/gradients/control_flow.h
    try {
      TraceContext trace(&block, pos);
      std::vector<Tensor> inputs;
      for (ir::Value* v : op.operands()) inputs.push_back(Tensor::symbolic(v, trace.id()));
      std::vector<std::optional<Tensor>> dys;
      for (ir::Value* v : result_cotangents) {
        dys.push_back(v ? std::optional<Tensor>(Tensor::symbolic(v, trace.id())) : std::nullopt);
      }
      const std::vector<std::optional<Tensor>> dxs =
          op.kind() == ir::OpKind::kCond ? gradients::cond_gradient(op, inputs, dys)
                                         : gradients::while_gradient(op, inputs, dys);
      for (size_t i = 0; i < dxs.size() && i < out.operands.size(); ++i) {
        if (dxs[i]) out.operands[i] = trace.value_of(*dxs[i]);
      }
      return out;
    } catch (const Error& e) {
      return status_of(e);
    }
  }
  if (entry.kind == gradients::Differentiability::kNotDifferentiable) return out;
  if (entry.kind == gradients::Differentiability::kMissing) {
    return absl::InvalidArgumentError(cat("gradient: op '", op.mnemonic(),
                                          "' has no gradient rule; cannot differentiate "
                                          "through it"));
  }
  try {
    TraceContext trace(&block, pos);
    std::vector<Tensor> inputs, outputs;
    for (ir::Value* v : op.operands()) inputs.push_back(Tensor::symbolic(v, trace.id()));
    for (int r = 0; r < op.num_results(); ++r) {
      outputs.push_back(Tensor::symbolic(op.result(r), trace.id()));
    }
    std::vector<std::optional<Tensor>> dys;
    for (ir::Value* v : result_cotangents) {
      dys.push_back(v ? std::optional<Tensor>(Tensor::symbolic(v, trace.id())) : std::nullopt);
    }
    if (op.num_results() == 1 && !dys[0]) return out;
    gradients::OpCall call{op.kind(), op.attrs(), inputs, outputs, masked};
    const gradients::Cotangents dxs = entry.rule(call, dys);
    for (size_t i = 0; i < dxs.size() && i < out.operands.size(); ++i) {
      if (dxs[i]) out.operands[i] = trace.value_of(*dxs[i]);
    }
    out.masked = masked || entry.masks;
    return out;
  } catch (const Error& e) {
    return status_of(e);
  }
}

}  // namespace kiln
