// kiln — the rewrite-rule driver (passes/rewrite.h) and the hit counters of simplify's rules.
#include "passes/rewrite.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"

namespace kiln::passes {
namespace {

std::unique_ptr<ir::Module> parse(const char* text) {
  auto m = ir::parse_module(text);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

int count_ops(const ir::Block& block, ir::OpKind kind) {
  int n = 0;
  ir::walk(block, [&](const ir::Op& op) { n += op.kind() == kind; });
  return n;
}

// neg(neg(x)) -> x, written as a rule the way passes write theirs.
Rule drop_neg_pair() {
  return {"drop-neg-pair", {ir::OpKind::kNeg}, [](ir::Op& op, Rewriter& rw) {
            ir::Op* inner = defined_by(op.operand(0), ir::OpKind::kNeg);
            if (!inner) return false;
            rw.replace(inner->operand(0));
            return true;
          }};
}

constexpr const char* kNegChain = R"(func @f(%x: f32[4]) -> f32[4] {
  %0 = neg %x : f32[4]
  %1 = neg %0 : f32[4]
  %2 = neg %1 : f32[4]
  %3 = neg %2 : f32[4]
  %4 = neg %3 : f32[4]
  %5 = neg %4 : f32[4]
  return %5 : f32[4]
}
)";

TEST(RewriteDriver, RunsToAFixedPointAndCountsHits) {
  auto m = parse(kNegChain);
  ir::Function& fn = *m->functions()[0];
  std::vector<Rule> rules;
  rules.push_back(drop_neg_pair());
  RewriteDriver driver(std::move(rules));
  EXPECT_TRUE(driver.run(fn.body()));
  // Six negations cancel in three pairs: the function returns its argument.
  const ir::Op* ret = fn.body().terminator();
  ASSERT_NE(ret, nullptr);
  EXPECT_EQ(ret->operand(0), fn.body().argument(0)) << ir::print(fn);
  EXPECT_EQ(driver.hits("drop-neg-pair"), 3);
  EXPECT_EQ(driver.hits("no-such-rule"), 0);
  // Nothing left to do: no change, no new hits.
  EXPECT_FALSE(driver.run(fn.body()));
  EXPECT_EQ(driver.hits("drop-neg-pair"), 3);
  ASSERT_EQ(driver.statistics().size(), 1u);
  EXPECT_EQ(driver.statistics()[0].first, "drop-neg-pair");
  EXPECT_EQ(driver.statistics()[0].second, 3);
}

TEST(RewriteDriver, OddChainLeavesOneOp) {
  auto m = parse(R"(func @f(%x: f32[4]) -> f32[4] {
  %0 = neg %x : f32[4]
  %1 = neg %0 : f32[4]
  %2 = neg %1 : f32[4]
  return %2 : f32[4]
}
)");
  ir::Function& fn = *m->functions()[0];
  std::vector<Rule> rules;
  rules.push_back(drop_neg_pair());
  RewriteDriver driver(std::move(rules));
  EXPECT_TRUE(driver.run(fn.body()));
  EXPECT_EQ(driver.hits("drop-neg-pair"), 1);
  const ir::Op* ret = fn.body().terminator();
  const ir::Op* def = ret->operand(0)->defining_op();
  ASSERT_NE(def, nullptr);
  EXPECT_EQ(def->kind(), ir::OpKind::kNeg);
  EXPECT_EQ(def->operand(0), fn.body().argument(0)) << ir::print(fn);
}

TEST(RewriteDriver, RewritesInsideRegions) {
  auto m = parse(R"(func @f(%x: f32[4]) -> f32[4] {
  %0 = fusion (%x) {kind = "loop"} : (f32[4]) -> f32[4] {
  ^bb0(%a: f32[4]):
    %1 = neg %a : f32[4]
    %2 = neg %1 : f32[4]
    %3 = exp %2 : f32[4]
    yield %3 : f32[4]
  }
  return %0 : f32[4]
}
)");
  ir::Function& fn = *m->functions()[0];
  std::vector<Rule> rules;
  rules.push_back(drop_neg_pair());
  RewriteDriver driver(std::move(rules));
  EXPECT_TRUE(driver.run(fn.body()));
  EXPECT_EQ(driver.hits("drop-neg-pair"), 1);
  const ir::Block& region = *fn.body().ops().front()->region();
  const ir::Op* exp = region.terminator()->operand(0)->defining_op();
  ASSERT_NE(exp, nullptr);
  EXPECT_EQ(exp->kind(), ir::OpKind::kExp);
  EXPECT_EQ(exp->operand(0), region.argument(0)) << ir::print(fn);
}

TEST(RewriteDriver, OpsCreatedByARuleAreVisited) {
  // x / 1 becomes x * 1 (div-by-power-of-two creates a mul), which mul-by-one then removes.
  auto m = parse(R"(func @f(%x: f32[4]) -> f32[4] {
  %0 = const 1.0 : f32[]
  %1 = div %x, %0 : f32[4]
  return %1 : f32[4]
}
)");
  ir::Function& fn = *m->functions()[0];
  RewriteDriver driver(simplify_rules());
  EXPECT_TRUE(driver.run(fn.body()));
  EXPECT_EQ(driver.hits("div-by-power-of-two"), 1);
  EXPECT_EQ(driver.hits("mul-by-one"), 1);
  EXPECT_EQ(fn.body().terminator()->operand(0), fn.body().argument(0)) << ir::print(fn);
  EXPECT_EQ(count_ops(fn.body(), ir::OpKind::kDiv), 0);
}

