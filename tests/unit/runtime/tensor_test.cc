// kiln — Tensor creation, dtype inference, printing and element access.
#include "runtime/tensor.h"

#include <gtest/gtest.h>

#include "runtime/ops.h"
#include "support/error.h"

namespace kiln {
namespace {

TEST(TensorTest, IntegerScalarIsInt32) {
  Tensor s = constant(42);
  EXPECT_EQ(s.dtype(), int32);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.item<int32_t>(), 42);
}

TEST(TensorTest, FloatingScalarIsFloat32) {
  EXPECT_EQ(constant(2.5).dtype(), float32);
  EXPECT_EQ(constant(2.5f).dtype(), float32);
  EXPECT_EQ(constant(true).dtype(), bool_);
}

TEST(TensorTest, NestedListWithDtype) {
  Tensor t = constant({{1, 2, 3}, {4, 5, 6}}, float32);
  EXPECT_EQ(t.dtype(), float32);
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.shape().to_string(), "[2, 3]");
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
}

TEST(TensorTest, RaggedNestedListIsRejected) {
  EXPECT_THROW(constant({{1, 2, 3}, {4, 5}}), InvalidArgumentError);
}

TEST(TensorTest, VectorAndShapeMustAgree) {
  try {
    constant(std::vector<float>{1, 2, 3}, Shape{2, 2});
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(), "constant: 3 values do not fill a tensor of shape [2, 2]");
  }
}

TEST(TensorTest, WrongElementTypeIsRejected) {
  Tensor t = constant({1.f, 2.f});
  try {
    t.to_vector<int32_t>();
    FAIL();
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(), "requested elements of type int32 from a float32 tensor");
  }
}

TEST(TensorTest, ItemNeedsOneElement) {
  EXPECT_THROW(constant({1.f, 2.f}).item<float>(), InvalidArgumentError);
}

TEST(TensorTest, PrintsLikeNumPy) {
  EXPECT_EQ(constant({{1, 2}, {3, 4}}, float32).to_string(),
            "kiln.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)");
  EXPECT_EQ(constant(42).to_string(), "kiln.Tensor(42, shape=(), dtype=int32)");
  EXPECT_EQ(constant({0.5f, -1.f}).to_string(),
            "kiln.Tensor([0.5 -1.], shape=(2,), dtype=float32)");
}

TEST(TensorTest, LargeTensorsPrintSummarized) {
  std::vector<float> v(5000, 1.f);
  const std::string s = constant(v, Shape{5000}).to_string();
  EXPECT_NE(s.find("..."), std::string::npos);
  EXPECT_LT(s.size(), 200u);
}

TEST(TensorTest, SummarizedColumnPrintsEdgesAndEllipsis) {
  std::vector<float> v(2000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  EXPECT_EQ(constant(v, Shape{2000, 1}).to_string(),
            "kiln.Tensor(\n[[0.]\n [1.]\n [2.]\n ...\n [1997.]\n [1998.]\n [1999.]], "
            "shape=(2000, 1), dtype=float32)");
  EXPECT_EQ(constant(v, Shape{2000}).to_string(),
            "kiln.Tensor([0. 1. 2. ... 1997. 1998. 1999.], shape=(2000,), dtype=float32)");
}

TEST(TensorTest, EmptyHandleThrows) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_THROW(t.dtype(), FailedPreconditionError);
}

TEST(TensorTest, FromBufferCopies) {
  float data[4] = {1, 2, 3, 4};
  Tensor t = from_buffer(data, float32, Shape{2, 2});
  data[0] = 100;
  EXPECT_EQ(t.to_vector<float>()[0], 1.f);
}

}  // namespace
}  // namespace kiln
