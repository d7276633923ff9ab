// kiln — const-fold: replaces an op whose operands are all constants by a constant.
//
//   %0 = const 2.0 : f32[]            %2 = const 6.0 : f32[]
//   %1 = const 3.0 : f32[]     ==>
//   %2 = mul %0, %1 : f32[]
//
// The value comes from the ir::Evaluator in the PassContext (the runtime's eager kernels), so
// folding computes exactly what eager execution would. Results larger than
// PassContext::fold_size_limit elements are left alone (folding a broadcast would bloat the IR).
// Folded ops are erased; constants that become unused are left for dce. Folding runs inside
// regions too (each region on its own values); cond and while themselves are never folded.
// Lit test: tests/lit/passes/const-fold.kir.
#include <vector>

#include "passes/pass.h"
#include "support/str.h"

namespace kiln::passes {
namespace {

bool foldable(const ir::Op& op) {
  switch (ir::op_info(op.kind()).cls) {
    case ir::OpClass::kConstant:
    case ir::OpClass::kFusion:
    case ir::OpClass::kControl:
    case ir::OpClass::kTerminator:
      return false;
    default:
      break;
  }
  if (op.num_operands() == 0 || op.kind() == ir::OpKind::kGrad) return false;
  for (ir::Value* v : op.operands()) {
    const ir::Op* def = v->defining_op();
    if (!def || def->kind() != ir::OpKind::kConst) return false;
  }
  return true;
}

class ConstFoldPass : public FunctionPass {
 public:
  explicit ConstFoldPass(const PassContext& ctx) : ctx_(ctx) {}
  std::string_view name() const override { return "const-fold"; }

  absl::StatusOr<bool> run_on_function(ir::Function& fn) override { return fold_block(fn.body()); }

 private:
  absl::StatusOr<bool> fold_block(ir::Block& block) {
    bool changed = false;
    auto& ops = block.ops();
    for (auto it = ops.begin(); it != ops.end();) {
      ir::Op* op = it->get();
      for (int r = 0; r < op->num_regions(); ++r) {
        auto c = fold_block(*op->region(r));
        if (!c.ok()) return c.status();
        changed |= *c;
      }
      if (!foldable(*op) || op->num_results() != 1 ||
          !op->result()->type().shape.is_fully_defined() ||  // sized at run time
          op->result()->type().shape.num_elements() > ctx_.fold_size_limit) {
        ++it;
        continue;
      }
      if (!ctx_.evaluator) {
        return absl::FailedPreconditionError("const-fold needs an evaluator (none was given)");
      }
      std::vector<const ir::Literal*> operands;
      for (ir::Value* v : op->operands()) operands.push_back(&*v->defining_op()->literal());
      absl::StatusOr<std::vector<ir::Literal>> folded = ctx_.evaluator->evaluate(*op, operands);
      if (!folded.ok()) {
        // An op that fails on these constants (e.g. integer division by zero) is left for run
        // time, where it reports the error in context.
        ++it;
        continue;
      }
      auto c = ir::Op::create(ir::OpKind::kConst, {}, {op->result()->type()}, {}, op->loc());
      c->set_literal(std::move((*folded)[0]));
      ir::Op* cst = block.insert(it, std::move(c));
      // A value is used only in its own block and the regions nested in it.
      ir::replace_all_uses(block, op->result(), cst->result());
      it = ops.erase(it);
      changed = true;
    }
    return changed;
  }

  PassContext ctx_;
};

}  // namespace

std::unique_ptr<Pass> create_const_fold_pass(const PassContext& ctx) {
  return std::make_unique<ConstFoldPass>(ctx);
}

}  // namespace kiln::passes