TEST(RewriteDriver, UsersOfARewrittenOpAreVisitedAgain) {
  // An op a rule changed in place is looked at again: reshape-chain makes the outer reshape
  // read x directly, then reshape-same-shape removes it.
  auto m = parse(R"(func @f(%x: f32[2,3]) -> f32[2,3] {
  %0 = transpose %x {perm = [0, 1]} : f32[2,3]
  %1 = reshape %0 {shape = [6]} : f32[6]
  %2 = reshape %1 {shape = [2, 3]} : f32[2,3]
  return %2 : f32[2,3]
}
)");
  ir::Function& fn = *m->functions()[0];
  RewriteDriver driver(simplify_rules());
  EXPECT_TRUE(driver.run(fn.body()));
  EXPECT_EQ(fn.body().terminator()->operand(0), fn.body().argument(0)) << ir::print(fn);
  EXPECT_EQ(driver.hits("transpose-identity"), 1);
  EXPECT_EQ(driver.hits("reshape-chain"), 1);
  EXPECT_EQ(driver.hits("reshape-same-shape"), 1);
}

TEST(RewriteDriver, RulesThatUndoEachOtherStop) {
  auto m = parse(R"(func @f(%x: f32[4]) -> f32[4] {
  %0 = neg %x : f32[4]
  return %0 : f32[4]
}
)");
  ir::Function& fn = *m->functions()[0];
  auto swap = [](std::string name, ir::OpKind from, ir::OpKind to) {
    return Rule{std::move(name), {from}, [to](ir::Op& op, Rewriter& rw) {
                  rw.replace(rw.create(to, {op.operand(0)}));
                  return true;
                }};
  };
  std::vector<Rule> rules;
  rules.push_back(swap("neg-to-abs", ir::OpKind::kNeg, ir::OpKind::kAbs));
  rules.push_back(swap("abs-to-neg", ir::OpKind::kAbs, ir::OpKind::kNeg));
  RewriteDriver driver(std::move(rules));
  // Debug builds assert; others stop after the budget of 64 rewrites per op.
  EXPECT_DEBUG_DEATH(driver.run(fn.body()), "fixed point");
  const int64_t hits = driver.hits("neg-to-abs") + driver.hits("abs-to-neg");
  EXPECT_LE(hits, 64 * 3 + 1);
#ifdef NDEBUG
  EXPECT_GT(hits, 64 * 3);  // it ran until the budget
#endif
}

TEST(SimplifyPass, RuleNamesAreUniqueAndCounted) {
  auto pass = create_pass("simplify", {});
  ASSERT_TRUE(pass.ok());
  std::set<std::string> names;
  for (const auto& [name, hits] : (*pass)->statistics()) {
    EXPECT_TRUE(names.insert(name).second) << "rule " << name << " twice";
    EXPECT_EQ(hits, 0) << name;
  }
  EXPECT_EQ(names.size(), simplify_rules().size());
  EXPECT_GE(names.size(), 18u);
}

TEST(SimplifyPass, HitCountersCountEachRewrite) {
  auto m = parse(R"(func @f(%x: f32[4], %b: bool[4]) -> (f32[4], f32[4], f32[4], f32[4]) {
  %0 = const 1.0 : f32[]
  %1 = mul %x, %0 : f32[4]
  %2 = mul %0, %1 : f32[4]
  %3 = const -0.0 : f32[]
  %4 = add %2, %3 : f32[4]
  %5 = const 0.0 : f32[]
  %6 = add %x, %5 : f32[4]
  %7 = mul %x, %5 : f32[4]
  %8 = const 0.5 : f32[]
  %9 = pow %x, %8 : f32[4]
  %10 = select %b, %9, %9 : f32[4]
  return %4, %6, %7, %10 : f32[4], f32[4], f32[4], f32[4]
}
)");
  auto pass = create_pass("simplify", {});
  ASSERT_TRUE(pass.ok());
  auto changed = (*pass)->run(*m);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed);
  std::map<std::string, int64_t> hits;
  for (const auto& [name, n] : (*pass)->statistics()) hits[name] = n;
  EXPECT_EQ(hits["mul-by-one"], 2);
  EXPECT_EQ(hits["add-zero"], 1);  // x + 0.0 is not x
  EXPECT_EQ(hits["select-same-branches"], 1);
  EXPECT_EQ(hits["pow-two"], 0);
  int64_t total = 0;
  for (const auto& [name, n] : hits) total += n;
  EXPECT_EQ(total, 4) << ir::print(*m);
  // Counters accumulate over runs; a second run finds nothing more.
  auto again = (*pass)->run(*m);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  for (const auto& [name, n] : (*pass)->statistics()) EXPECT_EQ(n, hits[name]) << name;
}

TEST(Cse, MergesIdenticalOpsAndKeepsDistinctOnes) {
  auto m = parse(R"(func @f(%x: f32[4]) -> (f32[4], f32[4], f32[4]) {
  %0 = exp %x : f32[4]
  %1 = exp %x : f32[4]
  %2 = log %x : f32[4]
  return %0, %1, %2 : f32[4], f32[4], f32[4]
}
)");
  auto pass = create_pass("cse", {});
  ASSERT_TRUE(pass.ok());
  auto changed = (*pass)->run(*m);
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(*changed);
  const ir::Block& body = m->functions()[0]->body();
  EXPECT_EQ(count_ops(body, ir::OpKind::kExp), 1);
  EXPECT_EQ(count_ops(body, ir::OpKind::kLog), 1);
  const ir::Op* ret = body.terminator();
  EXPECT_EQ(ret->operand(0), ret->operand(1));
  EXPECT_NE(ret->operand(0), ret->operand(2));
  auto again = (*pass)->run(*m);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

}  // namespace
}  // namespace kiln::passes
