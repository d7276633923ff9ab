// kiln — KernelEvaluator: IR ops on literals through the eager kernels.
#include "runtime/evaluator.h"

#include <gtest/gtest.h>

#include <vector>

#include "ir/builder.h"
#include "ir/function.h"

namespace kiln {
namespace {

using ir::Literal;
using ir::OpKind;
using ir::Type;

// Evaluates the op defining `v`, whose operands are all `const` ops (what constant folding does).
absl::StatusOr<std::vector<Literal>> fold(ir::Value* v) {
  const ir::Op* op = v->defining_op();
  std::vector<const Literal*> operands;
  for (ir::Value* in : op->operands()) operands.push_back(&*in->defining_op()->literal());
  KernelEvaluator evaluator;
  return evaluator.evaluate(*op, operands);
}

TEST(KernelEvaluator, FoldsAnAddOfConstants) {
  ir::Function fn("f");
  ir::Builder b(&fn.body());
  ir::Value* x = b.constant(Literal::from_doubles(Type{float32, Shape{2, 2}}, {1, 2, 3, 4}));
  ir::Value* y = b.scalar_constant(float32, 0.5);
  auto sum = b.create(OpKind::kAdd, {x, y});
  ASSERT_TRUE(sum.ok()) << sum.status();
  auto folded = fold(*sum);
  ASSERT_TRUE(folded.ok()) << folded.status();
  ASSERT_EQ(folded->size(), 1u);
  EXPECT_EQ((*folded)[0], Literal::from_doubles(Type{float32, Shape{2, 2}}, {1.5, 2.5, 3.5, 4.5}));
}

TEST(KernelEvaluator, ReduceAndMatmul) {
  ir::Function fn("f");
  ir::Builder b(&fn.body());
  ir::Value* m = b.constant(Literal::from_doubles(Type{int32, Shape{2, 3}}, {1, 2, 3, 4, 5, 6}));
  auto mean = b.create(OpKind::kReduceMean, {m}, {{"axes", std::vector<int64_t>{-1}}});
  ASSERT_TRUE(mean.ok());
  auto folded = fold(*mean);
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_EQ((*folded)[0], Literal::from_doubles(Type{int32, Shape{2}}, {2, 5}));

  ir::Value* t = b.constant(Literal::from_doubles(Type{int32, Shape{3, 2}}, {1, 4, 2, 5, 3, 6}));
  auto prod = b.create(OpKind::kMatmul, {m, t});
  ASSERT_TRUE(prod.ok());
  folded = fold(*prod);
  ASSERT_TRUE(folded.ok()) << folded.status();
  EXPECT_EQ((*folded)[0], Literal::from_doubles(Type{int32, Shape{2, 2}}, {14, 32, 32, 77}));
}

TEST(KernelEvaluator, KernelErrorsBecomeStatuses) {
  ir::Function fn("f");
  ir::Builder b(&fn.body());
  ir::Value* x = b.scalar_constant(int32, 1);
  ir::Value* zero = b.scalar_constant(int32, 0);
  auto q = b.create(OpKind::kDiv, {x, zero});
  ASSERT_TRUE(q.ok());
  auto folded = fold(*q);
  ASSERT_FALSE(folded.ok());
  EXPECT_EQ(folded.status().message(), "div: Integer division by zero");
}

TEST(KernelEvaluator, RejectsOperandsThatContradictTheOp) {
  ir::Function fn("f");
  ir::Builder b(&fn.body());
  ir::Value* x = b.constant(Literal(Type{float32, Shape{2}}));
  auto neg = b.create(OpKind::kNeg, {x});
  ASSERT_TRUE(neg.ok());
  Literal wrong(Type{float32, Shape{3}});
  const Literal* operands[] = {&wrong};
  KernelEvaluator evaluator;
  auto r = evaluator.evaluate(*(*neg)->defining_op(), operands);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace kiln
