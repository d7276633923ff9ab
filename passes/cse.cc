// kiln — cse: common subexpression elimination.
//
//   %0 = exp %x : f32[4]              %0 = exp %x : f32[4]
//   %1 = exp %x : f32[4]       ==>    %2 = add %0, %0 : f32[4]
//   %2 = add %0, %1 : f32[4]
//
// Two ops are the same computation when they agree in kind, operands (the same SSA values),
// attributes (floats compared bit for bit, so -0.0 and 0.0 differ), literal (by value, every
// byte) and result types. Walking each block in order, an op equal to an earlier one has its
// results replaced by the earlier op's results and is erased. Each block is its own scope:
// regions (fusion, cond, while, custom_grad) are isolated from above, so each region is processed
// on its own. Never merged: terminators, ops with regions, and ops with side effects
// (ir::has_side_effects). Lit test: tests/lit/passes/cse.kir.
#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "passes/pass.h"

namespace kiln::passes {
namespace {

void combine(size_t& seed, size_t v) {
  seed ^= v + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2);
}

size_t hash_op(const ir::Op& op) {
  size_t h = static_cast<size_t>(op.kind());
  for (const ir::Value* v : op.operands()) combine(h, std::hash<const void*>()(v));
  for (int r = 0; r < op.num_results(); ++r) {
    const ir::Type& t = op.result(r)->type();
    combine(h, static_cast<size_t>(t.dtype));
    for (int64_t d : t.shape) combine(h, std::hash<int64_t>()(d));
  }
  for (const auto& [name, value] : op.attrs()) combine(h, std::hash<std::string_view>()(name));
  if (op.literal()) {
    const ir::Literal& lit = *op.literal();
    combine(h, std::hash<std::string_view>()(std::string_view(
                   static_cast<const char*>(lit.data()), static_cast<size_t>(lit.size_bytes()))));
  }
  return h;
}

bool same_attribute(const ir::Attribute& a, const ir::Attribute& b) {
  if (a.index() != b.index()) return false;
  if (const double* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return std::memcmp(x, &y, sizeof(double)) == 0;
  }
  return a == b;
}

bool same_computation(const ir::Op& a, const ir::Op& b) {
  if (a.kind() != b.kind() || a.operands() != b.operands() || a.num_results() != b.num_results()) {
    return false;
  }
  for (int r = 0; r < a.num_results(); ++r) {
    if (!(a.result(r)->type() == b.result(r)->type())) return false;
  }
  if (a.attrs().size() != b.attrs().size()) return false;
  for (auto ia = a.attrs().begin(), ib = b.attrs().begin(); ia != a.attrs().end(); ++ia, ++ib) {
    if (ia->first != ib->first || !same_attribute(ia->second, ib->second)) return false;
  }
  return a.literal() == b.literal();
}

bool mergeable(const ir::Op& op) {
  return ir::op_info(op.kind()).cls != ir::OpClass::kTerminator && op.num_regions() == 0 &&
         !ir::has_side_effects(op.kind()) && op.num_results() > 0;
}

bool eliminate(ir::Block& block) {
  bool changed = false;
  std::unordered_multimap<size_t, ir::Op*> seen;
  std::unordered_map<const ir::Value*, ir::Value*> replaced;
  auto& ops = block.ops();
  for (auto it = ops.begin(); it != ops.end();) {
    ir::Op* op = it->get();
    // Operands defined before: already replaced by their representatives.
    for (int i = 0; i < op->num_operands(); ++i) {
      auto r = replaced.find(op->operand(i));
      if (r != replaced.end()) op->set_operand(i, r->second);
    }
    for (int r = 0; r < op->num_regions(); ++r) changed |= eliminate(*op->region(r));
    if (!mergeable(*op)) {
      ++it;
      continue;
    }
    const size_t h = hash_op(*op);
    ir::Op* earlier = nullptr;
    for (auto [b, e] = seen.equal_range(h); b != e && !earlier; ++b) {
      if (same_computation(*b->second, *op)) earlier = b->second;
    }
    if (!earlier) {
      seen.emplace(h, op);
      ++it;
      continue;
    }
    for (int r = 0; r < op->num_results(); ++r) replaced[op->result(r)] = earlier->result(r);
    it = ops.erase(it);
    changed = true;
  }
  return changed;
}

class CsePass : public FunctionPass {
 public:
  std::string_view name() const override { return "cse"; }
  absl::StatusOr<bool> run_on_function(ir::Function& fn) override { return eliminate(fn.body()); }
};

}  // namespace

std::unique_ptr<Pass> create_cse_pass() { return std::make_unique<CsePass>(); }

}  // namespace kiln::passes
