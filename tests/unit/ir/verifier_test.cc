// kiln — tests for the IR verifier: each invariant of ir/verifier.h broken once.
#include "ir/verifier.h"

#include <gtest/gtest.h>

#include "ir/builder.h"

namespace kiln::ir {
namespace {

Type f32(Shape s) { return Type{DType::kFloat32, std::move(s)}; }

std::string error_of(const Function& fn) {
  absl::Status s = verify(fn);
  if (s.ok()) return "OK";
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

// Appends an op with explicit result types (no inference), like a buggy pass could.
Op* raw(Block& block, OpKind kind, std::vector<Value*> operands, std::vector<Type> results,
        Location loc = {}) {
  return block.append(Op::create(kind, std::move(operands), std::move(results), {}, loc));
}

// f(%a: f32[2]) with a fusion computing neg(%a); the region's ops are left to each test.
struct FusionFixture {
  Function fn{"f"};
  Value* a = fn.body().add_argument(f32({2}), "a");
  Op* fusion = raw(fn.body(), OpKind::kFusion, {a}, {f32({2})});
  Block& region = fusion->create_region();
  Value* x = region.add_argument(f32({2}));

  FusionFixture() { raw(fn.body(), OpKind::kReturn, {fusion->result()}, {}); }
};

TEST(VerifierTest, AcceptsWellFormedIR) {
  FusionFixture t;
  Builder b(&t.region);
  Value* n = *b.create(OpKind::kNeg, {t.x});
  Value* half = b.scalar_constant(DType::kFloat32, 0.5);
  Value* m = *b.create(OpKind::kMul, {n, half});  // a rank-0 operand broadcasts implicitly
  b.create_op(OpKind::kYield, {m}, {});
  EXPECT_EQ(error_of(t.fn), "OK");
}

TEST(VerifierTest, RejectsWrongOperandCount) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Op* add = raw(fn.body(), OpKind::kAdd, {a}, {f32({2})}, {"", 2, 8});
  raw(fn.body(), OpKind::kReturn, {add->result()}, {});
  EXPECT_EQ(error_of(fn), "2:8: error: 'add' expects 2 operand(s) but has 1");
}

TEST(VerifierTest, RejectsResultTypeThatInferenceDisagreesWith) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Op* neg = raw(fn.body(), OpKind::kNeg, {a}, {f32({3})});
  raw(fn.body(), OpKind::kReturn, {neg->result()}, {});
  EXPECT_EQ(error_of(fn),
            "error: in @f at `%0 = neg %a : f32[3]`: 'neg': result type f32[3] does not match "
            "inferred type f32[2]");
}

TEST(VerifierTest, RejectsImplicitNonScalarBroadcast) {
  Function fn("shape_mismatch");
  Value* a = fn.body().add_argument(f32({32, 1}), "a");
  Value* b = fn.body().add_argument(f32({16, 1}), "b");
  Op* sub = raw(fn.body(), OpKind::kSub, {a, b}, {f32({32, 1})}, {"", 4, 8});
  raw(fn.body(), OpKind::kReturn, {sub->result()}, {});
  EXPECT_EQ(error_of(fn),
            "4:8: error: 'sub': operand #1 is f32[16,1], expected f32[32,1] or f32[]");
}

TEST(VerifierTest, RejectsRankExtendingBroadcastThatInferenceAllows) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2, 3}), "a");
  Value* b = fn.body().add_argument(f32({3}), "b");
  Op* add = raw(fn.body(), OpKind::kAdd, {a, b}, {f32({2, 3})}, {"model.py", 7, 3});
  raw(fn.body(), OpKind::kReturn, {add->result()}, {});
  EXPECT_EQ(error_of(fn),
            "model.py:7:3: error: 'add': operand #1 is f32[3], expected f32[2,3] or f32[]");
}

