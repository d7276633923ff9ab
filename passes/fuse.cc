// kiln — fuse: groups chains of elementwise ops into `fusion` ops, each computed as one loop.
//
//   %0 = sub %y, %p : f32[N]          %0 = fusion (%y, %p) {kind = "loop"} : (...) -> f32[N] {
//   %1 = abs %0 : f32[N]       ==>    ^bb0(%arg0: f32[N], %arg1: f32[N]):
//   %2 = mul %1, %1 : f32[N]            %1 = sub %arg0, %arg1 ...  yield %3 : f32[N] }
//
// Algorithm (single-output producer/consumer fusion):
//   1) Walk the function's top-level ops backwards. An elementwise op not yet in a group starts a
//      new group as its root.
//   2) Grow the group to a fixpoint: a producer P of a member joins when P is elementwise, has
//      the root's shape, and *every* user of P is already in the group. Only the root has users
//      outside the group, so no path leaves the group and comes back: fusing cannot create a
//      cycle, and no work is duplicated.
//   3) Scalar constants used by members are copied into the region (sunk; the original goes if
//      nothing else uses it); every other outside value becomes a fusion operand / region
//      argument, in order of first use.
//   4) Groups with a single non-constant op stay as they are (the compiler lowers a lone
//      elementwise op as a loop anyway).
// The regions of `cond` and `while` are fused the same way, each on its own (regions are
// isolated, so a group never spans a region boundary); fusion regions are not entered.
// Lit test: tests/lit/passes/fuse.kir.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "ir/builder.h"
#include "passes/fuse_matmul.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool fusible(const ir::Op& op) { return ir::is_elementwise(op.kind()) && op.num_results() == 1; }

bool is_scalar_const(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  return def && def->kind() == ir::OpKind::kConst && v->type().shape.rank() == 0;
}

class FusePass : public FunctionPass {
 public:
  std::string_view name() const override { return "fuse"; }

  absl::StatusOr<bool> run_on_function(ir::Function& fn) override {
    return run_on_block(fn.body());
  }

 private:
  static bool run_on_block(ir::Block& body) {
    bool changed = false;
    for (auto& op : body.ops()) {
      if (ir::op_info(op->kind()).cls != ir::OpClass::kControl) continue;
      for (int r = 0; r < op->num_regions(); ++r) changed |= run_on_block(*op->region(r));
    }
    changed |= fuse_matmul_epilogues(body);
    // Users of each value among top-level ops (values are used only at top level here, since
    // fusion regions are isolated).
    std::unordered_map<const ir::Value*, std::vector<ir::Op*>> users;
    for (auto& op : body.ops()) {
      for (ir::Value* v : op->operands()) users[v].push_back(op.get());
    }
    std::unordered_map<const ir::Op*, int> group_of;
    std::vector<std::vector<ir::Op*>> groups;
    std::vector<ir::Op*> order;
    for (auto& op : body.ops()) order.push_back(op.get());

    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      ir::Op* root = *it;
      if (!fusible(*root) || group_of.count(root)) continue;
      const int id = static_cast<int>(groups.size());
      std::set<ir::Op*> members{root};
      group_of[root] = id;
      for (bool grew = true; grew;) {
        grew = false;
        for (ir::Op* m : std::vector<ir::Op*>(members.begin(), members.end())) {
          for (ir::Value* v : m->operands()) {
            ir::Op* p = v->defining_op();
            if (!p || members.count(p) || group_of.count(p) || !fusible(*p)) continue;
            if (!(p->result()->type().shape == root->result()->type().shape)) continue;
            const auto& us = users[p->result()];
            if (!std::all_of(us.begin(), us.end(), [&](ir::Op* u) { return members.count(u); })) {
              continue;
            }
            members.insert(p);
            group_of[p] = id;
            grew = true;
          }
        }
      }
      // Keep program order inside the group.
      std::vector<ir::Op*> ordered;
      for (ir::Op* op : order) {
        if (members.count(op)) ordered.push_back(op);
      }
      groups.push_back(std::move(ordered));
    }

    std::set<ir::Op*> sunk;
    for (auto& group : groups) {
      if (group.size() < 2) continue;
      build_fusion(body, group, sunk);
      changed = true;
    }
    // Constants copied into regions that nothing outside uses any more go away here, so the
    // pass leaves no debris for dce.
    for (ir::Op* c : sunk) {
      if (!ir::has_uses(body, c->result())) body.erase(c);
    }
    return changed;
  }

  // Replaces the ops of `group` (program order, root last) by one fusion op at the root.
  static void build_fusion(ir::Block& body, const std::vector<ir::Op*>& group,
                           std::set<ir::Op*>& sunk) {
    ir::Op* root = group.back();
    std::set<const ir::Op*> in_group(group.begin(), group.end());
    // 3) Outside values become operands, in order of first use.
    std::vector<ir::Value*> inputs;
    for (ir::Op* op : group) {
      for (ir::Value* v : op->operands()) {
        const ir::Op* def = v->defining_op();
        if ((def && in_group.count(def)) || is_scalar_const(v)) continue;
        if (std::find(inputs.begin(), inputs.end(), v) == inputs.end()) inputs.push_back(v);
      }
    }
    std::vector<ir::Type> input_types;
    for (ir::Value* v : inputs) input_types.push_back(v->type());

    ir::Builder outer(&body, body.find(root));
    ir::Op* fusion = outer.create_op(ir::OpKind::kFusion, inputs, {root->result()->type()},
                                     ir::Attrs{{"kind", std::string("loop")}}, root->loc());
    ir::Block& region = fusion->create_region();
    std::unordered_map<const ir::Value*, ir::Value*> mapped;
    for (size_t i = 0; i < inputs.size(); ++i)
      mapped[inputs[i]] = region.add_argument(input_types[i]);

    ir::Builder inner(&region);
    for (ir::Op* op : group) {
      std::vector<ir::Value*> operands;
      for (ir::Value* v : op->operands()) {
        auto m = mapped.find(v);
        if (m == mapped.end()) {  // a scalar constant: copy it into the region once
          sunk.insert(v->defining_op());
          ir::Value* c = inner.constant(*v->defining_op()->literal(), v->defining_op()->loc());
          m = mapped.emplace(v, c).first;
        }
        operands.push_back(m->second);
      }
      ir::Op* clone = inner.create_op(op->kind(), std::move(operands), {op->result()->type()},
                                      op->attrs(), op->loc());
      mapped[op->result()] = clone->result();
    }
    inner.create_op(ir::OpKind::kYield, {mapped[root->result()]}, {});

    ir::replace_all_uses(body, root->result(), fusion->result());
    for (auto it = group.rbegin(); it != group.rend(); ++it) body.erase(*it);
  }
};

}  // namespace

std::unique_ptr<Pass> create_fuse_pass() { return std::make_unique<FusePass>(); }

}  // namespace kiln::passes
