// kiln — fuse: groups chains of elementwise ops, with at most one reduction, into `fusion` ops,
// each computed as one loop.
//
//   %0 = sub %y, %p : f32[N]          %0 = fusion (%y, %p) {kind = "loop"} : (...) -> f32[N] {
//   %1 = abs %0 : f32[N]       ==>    ^bb0(%arg0: f32[N], %arg1: f32[N]):
//   %2 = mul %1, %1 : f32[N]            %1 = sub %arg0, %arg1 ...  yield %3 : f32[N] }
//
// Algorithm (single-output producer/consumer fusion):
//   1) Walk the function's top-level ops backwards. A fusible op (elementwise, or a reduction the
//      compiler lowers natively, see fusible_reduce) not yet in a group starts a new group as its
//      root.
//   2) Grow the group to a fixpoint: a producer P of a member joins when *every* user of P is
//      already in the group and P fits the member's stage (below). Only the root has users
//      outside the group, so no path leaves the group and comes back: fusing cannot create a
//      cycle, and no work is duplicated.
//      Stages: a group holds at most one reduction R. Ops feeding R (its prologue) are elementwise
//      ops of R's input shape whose operands the reduce loop reads in place (that shape, one
//      element, or a broadcast along whole groups of kept or reduced dims, see reduce_readable);
//      R reduces a contiguous block of axes (all, trailing, leading or middle); ops after
//      R (its epilogue, or all ops of a group without R) are elementwise ops of the root's shape. A
//      producer joins the stage of its users, all of which must be in one stage. R itself joins
//      a group of epilogue ops when its result has the root's shape and every epilogue operand
//      has that shape or one element.
//      A loop group (no reduction) also takes a `transpose` of an outside value to its shape:
//      the loop reads the transposed operand in place, with permuted strides.
//   3) Scalar constants used by members are copied into the region (sunk; the original goes if
//      nothing else uses it); every other outside value becomes a fusion operand / region
//      argument, in order of first use.
//   4) Groups with a single non-constant op stay as they are (the compiler lowers a lone
//      elementwise op as a loop anyway; a lone reduction runs its kernel), except a lone
//      reduction over leading or middle axes (column_reduce), which becomes a reduce fusion.
// A group with a reduction becomes `fusion {kind = "reduce"}`, the others `{kind = "loop"}`.
//   5) Related loop fusions and lone elementwise ops of one shape then merge into multi-output
//      loop fusions (passes/fuse_multi.cc): a consumer with its producer, or siblings reading a
//      common input.
// The regions of `cond` and `while` are fused the same way, each on its own (regions are
// isolated, so a group never spans a region boundary); fusion regions are not entered.
// Lit test: tests/lit/passes/fuse.kir.
#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

#include "ir/array_ops.h"
#include "ir/builder.h"
#include "passes/fuse_matmul.h"
#include "passes/fuse_multi.h"
#include "passes/pass.h"

