// kiln — tests for dtypes, shapes, NumPy broadcasting and IR type spelling (ir/types.h).
#include "ir/types.h"

#include <gtest/gtest.h>

namespace kiln {
namespace {

constexpr int64_t kUnknown = Shape::kUnknownDim;

TEST(BroadcastShapesTest, EqualShapesBroadcastToThemselves) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 3}, Shape{2, 3}), Shape({2, 3}));
}

TEST(BroadcastShapesTest, ScalarBroadcastsToAnything) {
  EXPECT_EQ(broadcast_shapes(Shape{}, Shape{4, 5}), Shape({4, 5}));
  EXPECT_EQ(broadcast_shapes(Shape{4, 5}, Shape{}), Shape({4, 5}));
  EXPECT_EQ(broadcast_shapes(Shape{}, Shape{}), Shape());
}

TEST(BroadcastShapesTest, LowerRankIsPaddedOnTheLeft) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 3}, Shape{3}), Shape({2, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{4, 1, 3}, Shape{2, 1}), Shape({4, 2, 3}));
}

TEST(BroadcastShapesTest, OnesStretch) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 1}, Shape{1, 3}), Shape({2, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{32, 1}, Shape{32, 4}), Shape({32, 4}));
}

TEST(BroadcastShapesTest, IncompatibleShapesGiveNullopt) {
  EXPECT_EQ(broadcast_shapes(Shape{2, 3}, Shape{4}), std::nullopt);
  EXPECT_EQ(broadcast_shapes(Shape{32, 1}, Shape{16, 1}), std::nullopt);
}

TEST(BroadcastShapesTest, UnknownDimsTakeTheKnownSide) {
  EXPECT_EQ(broadcast_shapes(Shape{kUnknown, 3}, Shape{1, 3}), Shape({kUnknown, 3}));
  EXPECT_EQ(broadcast_shapes(Shape{kUnknown}, Shape{5}), Shape({5}));
  EXPECT_EQ(broadcast_shapes(Shape{kUnknown}, Shape{kUnknown}), Shape({kUnknown}));
}

TEST(ShapeTest, NumElements) {
  EXPECT_EQ(Shape().num_elements(), 1);
  EXPECT_EQ(Shape({2, 3}).num_elements(), 6);
  EXPECT_EQ(Shape({2, 0}).num_elements(), 0);
  EXPECT_EQ(Shape({kUnknown, 3}).num_elements(), -1);
  EXPECT_FALSE(Shape({kUnknown, 3}).is_fully_defined());
  EXPECT_TRUE(Shape({2, 3}).is_fully_defined());
}

TEST(ShapeTest, ToStringIsTensorFlowStyle) {
  EXPECT_EQ(Shape({2, 3}).to_string(), "[2, 3]");
  EXPECT_EQ(Shape().to_string(), "[]");
  EXPECT_EQ(Shape({kUnknown, 5}).to_string(), "[None, 5]");
}

TEST(DTypeTest, NamesRoundTrip) {
  for (DType d : kAllDTypes) {
    EXPECT_EQ(dtype_from_ir_name(dtype_ir_name(d)), d);
    EXPECT_NE(dtype_name(d), "?");
  }
  EXPECT_EQ(dtype_name(DType::kFloat32), "float32");
  EXPECT_EQ(dtype_name(DType::kBFloat16), "bfloat16");
  EXPECT_EQ(dtype_ir_name(DType::kInt32), "i32");
  EXPECT_EQ(dtype_ir_name(DType::kFloat16), "f16");
  EXPECT_EQ(dtype_ir_name(DType::kInt64), "i64");
  EXPECT_EQ(dtype_from_ir_name("f8"), std::nullopt);
  EXPECT_EQ(dtype_from_ir_name("float64"), std::nullopt);  // IR names only
  EXPECT_EQ(dtype_size(DType::kBool), 1);
  EXPECT_EQ(dtype_size(DType::kBFloat16), 2);
  EXPECT_EQ(dtype_size(DType::kFloat64), 8);
  EXPECT_TRUE(is_half(DType::kBFloat16));
  EXPECT_FALSE(is_half(DType::kFloat32));
}

TEST(TypeTest, ToStringHasNoSpaces) {
  EXPECT_EQ((ir::Type{DType::kFloat32, Shape{32, 1}}).to_string(), "f32[32,1]");
  EXPECT_EQ((ir::Type{DType::kFloat32, Shape{}}).to_string(), "f32[]");
  EXPECT_EQ((ir::Type{DType::kBool, Shape{kUnknown, 5}}).to_string(), "bool[?,5]");
  EXPECT_EQ((ir::Type{DType::kInt32, Shape{0}}).to_string(), "i32[0]");
}

TEST(TypeTest, EqualityComparesDTypeAndShape) {
  const ir::Type a{DType::kFloat32, Shape{2}};
  EXPECT_EQ(a, (ir::Type{DType::kFloat32, Shape{2}}));
  EXPECT_FALSE(a == (ir::Type{DType::kInt32, Shape{2}}));
  EXPECT_FALSE(a == (ir::Type{DType::kFloat32, Shape{2, 1}}));
}

}  // namespace
}  // namespace kiln
