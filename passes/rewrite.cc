// kiln — the rewrite-rule driver (see rewrite.h).
#include "passes/rewrite.h"

#include <cassert>
#include <cstdlib>
#include <deque>
#include <iostream>

#include "ir/printer.h"

namespace kiln::passes {

// The worklist and use lists of one block. Regions are isolated from above, so the uses of a
// value of this block are all among this block's ops.
class BlockRewrite {
 public:
  explicit BlockRewrite(ir::Block& block) : block_(block) {
    for (auto& op : block.ops()) {
      live_.insert(op.get());
      note_uses(op.get());
      push(op.get());
    }
  }

  // The next op to look at, or nullptr when done.
  ir::Op* pop() {
    while (!worklist_.empty()) {
      ir::Op* op = worklist_.front();
      worklist_.pop_front();
      if (queued_.erase(op)) return op;  // not queued any more: erased after it was pushed
    }
    return nullptr;
  }

  void push(ir::Op* op) {
    if (live_.count(op) && queued_.insert(op).second) worklist_.push_back(op);
  }

  void push_users(const ir::Value* v) {
    auto it = users_.find(v);
    if (it == users_.end()) return;
    for (ir::Op* u : std::vector<ir::Op*>(it->second)) push(u);
  }

  ir::Value* create(ir::Op* before, ir::OpKind kind, std::vector<ir::Value*> operands,
                    ir::Attrs attrs) {
    ir::Builder b(&block_, block_.find(before));
    absl::StatusOr<ir::Value*> v =
        b.create(kind, std::move(operands), std::move(attrs), before->loc());
    if (!v.ok()) {
      std::cerr << "kiln: a rewrite rule built an invalid " << ir::mnemonic(kind)
                << " op: " << v.status().message() << "\n";
      std::abort();
    }
    added((*v)->defining_op());
    return *v;
  }

  ir::Value* constant(ir::Op* before, ir::Literal value) {
    ir::Builder b(&block_, block_.find(before));
    ir::Value* v = b.constant(std::move(value), before->loc());
    added(v->defining_op());
    return v;
  }

  void set_operand(ir::Op* op, int i, ir::Value* v) {
    op->set_operand(i, v);
    users_[v].push_back(op);
  }

  void replace(ir::Op* op, const std::vector<ir::Value*>& values) {
    assert(static_cast<int>(values.size()) == op->num_results());
    for (int r = 0; r < op->num_results(); ++r) {
      ir::Value* from = op->result(r);
      ir::Value* to = values[r];
      assert(from->type() == to->type());
      auto it = users_.find(from);
      if (it == users_.end()) continue;
      std::vector<ir::Op*> us = std::move(it->second);
      users_.erase(it);
      for (ir::Op* u : us) {
        if (!live_.count(u)) continue;
        bool uses = false;
        for (int i = 0; i < u->num_operands(); ++i) {
          if (u->operand(i) == from) {
            u->set_operand(i, to);
            uses = true;
          }
        }
        if (uses) {
          users_[to].push_back(u);
          push(u);
        }
      }
    }
    live_.erase(op);
    queued_.erase(op);
    block_.erase(op);
  }

  bool is_live(ir::Op* op) const { return live_.count(op) > 0; }
  // Ops created since the last call.
  std::vector<ir::Op*> take_added() { return std::exchange(added_, {}); }

 private:
  void note_uses(ir::Op* op) {
    for (ir::Value* v : op->operands()) users_[v].push_back(op);
  }
  void added(ir::Op* op) {
    live_.insert(op);
    note_uses(op);
    added_.push_back(op);
  }

  ir::Block& block_;
  std::unordered_set<ir::Op*> live_;
  std::unordered_map<const ir::Value*, std::vector<ir::Op*>> users_;
  std::deque<ir::Op*> worklist_;
  std::unordered_set<ir::Op*> queued_;
  std::vector<ir::Op*> added_;
};

ir::Value* Rewriter::create(ir::OpKind kind, std::vector<ir::Value*> operands, ir::Attrs attrs) {
  return state_.create(op_, kind, std::move(operands), std::move(attrs));
}

ir::Value* Rewriter::constant(ir::Literal value) { return state_.constant(op_, std::move(value)); }

void Rewriter::set_operand(int i, ir::Value* v) { state_.set_operand(op_, i, v); }

void Rewriter::replace(std::vector<ir::Value*> values) { state_.replace(op_, values); }

RewriteDriver::RewriteDriver(std::vector<Rule> rules)
    : rules_(std::move(rules)), hits_(rules_.size(), 0), by_kind_(ir::kNumOpKinds) {
  for (size_t r = 0; r < rules_.size(); ++r) {
    for (size_t q = 0; q < r; ++q) assert(rules_[q].name != rules_[r].name);
    if (rules_[r].kinds.empty()) {
      for (auto& list : by_kind_) list.push_back(static_cast<int>(r));
    } else {
      for (ir::OpKind k : rules_[r].kinds)
        by_kind_[static_cast<int>(k)].push_back(static_cast<int>(r));
    }
  }
}

bool RewriteDriver::run(ir::Block& block) { return run_block(block); }

bool RewriteDriver::run_block(ir::Block& block) {
  bool changed = false;
  for (auto& op : block.ops()) {
    for (int r = 0; r < op->num_regions(); ++r) changed |= run_block(*op->region(r));
  }
  BlockRewrite state(block);
  // Every rule makes the IR simpler, so the worklist empties; rules that undo each other would
  // not, and are a bug: stop after a generous budget rather than loop forever.
  const int64_t budget = 64 * (static_cast<int64_t>(block.ops().size()) + 1);
  int64_t rewrites = 0;
  while (ir::Op* op = state.pop()) {
    if (rewrites > budget) {
      assert(false && "rewrite rules do not reach a fixed point");
      break;
    }
    for (int r : by_kind_[static_cast<int>(op->kind())]) {
      Rewriter rw(state, op);
      if (!rules_[r].apply(*op, rw)) continue;
      ++hits_[r];
      ++rewrites;
      changed = true;
      // Look again at what the rule touched: the op if it is still there (and the ops using
      // it, which may match now), and the ops it created.
      if (state.is_live(op)) {
        state.push(op);
        for (int i = 0; i < op->num_results(); ++i) state.push_users(op->result(i));
      }
      for (ir::Op* added : state.take_added()) state.push(added);
      break;
    }
  }
  return changed;
}

int64_t RewriteDriver::hits(std::string_view name) const {
  for (size_t r = 0; r < rules_.size(); ++r) {
    if (rules_[r].name == name) return hits_[r];
  }
  return 0;
}

std::vector<std::pair<std::string, int64_t>> RewriteDriver::statistics() const {
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t r = 0; r < rules_.size(); ++r) out.emplace_back(rules_[r].name, hits_[r]);
  return out;
}

const ir::Literal* constant_value(const ir::Value* v) {
  const ir::Op* def = v->defining_op();
  if (!def || def->kind() != ir::OpKind::kConst || !def->literal()) return nullptr;
  return &*def->literal();
}

bool constant_all(const ir::Value* v, const std::function<bool(double)>& pred) {
  const ir::Literal* lit = constant_value(v);
  if (!lit) return false;
  for (int64_t i = 0; i < lit->num_elements(); ++i) {
    if (!pred(lit->get(i))) return false;
  }
  return true;
}

ir::Op* defined_by(const ir::Value* v, ir::OpKind kind) {
  ir::Op* def = v->defining_op();
  return def && def->kind() == kind ? def : nullptr;
}

}  // namespace kiln::passes
