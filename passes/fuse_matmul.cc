// kiln — fuse, matmul epilogue stage: a 2-D float32 matmul and the elementwise chain after it
// become one `fusion {kind = "matmul"}`, computed as the product of a row panel followed by the
// chain over that panel right after it (compiler/lower_matmul.cc).
//
//   %0 = matmul %x, %w : f32[32,30]               %3 = fusion (%x, %w, %b) {kind = "matmul"} ... {
//   %1 = broadcast %b {shape = [32, 30]}   ==>    ^bb0(%arg0: f32[32,5], %arg1: f32[5,30], %arg2:
//   f32[30]): %2 = add %0, %1 : f32[32,30]                    %4 = matmul %arg0, %arg1 ... %3 = elu
//   %2 : f32[32,30]                        %5 = broadcast %arg2 ... ; add ; elu ; yield
//
// The chain: starting at the matmul's result (the tip), the tip's only user joins when it is an
// elementwise float32 op of the tip's type whose other operands are all "row-broadcast": rank-0
// values (the IR's implicit scalar broadcast) or `broadcast` ops of a [N], [1, N], [1] or
// scalar value to the tip's [M, N]. Its result becomes the new tip. So every value of the chain
// except the last has exactly one user, inside the chain: the fusion has one result and
// replaces nothing anyone else reads. The chain stops at an op with side effects between the
// matmul and the next op (the fusion is placed at the chain's last op, so the matmul would move
// past it). Matmuls with batch dims, empty dims, other dtypes or no chain stay as they are (the
// lowering still computes small 2-D float32 products in generated code).
//
// In the region, operand #0 is A and #1 is B (even when they are the same value); the
// epilogue's operands follow in order of first use. Scalar constants are copied into the region
// and row broadcasts are recreated there, so a broadcast outside that nothing else uses goes.
#include "passes/fuse_matmul.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <vector>

#include "ir/builder.h"
#include "ir/ops.h"

namespace kiln::passes {
namespace {

bool is_scalar_const(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  return def && def->kind() == ir::OpKind::kConst && v->type().shape.rank() == 0;
}

// A float32 value the epilogue may read beside the tip: a scalar, or a row broadcast to [m, n].
bool row_broadcast_operand(const ir::Value* v, int64_t m, int64_t n) {
  if (v->type().dtype != DType::kFloat32) return false;
  if (v->type().shape.rank() == 0) return true;
  const ir::Op* def = v->defining_op();
  if (!def || def->kind() != ir::OpKind::kBroadcast || def->num_operands() != 1) return false;
  if (!(v->type().shape == Shape{m, n})) return false;
  const ir::Value* x = def->operand(0);
  if (x->type().dtype != DType::kFloat32) return false;
  const Shape& s = x->type().shape;
  if (s.rank() == 0) return true;
  if (s.rank() == 1) return s[0] == n || s[0] == 1;
  if (s.rank() == 2) return s[0] == 1 && (s[1] == n || s[1] == 1);
  return false;
}

bool chain_op(const ir::Op& op, const ir::Type& tip_type) {
  return ir::is_elementwise(op.kind()) && op.kind() != ir::OpKind::kBroadcast &&
         op.num_results() == 1 && op.num_regions() == 0 && op.result()->type() == tip_type;
}

class MatmulEpilogueFusion {
 public:
  explicit MatmulEpilogueFusion(ir::Block& body) : body_(body) {
    int i = 0;
    for (auto& op : body_.ops()) {
      position_[op.get()] = i++;
      order_.push_back(op.get());
      for (ir::Value* v : op->operands()) {
        auto& us = users_[v];
        if (std::find(us.begin(), us.end(), op.get()) == us.end()) us.push_back(op.get());
      }
    }
  }

  bool run() {
    bool changed = false;
    for (ir::Op* op : std::vector<ir::Op*>(order_)) {
      if (op->kind() != ir::OpKind::kMatmul || !candidate(*op)) continue;
      std::vector<ir::Op*> chain = grow_chain(op);
      if (chain.empty()) continue;
      build(op, chain);
      changed = true;
    }
    // Broadcasts first, then the constants they read.
    for (bool erased = true; erased;) {
      erased = false;
      for (auto it = maybe_dead_.begin(); it != maybe_dead_.end();) {
        if (ir::has_uses(body_, (*it)->result())) {
          ++it;
          continue;
        }
        body_.erase(*it);
        it = maybe_dead_.erase(it);
        erased = true;
      }
    }
    return changed;
  }

 private:
  static bool candidate(const ir::Op& mm) {
    if (mm.num_operands() != 2 || mm.num_results() != 1) return false;
    const ir::Type& t = mm.result()->type();
    const ir::Type& a = mm.operand(0)->type();
    const ir::Type& b = mm.operand(1)->type();
    if (t.dtype != DType::kFloat32 || a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32) {
      return false;
    }
    if (t.shape.rank() != 2 || a.shape.rank() != 2 || b.shape.rank() != 2) return false;
    if (!t.shape.is_fully_defined() || !a.shape.is_fully_defined() || !b.shape.is_fully_defined()) {
      return false;
    }
    return t.shape.num_elements() > 0 && a.shape.num_elements() > 0 && b.shape.num_elements() > 0;
  }