namespace kiln::passes {
namespace {

bool fusible(const ir::Op& op) { return ir::is_elementwise(op.kind()) && op.num_results() == 1; }

// A reduction the compiler computes natively in a reduce fusion (compiler/lower_reduce.cc):
// sum, mean, max or min of a float32/float64 value with at least two reduced elements (or an
// unknown count), over a contiguous block of axes (no kept dim of size > 1 between two reduced
// dims of size > 1, unknown dims counting as > 1: all, trailing, leading or middle axes).
// Others run their kernel.
bool fusible_reduce(const ir::Op& op) {
  const ir::OpKind k = op.kind();
  if (k != ir::OpKind::kReduceSum && k != ir::OpKind::kReduceMean && k != ir::OpKind::kReduceMax &&
      k != ir::OpKind::kReduceMin) {
    return false;
  }
  if (op.num_operands() != 1 || op.num_results() != 1) return false;
  const ir::Type& in = op.operand(0)->type();
  if (in.dtype != DType::kFloat32 && in.dtype != DType::kFloat64) return false;
  auto axes = ir::reduction_axes(op.mnemonic(), op.attrs(), in.shape.rank());
  if (!axes.ok()) return false;
  int64_t reduced = 1;
  bool unknown = false;
  int group = 0;  // 0: kept dims before the reduced ones, 1: reduced, 2: kept dims after them
  for (int d = 0; d < in.shape.rank(); ++d) {
    if (in.shape[d] == 1) continue;
    const bool r = std::find(axes->begin(), axes->end(), d) != axes->end();
    if (r && group == 2) return false;
    if (r) {
      group = 1;
      if (in.shape[d] < 0) {
        unknown = true;
      } else {
        reduced *= in.shape[d];
      }
    } else if (group == 1) {
      group = 2;
    }
  }
  return unknown || reduced >= 2;
}

// A fusible reduction that keeps dims of size > 1 (or unknown) after its reduced ones (a sum
// over the batch of a bias gradient): alone it still becomes a reduce fusion, whose column loop
// beats the kernel's strided walk.
bool column_reduce(const ir::Op& op) {
  if (!fusible_reduce(op)) return false;
  const Shape& s = op.operand(0)->type().shape;
  auto axes = ir::reduction_axes(op.mnemonic(), op.attrs(), s.rank());
  bool seen_reduced = false;
  for (int d = 0; axes.ok() && d < s.rank(); ++d) {
    const bool r = std::find(axes->begin(), axes->end(), d) != axes->end();
    if (r && s[d] != 1) seen_reduced = true;
    if (!r && s[d] != 1 && seen_reduced) return true;
  }
  return false;
}

// Integer div/mod/floordiv: their loops check for zero divisors through a flag the reduce
// lowering does not have, so they stay out of reduce fusions.
bool integer_division(const ir::Op& op) {
  const ir::OpKind k = op.kind();
  return (k == ir::OpKind::kDiv || k == ir::OpKind::kMod || k == ir::OpKind::kFloorDiv) &&
         op.num_operands() > 0 && is_integer(op.operand(0)->type().dtype);
}

// A transpose the loop reads in place (strided): of a value from outside the group, to the
// group's shape, with a valid permutation.
bool fusible_transpose(const ir::Op& op, const Shape& shape) {
  if (op.kind() != ir::OpKind::kTranspose || op.num_operands() != 1 || op.num_results() != 1) {
    return false;
  }
  if (!(op.result()->type().shape == shape) || !shape.is_fully_defined()) return false;
  return ir::transpose_perm(op.attrs(), op.operand(0)->type().shape.rank()).ok();
}

bool same_or_single(const ir::Value* v, const Shape& shape) {
  return v->type().shape == shape || v->type().shape.num_elements() == 1;
}

// True if a value of `shape`, broadcast (NumPy trailing alignment) to the input of reduction
// `r`, is read by the reduce loop without materializing: with that input viewed as
// [P, R, Q] (kept dims before the reduced ones, reduced dims, kept dims after them), the value's
// dims within each group are either all broadcast or all dense (e.g. f32[3] along f32[4,3]
// reduced over axis 1, or f32[C] along f32[B,T,C] reduced over axis 1). Mirrors
// compiler/lower_reduce.cc.
bool reduce_readable(const Shape& shape, const ir::Op& r) {
  const Shape& s = r.operand(0)->type().shape;
  if (shape == s || shape.num_elements() == 1) return true;
  if (shape.rank() > s.rank()) return false;
  auto axes = ir::reduction_axes(r.mnemonic(), r.attrs(), s.rank());
  if (!axes.ok()) return false;
  // dense[d]: the value varies along dim d of the reduction's input (else it is broadcast).
  std::vector<bool> dense(s.rank(), false);
  for (int j = 0; j < shape.rank(); ++j) {
    const int d = s.rank() - shape.rank() + j;
    if (shape[j] != 1 && shape[j] != s[d]) return false;
    dense[d] = shape[j] != 1;
  }
  std::vector<int> group_of(s.rank(), -1);
  bool seen_reduced = false;
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] == 1) continue;
    const bool reduced = std::find(axes->begin(), axes->end(), d) != axes->end();
    seen_reduced = seen_reduced || reduced;
    group_of[d] = reduced ? 1 : seen_reduced ? 2 : 0;
  }
  for (int g = 0; g < 3; ++g) {
    int last = -1;
    for (int d = 0; d < s.rank(); ++d) {
      if (group_of[d] != g) continue;
      if (last >= 0 && dense[last] != dense[d]) return false;
      last = d;
    }
  }
  return true;
}

// A group with a reduction over unknown dims takes the run-time sizes from an input of the
// reduction's input shape (compiler/lower_reduce.cc): true if it has one (or needs none).
bool reduce_sizes_known(const std::vector<ir::Op*>& group) {
  std::set<const ir::Op*> in_group(group.begin(), group.end());
  for (const ir::Op* op : group) {
    if (!fusible_reduce(*op)) continue;
    const Shape& s = op->operand(0)->type().shape;
    if (s.is_fully_defined()) return true;
    for (const ir::Op* member : group) {
      for (const ir::Value* v : member->operands()) {
        const ir::Op* def = v->defining_op();
        if (!(def && in_group.count(def)) && v->type().shape == s) return true;
      }
    }
    return false;
  }
  return true;
}

