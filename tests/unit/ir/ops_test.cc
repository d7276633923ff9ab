// kiln — tests for the op table and its signature face: infer_type and its messages (ir/ops.h).
#include "ir/ops.h"

#include <gtest/gtest.h>

#include <string>

namespace kiln::ir {
namespace {

Type f32(Shape s) { return Type{DType::kFloat32, std::move(s)}; }
Type i32(Shape s) { return Type{DType::kInt32, std::move(s)}; }
Type boolean(Shape s) { return Type{DType::kBool, std::move(s)}; }

std::string error_of(OpKind kind, std::vector<Type> types, const Attrs& attrs = {}) {
  auto t = infer_type(kind, types, attrs);
  if (t.ok()) return "OK: " + t->to_string();
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(t.status().message());
}

Type inferred(OpKind kind, std::vector<Type> types, const Attrs& attrs = {}) {
  auto t = infer_type(kind, types, attrs);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? *t : Type{};
}

TEST(OpTableTest, MnemonicsRoundTrip) {
  for (int i = 0; i < kNumOpKinds; ++i) {
    const auto kind = static_cast<OpKind>(i);
    EXPECT_EQ(op_from_mnemonic(mnemonic(kind)), kind) << mnemonic(kind);
  }
  EXPECT_EQ(op_from_mnemonic("frobnicate"), std::nullopt);
  EXPECT_EQ(mnemonic(OpKind::kReduceSum), "reduce_sum");
}

TEST(OpTableTest, ElementwiseOps) {
  EXPECT_TRUE(is_elementwise(OpKind::kAdd));
  EXPECT_TRUE(is_elementwise(OpKind::kSelect));
  EXPECT_TRUE(is_elementwise(OpKind::kBroadcast));
  EXPECT_FALSE(is_elementwise(OpKind::kMatmul));
  EXPECT_FALSE(is_elementwise(OpKind::kReduceSum));
  EXPECT_FALSE(is_elementwise(OpKind::kConst));
}

TEST(InferTypeTest, BinarySameShape) {
  EXPECT_EQ(inferred(OpKind::kAdd, {f32({2, 3}), f32({2, 3})}), f32({2, 3}));
}

TEST(InferTypeTest, BinaryBroadcastsLikeNumPy) {
  EXPECT_EQ(inferred(OpKind::kMul, {f32({2, 3}), f32({})}), f32({2, 3}));
  EXPECT_EQ(inferred(OpKind::kSub, {f32({2, 1}), f32({1, 3})}), f32({2, 3}));
}

TEST(InferTypeTest, BinaryDTypeMismatchMessage) {
  EXPECT_EQ(error_of(OpKind::kAdd, {f32({2}), i32({2})}),
            "add: input #1 (zero-based) was expected to be a float32 tensor but is a int32 tensor");
}

TEST(InferTypeTest, BinaryIncompatibleShapesMessage) {
  EXPECT_EQ(error_of(OpKind::kAdd, {f32({2, 3}), f32({4})}),
            "add: Incompatible shapes: [2, 3] vs. [4]");
}

TEST(InferTypeTest, BinaryRejectsBool) {
  EXPECT_EQ(error_of(OpKind::kAdd, {boolean({2}), boolean({2})}),
            "add: input #0 (zero-based) is a bool tensor; expected float16, bfloat16, float32, "
            "float64, int32 or int64");
}

TEST(InferTypeTest, CompareGivesBool) {
  EXPECT_EQ(inferred(OpKind::kLess, {f32({32, 1}), f32({})}), boolean({32, 1}));
  EXPECT_EQ(inferred(OpKind::kGreater, {i32({3}), i32({3})}), boolean({3}));
}

TEST(InferTypeTest, UnaryKeepsType) {
  EXPECT_EQ(inferred(OpKind::kNeg, {i32({4})}), i32({4}));
  EXPECT_EQ(inferred(OpKind::kExp, {f32({4})}), f32({4}));
}

TEST(InferTypeTest, UnaryFloatRejectsInt) {
  EXPECT_EQ(error_of(OpKind::kLog, {i32({4})}),
            "log: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 or "
            "float64");
}

TEST(InferTypeTest, SelectNeedsBoolCondition) {
  EXPECT_EQ(inferred(OpKind::kSelect, {boolean({3}), f32({3}), f32({})}), f32({3}));
  EXPECT_EQ(error_of(OpKind::kSelect, {f32({3}), f32({3}), f32({3})}),
            "select: input #0 (zero-based) was expected to be a bool tensor but is a float32 "
            "tensor");
}

TEST(InferTypeTest, ArityMismatchMessage) {
  EXPECT_EQ(error_of(OpKind::kAdd, {f32({2})}), "add: expected 2 operand(s) but got 1");
}

TEST(InferTypeTest, BroadcastToShapeAttr) {
  EXPECT_EQ(inferred(OpKind::kBroadcast, {f32({32, 1})}, {{"shape", std::vector<int64_t>{32, 4}}}),
            f32({32, 4}));
  EXPECT_EQ(error_of(OpKind::kBroadcast, {f32({3})}, {{"shape", std::vector<int64_t>{4}}}),
            "broadcast: cannot broadcast shape [3] to [4]");
  EXPECT_EQ(error_of(OpKind::kBroadcast, {f32({3})}), "broadcast: missing list attribute 'shape'");
}

TEST(InferTypeTest, ReduceAxesAndKeepdims) {
  const Attrs keep = {{"axes", std::vector<int64_t>{1}}, {"keepdims", true}};
  EXPECT_EQ(inferred(OpKind::kReduceSum, {f32({32, 4})}, keep), f32({32, 1}));
  EXPECT_EQ(inferred(OpKind::kReduceSum, {f32({32, 4})}, {{"axes", std::vector<int64_t>{-1}}}),
            f32({32}));
  EXPECT_EQ(inferred(OpKind::kReduceMean, {f32({32, 4})}), f32({}));
}

TEST(InferTypeTest, ReduceRejectsBadAxis) {
  EXPECT_EQ(error_of(OpKind::kReduceSum, {f32({2})}, {{"axes", std::vector<int64_t>{3}}}),
            "reduce_sum: Invalid reduction dimension (3 for input with 1 dimension(s)");
}

TEST(InferTypeTest, Matmul) {
  EXPECT_EQ(inferred(OpKind::kMatmul, {f32({32, 8}), f32({8, 1})}), f32({32, 1}));
  EXPECT_EQ(error_of(OpKind::kMatmul, {f32({32, 8}), f32({4, 1})}),
            "matmul: Matrix size-incompatible: In[0]: [32, 8], In[1]: [4, 1]");
  EXPECT_EQ(error_of(OpKind::kMatmul, {f32({8}), f32({8, 1})}),
            "matmul: input #0 (zero-based) must be rank >= 2 but has shape [8]");
}

TEST(InferTypeTest, NotForConstFusionOrTerminators) {
  EXPECT_FALSE(infer_type(OpKind::kConst, {}, {}).ok());
  EXPECT_FALSE(infer_type(OpKind::kReturn, {}, {}).ok());
}

TEST(ReductionAxesTest, NormalizesSortsAndDeduplicates) {
  auto axes = reduction_axes("reduce_sum", {{"axes", std::vector<int64_t>{-1, 0, 2}}}, 3);
  ASSERT_TRUE(axes.ok());
  EXPECT_EQ(*axes, (std::vector<int64_t>{0, 2}));
  auto all = reduction_axes("reduce_sum", {}, 2);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(*all, (std::vector<int64_t>{0, 1}));
}

TEST(AttrOrTest, FallsBackOnMissingOrWrongType) {
  const Attrs attrs = {{"keepdims", true}, {"n", int64_t{3}}};
  EXPECT_TRUE(attr_or<bool>(attrs, "keepdims", false));
  EXPECT_EQ(attr_or<int64_t>(attrs, "n", 0), 3);
  EXPECT_EQ(attr_or<int64_t>(attrs, "keepdims", 7), 7);
  EXPECT_EQ(attr_or<std::string>(attrs, "kind", "loop"), "loop");
}

}  // namespace
}  // namespace kiln::ir
