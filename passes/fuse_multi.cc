// kiln — fuse, second step: multi-output loop fusion.
//
// After the single-output groups are built, two loop units of one shape S (a loop fusion whose
// results all have shape S, or a lone elementwise op) become one fusion with several results
// when they are related: B reads a result of A (A's value then stays a result only if
// something else uses it), or both read a common operand of shape S (a big input read once).
// Nothing is recomputed: every op of A and B appears once in the merged region.
//
// Legality, for A before B in the block: B may move up to A when every operand of B is
// defined before A (or is A's result); otherwise A may move down to B when no op between them
// uses A's results. Either way no op with side effects (ir::has_side_effects) may lie between
// them, and a path A -> X -> B through another op X is impossible (X would lie between them,
// defining an operand of B and using A's result). Partners are looked for among the next
// kWindow ops, so the step stays linear in the block size. Reduce fusions are not merged.
#include "passes/fuse_multi.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ir/builder.h"

namespace kiln::passes {
namespace {

constexpr int kWindow = 48;

bool is_loop_fusion(const ir::Op& op) {
  return op.kind() == ir::OpKind::kFusion &&
         ir::attr_or<std::string>(op.attrs(), "kind", "loop") == "loop" && op.region() != nullptr;
}

// A loop fusion or a lone elementwise op whose results all have one shape.
bool is_unit(const ir::Op& op) {
  if (op.num_results() == 0) return false;
  if (!is_loop_fusion(op) && !(ir::is_elementwise(op.kind()) && op.num_results() == 1)) {
    return false;
  }
  for (int i = 1; i < op.num_results(); ++i) {
    if (!(op.result(i)->type().shape == op.result(0)->type().shape)) return false;
  }
  return op.result(0)->type().shape.is_fully_defined();
}

bool defines(const ir::Op& op, const ir::Value* v) { return v->defining_op() == &op; }

bool is_scalar_const(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  return def && def->kind() == ir::OpKind::kConst && v->type().shape.rank() == 0;
}

// Clones unit `u` into `inner`, its operands read through `mapped`; records its results.
void clone_unit(ir::Builder& inner, const ir::Op& u,
                std::unordered_map<const ir::Value*, ir::Value*>& mapped) {
  if (!is_loop_fusion(u)) {
    std::vector<ir::Value*> operands;
    for (const ir::Value* v : u.operands()) {
      auto m = mapped.find(v);
      if (m == mapped.end() && is_scalar_const(v)) {
        m = mapped.emplace(v, inner.constant(*v->defining_op()->literal())).first;
      }
      operands.push_back(m->second);
    }
    ir::Op* c =
        inner.create_op(u.kind(), std::move(operands), {u.result()->type()}, u.attrs(), u.loc());
    mapped[u.result()] = c->result();
    return;
  }
  const ir::Block& region = *u.region();
  std::unordered_map<const ir::Value*, ir::Value*> local;
  for (int i = 0; i < region.num_arguments(); ++i) {
    local[region.argument(i)] = mapped.at(u.operand(i));
  }
  for (const auto& op : region.ops()) {
    if (op->kind() == ir::OpKind::kYield) {
      for (int i = 0; i < op->num_operands(); ++i) mapped[u.result(i)] = local.at(op->operand(i));
      continue;
    }
    if (op->kind() == ir::OpKind::kConst) {
      local[op->result()] = inner.constant(*op->literal(), op->loc());
      continue;
    }
    std::vector<ir::Value*> operands;
    for (const ir::Value* v : op->operands()) operands.push_back(local.at(v));
    std::vector<ir::Type> types;
    for (int i = 0; i < op->num_results(); ++i) types.push_back(op->result(i)->type());
    ir::Op* c = inner.create_op(op->kind(), std::move(operands), types, op->attrs(), op->loc());
    for (int i = 0; i < op->num_results(); ++i) local[op->result(i)] = c->result(i);
  }
}

class Merger {
 public:
  explicit Merger(ir::Block& body) : body_(body) {}

  bool run() {
    bool changed = false;
    for (size_t i = 0;; ++i) {
      refresh();
      if (i >= order_.size()) break;
      while (try_merge_from(i)) {
        changed = true;
        refresh();
      }
    }
    return changed;
  }

 private:
  void refresh() {
    order_.clear();
    pos_.clear();
    used_.clear();
    for (auto& op : body_.ops()) {
      pos_[op.get()] = static_cast<int>(order_.size());
      order_.push_back(op.get());
      for (const ir::Value* v : op->operands()) used_.insert(v);
    }
  }

  // A unit all of whose results are used (dead ops are dce's, not merged into live loops).
  bool live_unit(const ir::Op& op) const {
    if (!is_unit(op)) return false;
    for (int i = 0; i < op.num_results(); ++i) {
      if (!used_.count(op.result(i))) return false;
    }
    return true;
  }

