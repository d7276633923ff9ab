// kiln — autodiff: expands every `grad` op into the backward computation.
//
//   %g:2 = grad %target, %seed, %w, %b : (f32[5,1], f32[1])
//
// is the cotangent of %target (weighted by %seed, which has the target's type) with respect to
// %w and %b. The pass walks, in reverse program order, the ops on a path from a source to the
// target, asks the Differentiator (the runtime's gradient rules, the same ones GradientTape
// uses) for each op's operand cotangents, sums cotangents that meet (fan-out), and replaces the
// grad op's results. A source the target does not depend on gets zeros. `stop_gradient` blocks
// the flow; once every grad op is expanded it is the identity and the pass removes it (inside
// cond/while regions too).
// Grad ops are expanded in program order, so a grad of a grad (higher order) sees the first
// one's expansion.
//
// A `custom_grad` op on the path is differentiated by its region instead of a rule: the region
// is cloned before the grad op with its first argument bound to the incoming cotangent and the
// others to the op's operands, and its yielded values are the cotangents of operands #1..#k
// (none flows to the forward value, operand #0, or to the captured values after the inputs).
// Once every grad op is expanded, a custom_grad is the identity of its forward value and the
// pass replaces it by that value, as it does stop_gradient.
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
    bool changed = false;
    // In program order; expanding a custom_grad region can bring in further grad ops (a tape
    // used inside a gradient function), which this loop then finds.
    for (;;) {
      ir::Op* grad = first_of(body, ir::OpKind::kGrad);
      if (!grad) break;
      if (!ctx_.differentiator) {
        return absl::FailedPreconditionError("autodiff: no Differentiator (gradient rules) given");
      }
      KILN_RETURN_IF_ERROR(expand(body, grad));
      changed = true;
    }
    return remove_identities(body) || changed;
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
      absl::StatusOr<ir::Differentiator::Cotangents> dxs;
      if (op->kind() == ir::OpKind::kCustomGrad) {
        dxs = inline_custom_grad(*op, dys[0], any_masked, body, grad_pos);
      } else {
        dxs = ctx_.differentiator->differentiate(*op, dys, any_masked, body, grad_pos);
      }
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

  // Replaces stop_gradient and custom_grad by their forward value in `block` and in the regions
  // of its cond/while ops (the Variables assigned in a loop body leave stop_gradients there),
  // except in regions that still hold a grad op.
  static bool remove_identities(ir::Block& block) {
    std::vector<ir::Op*> identities;
    bool changed = false;
    for (auto& op : block.ops()) {
      if (op->kind() == ir::OpKind::kStopGradient || op->kind() == ir::OpKind::kCustomGrad) {
        identities.push_back(op.get());
      } else if (op->kind() == ir::OpKind::kCond || op->kind() == ir::OpKind::kWhile) {
        for (int r = 0; r < op->num_regions(); ++r) {
          if (!holds_grad(*op->region(r))) changed |= remove_identities(*op->region(r));
        }
      }
    }
    for (ir::Op* s : identities) {
      ir::replace_all_uses(block, s->result(), s->operand(0));
      block.erase(s);
    }
    return changed || !identities.empty();
  }

  static bool holds_grad(const ir::Block& block) {
    for (const auto& op : block.ops()) {
      if (op->kind() == ir::OpKind::kGrad) return true;
      for (int r = 0; r < op->num_regions(); ++r) {
        if (holds_grad(*op->region(r))) return true;
      }
    }
    return false;
  }

  static ir::Op* first_of(ir::Block& body, ir::OpKind kind) {
    for (auto& op : body.ops()) {
      if (op->kind() == kind) return op.get();
    }
    return nullptr;
  }

  // A copy of `op` (its region too) whose operands are renamed through `map`; the copy's
  // results and region values are added to `map`.
  static std::unique_ptr<ir::Op> clone(const ir::Op& op,
                                       std::unordered_map<const ir::Value*, ir::Value*>& map) {
    std::vector<ir::Value*> operands;
    for (ir::Value* v : op.operands()) {
      auto it = map.find(v);
      operands.push_back(it == map.end() ? v : it->second);
    }
    std::vector<ir::Type> types;
    for (int r = 0; r < op.num_results(); ++r) types.push_back(op.result(r)->type());
    std::unique_ptr<ir::Op> copy =
        ir::Op::create(op.kind(), std::move(operands), std::move(types), op.attrs(), op.loc());
    if (op.literal()) copy->set_literal(*op.literal());
    for (int r = 0; r < op.num_results(); ++r) map[op.result(r)] = copy->result(r);
    for (int r = 0; r < op.num_regions(); ++r) {
      const ir::Block* region = op.region(r);
      ir::Block& inner = copy->add_region();
      for (int i = 0; i < region->num_arguments(); ++i) {
        const ir::Value* a = region->argument(i);
        map[a] = inner.add_argument(a->type(), a->name());
      }
      for (const auto& o : region->ops()) inner.append(clone(*o, map));
    }
    return copy;
  }

  // The cotangents of a custom_grad's operands: its region, inlined before `pos` with the
  // cotangent `dy` and the op's operands for the region's arguments.
  static absl::StatusOr<ir::Differentiator::Cotangents> inline_custom_grad(
      const ir::Op& op, ir::Value* dy, bool masked, ir::Block& body,
      ir::Block::OpList::iterator pos) {
    ir::Differentiator::Cotangents out;
    out.operands.assign(op.num_operands(), nullptr);
    out.masked = masked;
    const ir::Block* region = op.region();
    if (!dy) return out;
    if (!region || !region->terminator() || region->num_arguments() != op.num_operands() + 1) {
      return absl::InvalidArgumentError("autodiff: malformed 'custom_grad' region");
    }
    std::unordered_map<const ir::Value*, ir::Value*> map;
    map[region->argument(0)] = dy;
    for (int i = 0; i < op.num_operands(); ++i) map[region->argument(i + 1)] = op.operand(i);
    const ir::Op* yield = region->terminator();
    for (const auto& inner : region->ops()) {
      if (inner.get() == yield) break;
      body.insert(pos, clone(*inner, map));
    }
    for (int i = 0; i < yield->num_operands() && i + 1 < op.num_operands(); ++i) {
      auto it = map.find(yield->operand(i));
      out.operands[i + 1] = it == map.end() ? yield->operand(i) : it->second;
    }
    return out;
  }

  PassContext ctx_;
};

}  // namespace

std::unique_ptr<Pass> create_autodiff_pass(const PassContext& ctx) {
  return std::make_unique<AutodiffPass>(ctx);
}

}  // namespace kiln::passes
