// kiln — the public ops eagerly: values, broadcasting, scalar operands and error messages.
#include "runtime/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

TEST(OpsTest, ScalarOperandTakesTensorDtype) {
  Tensor t = constant({{1, 2, 3}, {4, 5, 6}}, float32);
  Tensor u = t + 10;
  EXPECT_EQ(u.dtype(), float32);
  EXPECT_EQ(u.to_vector<float>(), (std::vector<float>{11, 12, 13, 14, 15, 16}));
}

TEST(OpsTest, MixedDtypesAreAnError) {
  EXPECT_EQ(error_of([] { constant(2.0) + constant(2); }),
            "add: input #1 (zero-based) was expected to be a float32 tensor but is a int32 tensor");
}

TEST(OpsTest, UnrepresentableScalarIsAnError) {
  EXPECT_EQ(error_of([] { constant(3) * 0.5; }),
            "mul: cannot convert 0.5 to an int32 operand (the other operand is an int32 tensor); "
            "use kiln::cast");
}

TEST(OpsTest, IncompatibleShapesAreAnError) {
  EXPECT_EQ(error_of([] {
              constant({{1, 2, 3}, {4, 5, 6}}) + constant({1, 2});
            }),
            "add: Incompatible shapes: [2, 3] vs. [2]");
}

TEST(OpsTest, BroadcastsLikeNumPy) {
  Tensor a = constant(std::vector<float>{1, 2}, Shape{2, 1});
  Tensor b = constant({10.f, 20.f, 30.f});  // [3]
  Tensor c = a + b;
  EXPECT_EQ(c.shape(), (Shape{2, 3}));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{11, 21, 31, 12, 22, 32}));
}

TEST(OpsTest, MatmulOfChapterExample) {
  Tensor t = constant({{1, 2, 3}, {4, 5, 6}}, float32);
  Tensor tt = constant({{1, 4}, {2, 5}, {3, 6}}, float32);
  EXPECT_EQ(matmul(t, tt).to_vector<float>(), (std::vector<float>{14, 32, 32, 77}));
}

TEST(OpsTest, HuberLossByHand) {
  Tensor y = constant({0.f, 0.f, 0.f});
  Tensor p = constant({0.5f, 2.f, -3.f});
  Tensor error = y - p;
  Tensor loss = where(abs(error) < 1, square(error) / 2, abs(error) - 0.5);
  EXPECT_EQ(loss.to_vector<float>(), (std::vector<float>{0.125f, 1.5f, 2.5f}));
}

TEST(OpsTest, ReductionsWithAxes) {
  Tensor t = constant({{1, 2, 3}, {4, 5, 6}}, float32);
  EXPECT_EQ(reduce_sum(t).item<float>(), 21.f);
  EXPECT_EQ(reduce_sum(t, std::vector<int64_t>{0}).to_vector<float>(),
            (std::vector<float>{5, 7, 9}));
  EXPECT_EQ(reduce_mean(t, std::vector<int64_t>{-1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(reduce_mean(t, std::vector<int64_t>{-1}, true).to_vector<float>(),
            (std::vector<float>{2, 5}));
}

TEST(OpsTest, ComparisonsGiveBool) {
  Tensor c = constant({1.f, 2.f, 3.f}) > 1.5;
  EXPECT_EQ(c.dtype(), bool_);
  EXPECT_EQ(c.to_vector<bool>(), (std::vector<bool>{false, true, true}));
}

TEST(OpsTest, ExpReachesDenormalsAndZero) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> y = exp(constant({-inf, -100.f, -88.f, 0.f})).to_vector<float>();
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[1], std::exp(-100.f));
  EXPECT_EQ(y[2], std::exp(-88.f));
  EXPECT_EQ(y[3], 1.f);
}

TEST(OpsTest, ExpOfIntIsAnError) {
  EXPECT_EQ(error_of([] { exp(constant(1)); }),
            "exp: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 or "
            "float64");
}

TEST(OpsTest, WhereConditionMustBeBool) {
  EXPECT_EQ(error_of([] { where(constant(1.f), constant(1.f), constant(2.f)); }),
            "select: input #0 (zero-based) was expected to be a bool tensor but is a float32 "
            "tensor");
}

}  // namespace
}  // namespace kiln
