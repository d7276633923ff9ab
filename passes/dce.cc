// kiln — dce: removes ops whose results are never used.
//
// An op is dead if none of its results is used and it has no side effect
// (ir::has_side_effects: false for every op so far; Variable writes and seeded random ops will
// be kept when they arrive). Terminators are never dead. Runs inside regions too (fusion, cond,
// while, custom_grad); an unused cond or while goes whole, and region arguments always stay
// (they mirror the op's operands). Lit test:
// tests/lit/passes/dce.kir.
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool is_removable(const ir::Op& op) {
  return ir::op_info(op.kind()).cls != ir::OpClass::kTerminator && !ir::has_side_effects(op.kind());
}

// Removes dead ops in `block` (and its regions), walking backwards so that a chain of dead ops
// goes in one sweep. `scope` is the outermost block, where uses are searched.
bool remove_dead(ir::Block& block) {
  bool changed = false;
  for (auto& op : block.ops()) {
    for (int r = 0; r < op->num_regions(); ++r) changed |= remove_dead(*op->region(r));
  }
  auto& ops = block.ops();
  for (auto it = ops.end(); it != ops.begin();) {
    --it;
    ir::Op* op = it->get();
    if (!is_removable(*op)) continue;
    bool used = false;
    for (int r = 0; r < op->num_results() && !used; ++r) {
      // Values are used only in this block or in regions nested in it.
      used = ir::has_uses(block, op->result(r));
    }
    if (used) continue;
    it = ops.erase(it);
    changed = true;
  }
  return changed;
}

class DcePass : public FunctionPass {
 public:
  std::string_view name() const override { return "dce"; }
  absl::StatusOr<bool> run_on_function(ir::Function& fn) override { return remove_dead(fn.body()); }
};

}  // namespace

std::unique_ptr<Pass> create_dce_pass() { return std::make_unique<DcePass>(); }

}  // namespace kiln::passes
