// kiln — autodiff: expands every `grad` op into the backward computation.
//
//   %g:2 = grad %target, %seed, %w, %b : (f32[5,1], f32[1])
//
// is the cotangent of %target (weighted by %seed, which has the target's type) with respect to
// %w and %b. The pass walks, in reverse program order, the ops on a path from a source to the
// target, asks the Differentiator (the runtime's gradient rules, the same ones GradientTape
// uses) for each op's operand cotangents, sums cotangents that meet (fan-out), and replaces the
// grad op's results. A source the target does not depend on gets zeros. `stop_gradient` blocks
// the flow; once every grad op is expanded it is the identity and the pass removes it.
// Grad ops are expanded in program order, so a grad of a grad (higher order) sees the first
// one's expansion.
#include <unordered_map>
#include <unordered_set>

#include "ir/builder.h"
#include "passes/pass.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::passes {
namespace {

class AutodiffPass : public FunctionPass {
 public:
  explicit AutodiffPass(const PassContext& ctx) : ctx_(ctx) {}
  std::string_view name() const override { return "autodiff"; }

  absl::StatusOr<bool> run_on_function(ir::Function& fn) override {
    ir::Block& body = fn.body();
    std::vector<ir::Op*> grads, stops;
    for (auto& op : body.ops()) {
      if (op->kind() == ir::OpKind::kGrad) grads.push_back(op.get());
      if (op->kind() == ir::OpKind::kStopGradient) stops.push_back(op.get());
    }
    if (!grads.empty() && !ctx_.differentiator) {
      return absl::FailedPreconditionError("autodiff: no Differentiator (gradient rules) given");
    }
    for (ir::Op* g : grads) KILN_RETURN_IF_ERROR(expand(body, g));
    for (ir::Op* s : stops) {
      ir::replace_all_uses(body, s->result(), s->operand(0));
      body.erase(s);
    }
    return !grads.empty() || !stops.empty();
  }

 private:
  absl::Status expand(ir::Block& body, ir::Op* grad) {
    const auto grad_pos = body.find(grad);
    ir::Value* target = grad->operand(0);
    ir::Value* seed = grad->operand(1);

    // Values that depend on a source (forward), among the ops before the grad op.
    std::unordered_set<const ir::Value*> depends;
    for (int i = 2; i < grad->num_operands(); ++i) depends.insert(grad->operand(i));
    std::vector<ir::Op*> forward;  // ops with an operand that depends on a source
    for (auto it = body.ops().begin(); it != grad_pos; ++it) {
      ir::Op* op = it->get();
      bool hit = false;
      for (ir::Value* v : op->operands()) hit = hit || depends.count(v);
      if (!hit) continue;
      if (op->kind() == ir::OpKind::kStopGradient) continue;  // no flow past it
      forward.push_back(op);
      for (int r = 0; r < op->num_results(); ++r) depends.insert(op->result(r));
    }

    // Backward sweep over those ops, latest first.
    std::unordered_map<const ir::Value*, ir::Value*> cot;
    std::unordered_set<const ir::Value*> masked;
    if (depends.count(target)) cot[target] = seed;
    ir::Builder b(&body, grad_pos);
    for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
      ir::Op* op = *it;
      std::vector<ir::Value*> dys;
      bool any = false, any_masked = false;
      for (int r = 0; r < op->num_results(); ++r) {
        auto found = cot.find(op->result(r));
        dys.push_back(found == cot.end() ? nullptr : found->second);
        any = any || found != cot.end();
        any_masked = any_masked || masked.count(op->result(r));
      }
      if (!any) continue;
      auto dxs = ctx_.differentiator->differentiate(*op, dys, any_masked, body, grad_pos);
      if (!dxs.ok()) {
        return absl::Status(dxs.status().code(),
                            cat(dxs.status().message(),
                                op->loc().known() ? cat(" (at ", op->loc().to_string(), ")") : ""));
      }
      for (int i = 0; i < op->num_operands() && i < static_cast<int>(dxs->operands.size()); ++i) {
        ir::Value* dx = dxs->operands[i];
        ir::Value* x = op->operand(i);
        if (!dx || !depends.count(x)) continue;
        if (!(dx->type() == x->type())) {
          return absl::InternalError(cat("autodiff: the rule of '", op->mnemonic(),
                                         "' gave a cotangent of type ", dx->type().to_string(),
                                         " for operand #", i, " of type ", x->type().to_string()));
        }
        auto [slot, fresh] = cot.try_emplace(x, dx);
        if (!fresh) {
          std::vector<ir::Value*> terms{slot->second, dx};
          KILN_ASSIGN_OR_RETURN(slot->second,
                                b.create(ir::OpKind::kAdd, std::move(terms), {}, grad->loc()));
        }
        if (dxs->masked) masked.insert(x);
      }
    }

    // Results: the sources' cotangents, zeros where the target does not depend on a source.
    for (int i = 2; i < grad->num_operands(); ++i) {
      ir::Value* src = grad->operand(i);
      ir::Value* g = nullptr;
      if (auto found = cot.find(src); found != cot.end()) {
        g = found->second;
      } else {
        ir::Value* zero = b.scalar_constant(src->type().dtype, 0.0, grad->loc());
        if (src->type().shape.rank() == 0) {
          g = zero;
        } else {
          ir::Attrs attrs{{"shape", src->type().shape.dims()}};
          std::vector<ir::Value*> operands{zero};
          KILN_ASSIGN_OR_RETURN(g, b.create(ir::OpKind::kBroadcast, std::move(operands),
                                            std::move(attrs), grad->loc()));
        }
      }
      ir::replace_all_uses(body, grad->result(i - 2), g);
    }
    body.erase(grad);
    return absl::OkStatus();
  }

  PassContext ctx_;
};

}  // namespace

std::unique_ptr<Pass> create_autodiff_pass(const PassContext& ctx) {
  return std::make_unique<AutodiffPass>(ctx);
}

}  // namespace kiln::passes