TEST(VerifierTest, RejectsUseBeforeDefinition) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Builder b(&fn.body());
  Value* n = *b.create(OpKind::kNeg, {a});
  Value* m = *b.create(OpKind::kNeg, {n});
  b.create_return({m});
  n->defining_op()->set_operand(0, m);
  EXPECT_EQ(error_of(fn),
            "error: in @f at `%0 = neg %1 : f32[2]`: 'neg': operand #0 is used "
            "before its definition");
}

TEST(VerifierTest, RejectsValueFromAnotherFunction) {
  Function other("other");
  Value* stranger = other.body().add_argument(f32({2}), "s");
  Function fn("f");
  Builder(&fn.body()).create_return({stranger}, {"", 9, 3});
  EXPECT_EQ(error_of(fn), "9:3: error: 'return': operand #0 is not defined in @f");
}

TEST(VerifierTest, RejectsRegionUsingAValueFromAbove) {
  FusionFixture t;
  Builder b(&t.region);
  Value* n = *b.create(OpKind::kAdd, {t.x, t.a}, {}, {"", 4, 10});
  b.create_op(OpKind::kYield, {n}, {});
  EXPECT_EQ(error_of(t.fn),
            "4:10: error: 'add': operand #1 is defined outside the fusion region; "
            "regions are isolated from above");
}

TEST(VerifierTest, RejectsUseOfAValueDefinedInsideARegion) {
  FusionFixture t;
  Builder b(&t.region);
  Value* n = *b.create(OpKind::kNeg, {t.x});
  b.create_op(OpKind::kYield, {n}, {});
  t.fn.body().terminator()->set_operand(0, n);
  EXPECT_EQ(error_of(t.fn),
            "error: in @f at `return %1 : f32[2]`: 'return': operand #0 is "
            "defined inside a fusion region and not visible here");
}

TEST(VerifierTest, RejectsBodyWithoutReturn) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  ASSERT_TRUE(Builder(&fn.body()).create(OpKind::kNeg, {a}).ok());
  EXPECT_EQ(error_of(fn),
            "error: in @f at `%0 = neg %a : f32[2]`: a function body must end with "
            "'return', but its last op is 'neg'");
}

TEST(VerifierTest, RejectsEmptyBody) {
  Function fn("empty");
  EXPECT_EQ(error_of(fn), "error: in @empty: a function body must end with 'return' but is empty");
}

TEST(VerifierTest, RejectsTerminatorBeforeTheEnd) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Builder b(&fn.body());
  b.create_return({a}, {"", 2, 3});
  b.create_return({a});
  EXPECT_EQ(error_of(fn), "2:3: error: 'return' must be the last op of its block");
}

TEST(VerifierTest, RejectsYieldInAFunctionBody) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  raw(fn.body(), OpKind::kYield, {a}, {}, {"", 2, 3});
  EXPECT_EQ(error_of(fn), "2:3: error: 'yield' cannot end a function body; expected 'return'");
}

TEST(VerifierTest, RejectsRegionWithoutYield) {
  FusionFixture t;
  t.fusion->set_loc({"", 2, 8});
  EXPECT_EQ(error_of(t.fn), "2:8: error: a fusion region must end with 'yield' but is empty");
  raw(t.region, OpKind::kReturn, {t.x}, {}, {"", 4, 5});
  EXPECT_EQ(error_of(t.fn), "4:5: error: 'return' cannot end a fusion region; expected 'yield'");
}

TEST(VerifierTest, RejectsFusionResultsThatDifferFromTheYield) {
  FusionFixture t;
  Builder b(&t.region);
  b.create_op(OpKind::kYield, {b.scalar_constant(DType::kFloat32, 1)}, {});
  EXPECT_EQ(error_of(t.fn),
            "error: in @f at `%0 = fusion (%a) : (f32[2]) -> f32[2]`: 'fusion': "
            "result types (f32[2]) do not match the yielded types (f32[])");
}

TEST(VerifierTest, RejectsRegionArgumentsThatDifferFromTheOperands) {
  FusionFixture t;
  t.region.add_argument(f32({2}));
  t.fusion->set_loc({"", 2, 8});
  EXPECT_EQ(error_of(t.fn),
            "2:8: error: 'fusion': region has 2 argument(s) but the op has 1 operand(s)");

  FusionFixture u;
  u.x->set_type(f32({3}));
  u.fusion->set_loc({"", 2, 8});
  EXPECT_EQ(error_of(u.fn),
            "2:8: error: 'fusion': region argument #0 is f32[3] but operand #0 is f32[2]");
}

