// kiln — KernelEvaluator: evaluates IR ops on literals with the eager kernels.
#include "runtime/evaluator.h"

#include <vector>

#include "runtime/kernels/kernels.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln {

namespace {

// split / top_k: every result from one kernel call; declared types must agree with inferred ones.
absl::StatusOr<std::vector<ir::Literal>> evaluate_multi(
    const ir::Op& op, std::span<const ir::Literal* const> operands) {
  std::vector<ir::Type> types;
  std::vector<kernels::View> views;
  for (const ir::Literal* lit : operands) {
    if (lit == nullptr) return absl::InvalidArgumentError(cat(op.mnemonic(), ": null operand"));
    types.push_back(lit->type());
    views.push_back(kernels::View{lit->data(), lit->type().dtype, &lit->type().shape});
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Type> want, ir::infer_types(op.kind(), types, op.attrs()));
  if (static_cast<int>(want.size()) != op.num_results()) {
    return absl::InvalidArgumentError(cat(op.mnemonic(), ": operands give ", want.size(),
                                          " results but the op has ", op.num_results()));
  }
  std::vector<ir::Literal> results;
  std::vector<kernels::MutableView> outs;
  results.reserve(want.size());
  for (ir::Type& t : want) results.emplace_back(std::move(t));
  for (ir::Literal& r : results) {
    outs.push_back(kernels::MutableView{r.data(), r.type().dtype, &r.type().shape});
  }
  KILN_RETURN_IF_ERROR(kernels::run_multi(op.kind(), op.attrs(), views, outs));
  return results;
}

}  // namespace

absl::StatusOr<std::vector<ir::Literal>> KernelEvaluator::evaluate(
    const ir::Op& op, std::span<const ir::Literal* const> operands) {
  const std::string_view name = op.mnemonic();
  if (static_cast<int>(operands.size()) != op.num_operands()) {
    return absl::InvalidArgumentError(cat(name, ": evaluated with ", operands.size(),
                                          " operand(s) but the op has ", op.num_operands()));
  }
  switch (ir::op_info(op.kind()).cls) {
    case ir::OpClass::kConstant:
    case ir::OpClass::kFusion:
    case ir::OpClass::kControl:
    case ir::OpClass::kTerminator:
      return absl::UnimplementedError(cat(name, ": op has no eager kernel"));
    default:
      break;
  }
  if (ir::has_multiple_results(op.kind())) return evaluate_multi(op, operands);
  if (op.num_results() != 1) {
    return absl::UnimplementedError(
        cat(name, ": cannot evaluate an op with ", op.num_results(), " results"));
  }
  // The operands are concrete, so the inferred type is fully defined even where the op's
  // declared result type has unknown dims; a fully defined declared type must agree with it.
  std::vector<ir::Type> types;
  types.reserve(operands.size());
  for (const ir::Literal* lit : operands) {
    if (lit == nullptr) return absl::InvalidArgumentError(cat(name, ": null operand"));
    types.push_back(lit->type());
  }
  KILN_ASSIGN_OR_RETURN(ir::Type type, ir::infer_type(op.kind(), types, op.attrs()));
  const ir::Type& declared = op.result(0)->type();
  // A broadcast to an unknown dim gets its size from its use: the declared type, once the
  // function's types were resolved for these shapes (compiler/resolve_shapes.h).
  if (!type.shape.is_fully_defined() && declared.shape.is_fully_defined() &&
      declared.shape.rank() == type.shape.rank()) {
    type.shape = declared.shape;
  }
  if (declared.dtype != type.dtype ||
      (declared.shape.is_fully_defined() && !(declared.shape == type.shape))) {
    return absl::InvalidArgumentError(
        cat(name, ": operands give a ", type, " result but the op declares ", declared));
  }

  std::vector<kernels::View> views;
  views.reserve(operands.size());
  for (const ir::Literal* lit : operands) {
    views.push_back(kernels::View{lit->data(), lit->type().dtype, &lit->type().shape});
  }
  ir::Literal result(std::move(type));
  const kernels::MutableView out{result.data(), result.type().dtype, &result.type().shape};
  KILN_RETURN_IF_ERROR(kernels::run(op.kind(), op.attrs(), views, out));
  std::vector<ir::Literal> results;
  results.push_back(std::move(result));
  return results;
}

}  // namespace kiln