  // Merges order_[i] with the first fitting partner after it; false if there is none.
  bool try_merge_from(size_t i) {
    ir::Op* a = order_[i];
    if (!live_unit(*a)) return false;
    const Shape& shape = a->result(0)->type().shape;
    const size_t end = std::min(order_.size(), i + 1 + kWindow);
    for (size_t j = i + 1; j < end; ++j) {
      ir::Op* b = order_[j];
      if (ir::has_side_effects(b->kind())) return false;  // nothing moves across it
      if (!live_unit(*b) || !(b->result(0)->type().shape == shape)) continue;
      bool uses = false, shares = false;
      for (const ir::Value* v : b->operands()) {
        if (defines(*a, v)) uses = true;
        if (v->type().shape == shape && !defines(*a, v) &&
            std::find(a->operands().begin(), a->operands().end(), v) != a->operands().end()) {
          shares = true;
        }
      }
      if (!uses && !shares) continue;
      bool hoist = true;
      for (const ir::Value* v : b->operands()) {
        const ir::Op* def = v->defining_op();
        if (def && def != a && pos_.count(def) && pos_.at(def) > static_cast<int>(i)) hoist = false;
      }
      bool sink = true;
      for (size_t k = i + 1; sink && k < j; ++k) {
        for (const ir::Value* v : order_[k]->operands()) {
          if (defines(*a, v)) sink = false;
        }
      }
      if (!hoist && !sink) continue;
      merge(a, b, hoist ? a : b);
      return true;
    }
    return false;
  }

  void merge(ir::Op* a, ir::Op* b, ir::Op* at) {
    // A's results that something besides B uses stay results.
    std::vector<int> kept;
    for (int r = 0; r < a->num_results(); ++r) {
      bool outside = false;
      for (auto& op : body_.ops()) {
        if (op.get() == b || op.get() == a) continue;
        for (const ir::Value* v : op->operands()) outside = outside || v == a->result(r);
      }
      if (outside) kept.push_back(r);
    }
    std::vector<ir::Value*> inputs;
    for (ir::Op* u : {a, b}) {
      for (ir::Value* v : u->operands()) {
        if (defines(*a, v) || (!is_loop_fusion(*u) && is_scalar_const(v))) continue;
        if (std::find(inputs.begin(), inputs.end(), v) == inputs.end()) inputs.push_back(v);
      }
    }
    std::vector<ir::Type> result_types;
    for (int r : kept) result_types.push_back(a->result(r)->type());
    for (int r = 0; r < b->num_results(); ++r) result_types.push_back(b->result(r)->type());
    ir::Builder outer(&body_, body_.find(at));
    ir::Op* fusion = outer.create_op(ir::OpKind::kFusion, inputs, result_types,
                                     ir::Attrs{{"kind", std::string("loop")}}, a->loc());
    ir::Block& region = fusion->create_region();
    std::unordered_map<const ir::Value*, ir::Value*> mapped;
    for (ir::Value* v : inputs) mapped[v] = region.add_argument(v->type());
    ir::Builder inner(&region);
    clone_unit(inner, *a, mapped);
    clone_unit(inner, *b, mapped);
    std::vector<ir::Value*> yields;
    for (int r : kept) yields.push_back(mapped.at(a->result(r)));
    for (int r = 0; r < b->num_results(); ++r) yields.push_back(mapped.at(b->result(r)));
    inner.create_op(ir::OpKind::kYield, std::move(yields), {});
    int k = 0;
    for (int r : kept) ir::replace_all_uses(body_, a->result(r), fusion->result(k++));
    for (int r = 0; r < b->num_results(); ++r) {
      ir::replace_all_uses(body_, b->result(r), fusion->result(k++));
    }
    std::vector<ir::Op*> consts;
    for (ir::Op* u : {a, b}) {
      for (ir::Value* v : u->operands()) {
        if (is_scalar_const(v)) consts.push_back(v->defining_op());
      }
    }
    body_.erase(b);
    body_.erase(a);
    // Scalar constants now copied into the region go when nothing else uses them.
    std::sort(consts.begin(), consts.end());
    consts.erase(std::unique(consts.begin(), consts.end()), consts.end());
    for (ir::Op* c : consts) {
      if (!ir::has_uses(body_, c->result())) body_.erase(c);
    }
  }

  ir::Block& body_;
  std::vector<ir::Op*> order_;
  std::unordered_map<const ir::Op*, int> pos_;
  std::unordered_set<const ir::Value*> used_;
};

}  // namespace

bool merge_multi_output(ir::Block& body) { return Merger(body).run(); }

}  // namespace kiln::passes