TEST(VerifierTest, ChecksOpsInsideRegions) {
  FusionFixture t;
  Op* neg = raw(t.region, OpKind::kNeg, {t.x}, {f32({})}, {"", 4, 10});
  raw(t.region, OpKind::kYield, {neg->result()}, {});
  EXPECT_EQ(error_of(t.fn),
            "4:10: error: 'neg': result type f32[] does not match inferred type f32[2]");
}

TEST(VerifierTest, RejectsConstWithoutMatchingLiteral) {
  Function fn("f");
  Op* c = raw(fn.body(), OpKind::kConst, {}, {f32({2})}, {"", 2, 8});
  raw(fn.body(), OpKind::kReturn, {c->result()}, {});
  EXPECT_EQ(error_of(fn), "2:8: error: 'const' has no literal");
  c->set_literal(Literal::scalar(DType::kFloat32, 1));
  EXPECT_EQ(error_of(fn), "2:8: error: 'const': literal is f32[] but the result is f32[2]");
}

TEST(VerifierTest, RejectsWrongResultCounts) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  raw(fn.body(), OpKind::kNeg, {a}, {}, {"", 2, 3});
  raw(fn.body(), OpKind::kReturn, {}, {});
  EXPECT_EQ(error_of(fn), "2:3: error: 'neg' must have 1 result but has 0");
}

TEST(VerifierTest, ModuleRejectsDuplicateFunctionNames) {
  Module m;
  for (int i = 0; i < 2; ++i) Builder(&m.add_function("f").body()).create_return({});
  EXPECT_EQ(verify(m).message(), "error: redefinition of function @f");
}

TEST(VerifyElementwiseOperandsTest, ScalarsAndUnknownDimsAreAccepted) {
  const Type b{DType::kBool, Shape{4}};
  EXPECT_TRUE(
      verify_elementwise_operands(OpKind::kSelect, std::vector<Type>{b, f32({}), f32({4})}).ok());
  EXPECT_TRUE(
      verify_elementwise_operands(OpKind::kAdd, std::vector<Type>{f32({-1, 3}), f32({5, 3})}).ok());
  EXPECT_TRUE(
      verify_elementwise_operands(OpKind::kMatmul, std::vector<Type>{f32({2, 3}), f32({3, 1})})
          .ok());
  EXPECT_EQ(verify_elementwise_operands(OpKind::kSelect, std::vector<Type>{b, f32({4}), f32({5})})
                .message(),
            "'select': operand #2 is f32[5], expected f32[4] or f32[]");
}

}  // namespace
}  // namespace kiln::ir

namespace kiln::ir {
namespace {

// cond and while carry exactly two regions (only a pass building IR could get this wrong; the
// parser always reads two).
TEST(VerifierTest, RejectsControlFlowWithoutTwoRegions) {
  Function fn("f");
  Value* p = fn.body().add_argument(Type{DType::kBool, Shape{}}, "p");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Op* cond = raw(fn.body(), OpKind::kCond, {p, a}, {f32({2})}, {"", 3, 5});
  raw(fn.body(), OpKind::kReturn, {cond->result()}, {});
  EXPECT_EQ(error_of(fn), "3:5: error: 'cond' has no region");
  Block& then_region = cond->add_region();
  Value* x = then_region.add_argument(f32({2}));
  Builder(&then_region).create_op(OpKind::kYield, {x}, {});
  EXPECT_EQ(error_of(fn), "3:5: error: 'cond' must have 2 region(s) but has 1");
  Block& else_region = cond->add_region();
  Value* y = else_region.add_argument(f32({2}));
  Builder(&else_region).create_op(OpKind::kYield, {y}, {});
  EXPECT_EQ(error_of(fn), "OK");
  // A value of the then branch used in the else branch.
  else_region.ops().back()->set_operand(0, x);
  EXPECT_EQ(error_of(fn),
            "error: in @f at `yield %arg0 : f32[2]`: 'yield': operand #0 is defined inside a "
            "cond region and not visible here");
}

// f(%a: f32[2], %x: f32[2]) returning custom_grad(%a, %x); the region (dy, y, x) is left to
// each test.
struct CustomGradFixture {
  Function fn{"f"};
  Value* a = fn.body().add_argument(f32({2}), "a");
  Value* x = fn.body().add_argument(f32({2}), "x");
  Op* op = raw(fn.body(), OpKind::kCustomGrad, {a, x}, {f32({2})}, {"", 3, 8});
  Block& region = op->create_region();
  Value* dy = region.add_argument(f32({2}), "dy");
  Value* y = region.add_argument(f32({2}));
  Value* x0 = region.add_argument(f32({2}));

