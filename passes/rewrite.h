// kiln — the rewrite-rule driver: named rules, each matching one op and rewriting it, applied
// to a fixed point over a block and the regions nested in it.
//
// A rule looks at one op and either leaves it alone (returns false) or changes the IR through
// the Rewriter it is given (returns true): it may create ops before the matched op, change the
// matched op's operands or attributes, or replace the matched op's results by other values
// (which erases it). It must not touch other existing ops. The driver keeps a worklist: every op
// once, then, after a rule fired, the rewritten op (if it is still there), the ops created by the
// rule and the users of replaced values, until the worklist is empty (rules must make the IR
// simpler; a set that undoes itself stops after 64 rewrites per op). Each rule counts its hits.
//
//   std::vector<Rule> rules;
//   rules.push_back({"mul-one", {ir::OpKind::kMul}, [](ir::Op& op, Rewriter& rw) { ... }});
//   RewriteDriver driver(std::move(rules));
//   bool changed = driver.run(fn.body());
//   int64_t n = driver.hits("mul-one");
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ir/builder.h"
#include "ir/function.h"

namespace kiln::passes {

class Rewriter;
class BlockRewrite;  // the driver's state while it works on one block (rewrite.cc)

struct Rule {
  // Unique within a driver; used for statistics, docs and the lit test cases.
  std::string name;
  // The op kinds the rule looks at (empty: every op).
  std::vector<ir::OpKind> kinds;
  // Returns true if it changed the IR (and only then).
  std::function<bool(ir::Op& op, Rewriter& rw)> apply;
};

// What a rule may do to the IR while it is applied to `op()`.
class Rewriter {
 public:
  ir::Op& op() const { return *op_; }

  // Creates `kind(operands) {attrs}` right before op(), its type inferred. Inference failing
  // means the rule built invalid IR: a bug, which aborts.
  ir::Value* create(ir::OpKind kind, std::vector<ir::Value*> operands, ir::Attrs attrs = {});
  // A `const` right before op().
  ir::Value* constant(ir::Literal value);

  // Makes op() use `v` as operand `i`.
  void set_operand(int i, ir::Value* v);
  // Replaces every use of op()'s results by `values` (same types) and erases op(); the rule
  // must return true right after.
  void replace(std::vector<ir::Value*> values);
  void replace(ir::Value* v) { replace(std::vector<ir::Value*>{v}); }

 private:
  friend class RewriteDriver;
  Rewriter(BlockRewrite& state, ir::Op* op) : state_(state), op_(op) {}

  BlockRewrite& state_;
  ir::Op* op_;
};

class RewriteDriver {
 public:
  explicit RewriteDriver(std::vector<Rule> rules);

  // Applies the rules to every op of `block` and of the regions nested in it until none fires.
  // True if anything changed.
  bool run(ir::Block& block);

  // How often rule `name` fired over all runs of this driver (0 for an unknown name).
  int64_t hits(std::string_view name) const;
  // (name, hits) for every rule, in rule order.
  std::vector<std::pair<std::string, int64_t>> statistics() const;
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  bool run_block(ir::Block& block);

  std::vector<Rule> rules_;
  std::vector<int64_t> hits_;
  std::vector<std::vector<int>> by_kind_;  // per OpKind: indices of the rules to try, in order
};

// Helpers for matching.

// The literal of `v` if it is the result of a `const` op, else nullptr.
const ir::Literal* constant_value(const ir::Value* v);
// True if `v` is a constant whose every element satisfies `pred` (given the element as double).
bool constant_all(const ir::Value* v, const std::function<bool(double)>& pred);
// The defining op of `v` if it has kind `kind`, else nullptr.
ir::Op* defined_by(const ir::Value* v, ir::OpKind kind);

// The rules of the `simplify` pass (simplify.cc), in the order they are tried.
std::vector<Rule> simplify_rules();
// simplify turns a broadcast of a scalar constant into a constant up to this many elements.
inline constexpr int64_t kSimplifySplatLimit = 16;

}  // namespace kiln::passes