enum class Stage { kMain, kReduce, kPrologue };

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
      if ((!fusible(*root) && !fusible_reduce(*root)) || group_of.count(root)) continue;
      const int id = static_cast<int>(groups.size());
      std::map<ir::Op*, Stage> members{{root, fusible(*root) ? Stage::kMain : Stage::kReduce}};
      ir::Op* reduce = fusible(*root) ? nullptr : root;
      const Shape& out_shape = root->result()->type().shape;
      group_of[root] = id;
      for (bool grew = true; grew;) {
        grew = false;
        std::vector<std::pair<ir::Op*, Stage>> snapshot(members.begin(), members.end());
        for (auto [m, m_stage] : snapshot) {
          for (ir::Value* v : m->operands()) {
            ir::Op* p = v->defining_op();
            if (!p || members.count(p) || group_of.count(p)) continue;
            const auto& us = users[p->result()];
            // Every user in the group, all in one stage (the reduction counts as the prologue's).
            bool ok = !us.empty();
            for (ir::Op* u : us) {
              auto mu = members.find(u);
              if (mu == members.end()) {
                ok = false;
                break;
              }
              const bool u_main = mu->second == Stage::kMain;
              if (u_main != (m_stage == Stage::kMain)) ok = false;
            }
            // A transpose member reads its operand from memory: that operand never joins.
            for (ir::Op* u : us) ok = ok && u->kind() != ir::OpKind::kTranspose;
            if (!ok) continue;
            Stage stage;
            if (m_stage == Stage::kMain) {
              if (fusible(*p)) {
                if (!(p->result()->type().shape == out_shape)) continue;
                if (reduce && integer_division(*p)) continue;
                if (reduce && !std::all_of(p->operands().begin(), p->operands().end(),
                                           [&](const ir::Value* o) {
                                             return same_or_single(o, out_shape);
                                           })) {
                  continue;
                }
                stage = Stage::kMain;
              } else if (!reduce && fusible_transpose(*p, out_shape)) {
                stage = Stage::kMain;
              } else if (!reduce && fusible_reduce(*p) && p->result()->type().shape == out_shape &&
                         epilogue_operands_fit(members, out_shape)) {
                stage = Stage::kReduce;
              } else {
                continue;
              }
            } else {
              const Shape& in_shape = reduce->operand(0)->type().shape;
              if (!fusible(*p) || integer_division(*p) ||
                  !(p->result()->type().shape == in_shape)) {
                continue;
              }
              if (!std::all_of(p->operands().begin(), p->operands().end(), [&](const ir::Value* o) {
                    return reduce_readable(o->type().shape, *reduce);
                  })) {
                continue;
              }
              stage = Stage::kPrologue;
            }
            if (stage == Stage::kReduce) reduce = p;
            members[p] = stage;
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
      const bool lone_columns = group.size() == 1 && column_reduce(*group[0]);
      if ((group.size() < 2 && !lone_columns) || !reduce_sizes_known(group)) continue;
      build_fusion(body, group, sunk);
      changed = true;
    }
    // Constants copied into regions that nothing outside uses any more go away here, so the
    // pass leaves no debris for dce.
    for (ir::Op* c : sunk) {
      if (!ir::has_uses(body, c->result())) body.erase(c);
    }
    changed |= merge_multi_output(body);
    return changed;
  }

  // True if every operand of the epilogue (kMain) members has `shape` or one element, so a
  // reduction producing `shape` may join them.
  static bool epilogue_operands_fit(const std::map<ir::Op*, Stage>& members, const Shape& shape) {
    for (const auto& [m, stage] : members) {
      if (integer_division(*m) || m->kind() == ir::OpKind::kTranspose) return false;
      for (const ir::Value* o : m->operands()) {
        if (!same_or_single(o, shape)) return false;
      }
    }
    return true;
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
    const bool has_reduce = std::any_of(group.begin(), group.end(),
                                        [](const ir::Op* op) { return fusible_reduce(*op); });
    ir::Op* fusion = outer.create_op(
        ir::OpKind::kFusion, inputs, {root->result()->type()},
        ir::Attrs{{"kind", std::string(has_reduce ? "reduce" : "loop")}}, root->loc());
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