  CustomGradFixture() { raw(fn.body(), OpKind::kReturn, {op->result()}, {}); }
};

TEST(VerifierTest, AcceptsACustomGrad) {
  CustomGradFixture t;
  Builder b(&t.region);
  Value* g = *b.create(OpKind::kMul, {t.dy, t.x0});
  b.create_op(OpKind::kYield, {g}, {});
  EXPECT_EQ(error_of(t.fn), "OK");
}

TEST(VerifierTest, RejectsACustomGradWithoutRegion) {
  Function fn("f");
  Value* a = fn.body().add_argument(f32({2}), "a");
  Op* op = raw(fn.body(), OpKind::kCustomGrad, {a}, {f32({2})}, {"", 2, 8});
  raw(fn.body(), OpKind::kReturn, {op->result()}, {});
  EXPECT_EQ(error_of(fn), "2:8: error: 'custom_grad' has no region");
}

TEST(VerifierTest, RejectsCustomGradRegionArgumentsThatDoNotFit) {
  CustomGradFixture t;
  raw(t.region, OpKind::kYield, {t.dy}, {});
  t.region.add_argument(f32({2}));
  EXPECT_EQ(error_of(t.fn),
            "3:8: error: 'custom_grad': region has 4 argument(s) but needs 3: the cotangent, "
            "then one per operand");
  CustomGradFixture u;
  raw(u.region, OpKind::kYield, {u.dy}, {});
  u.dy->set_type(f32({}));
  EXPECT_EQ(error_of(u.fn),
            "3:8: error: 'custom_grad': region argument #0 is f32[] but the cotangent (the result "
            "type) is f32[2]");
}

TEST(VerifierTest, RejectsCustomGradYields) {
  CustomGradFixture t;
  raw(t.region, OpKind::kYield, {t.dy, t.dy}, {});
  EXPECT_EQ(error_of(t.fn),
            "3:8: error: 'custom_grad': the region yields 2 cotangent(s) but the op has only 1 "
            "operand(s) after the forward value");
  CustomGradFixture u;
  Builder b(&u.region);
  raw(u.region, OpKind::kYield, {b.scalar_constant(DType::kFloat32, 0)}, {});
  EXPECT_EQ(error_of(u.fn),
            "3:8: error: 'custom_grad': cotangent #0 is f32[] but operand #1 is f32[2]");
  CustomGradFixture w;
  raw(w.region, OpKind::kYield, {w.x}, {}, {"", 5, 5});
  EXPECT_EQ(
      error_of(w.fn),
      "5:5: error: 'yield': operand #0 is defined outside the custom_grad region; regions are "
      "isolated from above");
}

TEST(VerifierTest, RejectsACustomGradResultThatIsNotTheForwardType) {
  CustomGradFixture t;
  raw(t.region, OpKind::kYield, {}, {});
  t.op->result()->set_type(f32({3}));
  EXPECT_EQ(error_of(t.fn),
            "3:8: error: 'custom_grad': result type f32[3] does not match the forward value's "
            "type f32[2]");
}

}  // namespace
}  // namespace kiln::ir