  std::vector<ir::Op*> grow_chain(ir::Op* mm) {
    const ir::Type tip_type = mm->result()->type();
    const int64_t m = tip_type.shape[0], n = tip_type.shape[1];
    std::vector<ir::Op*> chain;
    ir::Value* tip = mm->result();
    int scanned = position_.at(mm);  // ops up to here are known to have no side effects
    for (;;) {
      auto it = users_.find(tip);
      if (it == users_.end() || it->second.size() != 1) break;
      ir::Op* u = it->second.front();
      if (!chain_op(*u, tip_type)) break;
      bool operands_ok = true;
      for (const ir::Value* v : u->operands()) {
        if (v != tip && !row_broadcast_operand(v, m, n)) operands_ok = false;
      }
      if (!operands_ok) break;
      const int pos = position_.at(u);
      bool side_effects = false;
      for (int i = scanned + 1; i < pos; ++i)
        side_effects |= ir::has_side_effects(order_[i]->kind());
      if (side_effects) break;
      scanned = pos;
      chain.push_back(u);
      tip = u->result();
    }
    return chain;
  }

  void build(ir::Op* mm, const std::vector<ir::Op*>& chain) {
    ir::Op* root = chain.back();
    std::set<const ir::Op*> members(chain.begin(), chain.end());
    members.insert(mm);
    // Region operands: A, B, then the epilogue's outside values in order of first use (the
    // operand of a row broadcast stands for the broadcast).
    std::vector<ir::Value*> inputs = {mm->operand(0), mm->operand(1)};
    auto add_input = [&](ir::Value* v) {
      if (is_scalar_const(v)) return;
      if (std::find(inputs.begin() + 2, inputs.end(), v) == inputs.end()) inputs.push_back(v);
    };
    for (ir::Op* op : chain) {
      for (ir::Value* v : op->operands()) {
        const ir::Op* def = v->defining_op();
        if (def && members.count(def)) continue;
        if (def && def->kind() == ir::OpKind::kBroadcast) {
          add_input(def->operand(0));
        } else {
          add_input(v);
        }
      }
    }
    std::vector<ir::Type> input_types;
    for (ir::Value* v : inputs) input_types.push_back(v->type());

    ir::Builder outer(&body_, body_.find(root));
    ir::Op* fusion = outer.create_op(ir::OpKind::kFusion, inputs, {root->result()->type()},
                                     ir::Attrs{{"kind", std::string("matmul")}}, root->loc());
    ir::Block& region = fusion->create_region();
    std::unordered_map<const ir::Value*, ir::Value*> mapped;
    // A and B are always arguments #0 and #1; later inputs map by value.
    ir::Value* arg_a = region.add_argument(input_types[0]);
    ir::Value* arg_b = region.add_argument(input_types[1]);
    for (size_t i = 2; i < inputs.size(); ++i) {
      mapped[inputs[i]] = region.add_argument(input_types[i]);
    }
    ir::Builder inner(&region);
    // A scalar constant copied into the region once, or the region argument of `v`.
    auto inside = [&](ir::Value* v) -> ir::Value* {
      auto m = mapped.find(v);
      if (m != mapped.end()) return m->second;
      ir::Op* def = v->defining_op();
      maybe_dead_.insert(def);
      ir::Value* c = inner.constant(*def->literal(), def->loc());
      mapped.emplace(v, c);
      return c;
    };
    ir::Op* product = inner.create_op(ir::OpKind::kMatmul, {arg_a, arg_b}, {mm->result()->type()},
                                      mm->attrs(), mm->loc());
    mapped[mm->result()] = product->result();
    for (ir::Op* op : chain) {
      std::vector<ir::Value*> operands;
      for (ir::Value* v : op->operands()) {
        auto m = mapped.find(v);
        if (m != mapped.end()) {
          operands.push_back(m->second);
          continue;
        }
        ir::Op* def = v->defining_op();
        if (def && def->kind() == ir::OpKind::kBroadcast) {
          ir::Value* x = inside(def->operand(0));
          ir::Op* bc =
              inner.create_op(ir::OpKind::kBroadcast, {x}, {v->type()}, def->attrs(), def->loc());
          mapped[v] = bc->result();
          maybe_dead_.insert(def);
          operands.push_back(bc->result());
        } else {
          operands.push_back(inside(v));
        }
      }
      ir::Op* clone = inner.create_op(op->kind(), std::move(operands), {op->result()->type()},
                                      op->attrs(), op->loc());
      mapped[op->result()] = clone->result();
    }
    inner.create_op(ir::OpKind::kYield, {mapped[root->result()]}, {});

    ir::replace_all_uses(body_, root->result(), fusion->result());
    for (auto it = chain.rbegin(); it != chain.rend(); ++it) body_.erase(*it);
    body_.erase(mm);
  }

  ir::Block& body_;
  std::vector<ir::Op*> order_;
  std::unordered_map<const ir::Op*, int> position_;
  std::unordered_map<const ir::Value*, std::vector<ir::Op*>> users_;
  // Broadcasts and constants copied into a region; erased at the end if nothing uses them.
  std::set<ir::Op*> maybe_dead_;
};

}  // namespace

bool fuse_matmul_epilogues(ir::Block& body) { return MatmulEpilogueFusion(body).run(); }

}  // namespace kiln::passes
