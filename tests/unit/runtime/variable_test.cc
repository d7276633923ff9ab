// kiln — Variables: reading as a Tensor, checked (sliced) assignment, copy-on-write, errors.
#include "runtime/variable.h"

#include <gtest/gtest.h>

#include <functional>
#include <set>

#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

std::vector<float> f32(const Tensor& t) { return t.to_vector<float>(); }

TEST(VariableTest, Basics) {
  Variable v(constant({{1, 2, 3}, {4, 5, 6}}, float32), {.name = "v", .trainable = false});
  EXPECT_EQ(v.name(), "v");
  EXPECT_FALSE(v.trainable());
  EXPECT_EQ(v.dtype(), float32);
  EXPECT_EQ(v.shape(), (Shape{2, 3}));
  Variable w1(5.f);
  EXPECT_EQ(w1.name(), "Variable");
  EXPECT_TRUE(w1.trainable());
  EXPECT_EQ(w1.dtype(), float32);
  EXPECT_EQ(w1.shape(), Shape{});
  Variable i(3);
  EXPECT_EQ(i.dtype(), int32);
  EXPECT_NE(v.id(), w1.id());
  EXPECT_NE(w1.id(), i.id());
}

TEST(VariableTest, ReadsAsATensorInEveryOp) {
  Variable v(constant({{1, 2}, {3, 4}}, float32));
  Tensor t = constant({{1, 0}, {0, 1}}, float32);
  EXPECT_EQ(f32(v * 2), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(f32(2 * v), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(f32(square(v)), (std::vector<float>{1, 4, 9, 16}));
  EXPECT_EQ(f32(v + v), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_EQ(f32(v - t), (std::vector<float>{0, 2, 3, 3}));
  EXPECT_EQ(f32(matmul(v, t)), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(f32(reduce_sum(v)), (std::vector<float>{10}));
  Variable w1(5.f), w2(3.f);
  EXPECT_EQ((3 * square(w1) + 2 * w1 * w2).item<float>(), 105.f);
  EXPECT_EQ(f32(v[":, 1"]), (std::vector<float>{2, 4}));
  EXPECT_EQ(f32(v.value()["1"]), (std::vector<float>{3, 4}));
}

TEST(VariableTest, AssignAddSub) {
  Variable v(constant({{1, 2, 3}, {4, 5, 6}}, float32), {.name = "v"});
  v.assign(v * 2);
  EXPECT_EQ(f32(v), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  v.assign_add(constant({{1, 1, 1}, {1, 1, 1}}, float32));
  EXPECT_EQ(f32(v), (std::vector<float>{3, 5, 7, 9, 11, 13}));
  v.assign_sub(constant({1.f, 2.f, 3.f}));  // broadcasts to the variable's shape
  EXPECT_EQ(f32(v), (std::vector<float>{2, 3, 4, 8, 9, 10}));
  v.assign_add(1);
  v.assign_sub(0.5);
  EXPECT_EQ(f32(v), (std::vector<float>{2.5, 3.5, 4.5, 8.5, 9.5, 10.5}));
  v.assign(0);
  EXPECT_EQ(f32(v), (std::vector<float>(6, 0.f)));
  v.assign_add(v);
  Variable n(7);
  n.assign(9);
  n.assign_add(constant(1));
  EXPECT_EQ(n.value().item<int32_t>(), 10);
}

TEST(VariableTest, SlicedAssign) {
  Variable v(constant({{1, 2, 3}, {4, 5, 6}}, float32), {.name = "v"});
  v["0, 1"].assign(42);
  EXPECT_EQ(f32(v), (std::vector<float>{1, 42, 3, 4, 5, 6}));
  v[":, 2"].assign(constant({-10.f, -20.f}));
  EXPECT_EQ(f32(v), (std::vector<float>{1, 42, -10, 4, 5, -20}));
  v.index({1, slice(none, none, -2)}).assign(constant({7.f, 8.f}));
  EXPECT_EQ(f32(v), (std::vector<float>{1, 42, -10, 8, 5, 7}));
  v["::-1, 0:1"].assign(constant(std::vector<float>{100, 200}, Shape{2, 1}));
  EXPECT_EQ(f32(v), (std::vector<float>{200, 42, -10, 100, 5, 7}));
  v["1:, newaxis"].assign(0);  // broadcast scalar, inserted axis
  EXPECT_EQ(f32(v), (std::vector<float>{200, 42, -10, 0, 0, 0}));
  v[":, 1:2"].assign(constant({9.f}));  // [1] broadcasts to [2, 1]
  EXPECT_EQ(f32(v), (std::vector<float>{200, 9, -10, 0, 9, 0}));
  v["0, 3:"].assign(constant({1.f}));  // empty slice: nothing to write
  v[1].assign(constant({1.f, 2.f, 3.f}));
  EXPECT_EQ(f32(v), (std::vector<float>{200, 9, -10, 1, 2, 3}));
  EXPECT_EQ(static_cast<Tensor>(v["0, 0:2"]).to_vector<float>(), (std::vector<float>{200, 9}));
}

TEST(VariableTest, ReadsBeforeAnAssignKeepTheirValues) {
  Variable v(constant({1.f, 2.f, 3.f}));
  Tensor before = v;  // shares storage until the next write
  const void* storage = v.value().raw_data();
  v["0"].assign(10);
  EXPECT_EQ(f32(before), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(f32(v), (std::vector<float>{10, 2, 3}));
  EXPECT_NE(v.value().raw_data(), storage);  // copied because `before` shared it
  const void* own = v.value().raw_data();
  v["1"].assign(20);
  v.assign_add(1);
  v.assign(constant({0.f, 0.f, 1.f}));
  EXPECT_EQ(v.value().raw_data(), own);  // not shared: written in place
  Tensor before_add = v;
  v.assign_add(1);
  v.assign_sub(constant({1.f, 1.f, 1.f}));
  EXPECT_EQ(f32(before_add), (std::vector<float>{0, 0, 1}));
  EXPECT_EQ(f32(v), (std::vector<float>{0, 0, 1}));
}

TEST(VariableTest, FailedAssignsLeaveTheValueUntouched) {
  Variable v(constant({{1, 2, 3}, {4, 5, 6}}, float32), {.name = "v"});
  const std::vector<float> original = f32(v);
  EXPECT_EQ(invalid_argument_of([&] {
              v.assign(constant({1.f, 2.f, 3.f}));
            }),
            "assign: Cannot assign to variable 'v' due to variable shape [2, 3] and value shape "
            "[3] are incompatible");
  EXPECT_EQ(invalid_argument_of([&] {
              v.assign(constant({{1, 2, 3}, {4, 5, 6}}));
            }),
            "assign: variable 'v' has dtype float32 but the value is a int32 tensor");
  EXPECT_EQ(invalid_argument_of([&] {
              v.assign_add(constant({1.f, 2.f}));
            }),
            "assign_add: Cannot update variable 'v' with shape [2, 3] using a Tensor with shape "
            "[2], shapes must be equal");
  EXPECT_EQ(invalid_argument_of([&] { v.assign_sub(constant(1)); }),
            "assign_sub: variable 'v' has dtype float32 but the value is a int32 tensor");
  EXPECT_EQ(invalid_argument_of([&] {
              v[":, 2"].assign(constant({1.f, 2.f, 3.f}));
            }),
            "assign: Cannot assign a value of shape [3] to a slice of shape [2] of variable 'v' "
            "(shape [2, 3])");
  EXPECT_EQ(invalid_argument_of([&] { v["0, 1"].assign(constant(true)); }),
            "assign: variable 'v' has dtype float32 but the value is a bool tensor");
  EXPECT_EQ(invalid_argument_of([&] { v["2, 1"].assign(1); }),
            "strided_slice: slice index 2 of dimension 0 out of bounds (size 2)");
  EXPECT_EQ(invalid_argument_of([&] { v["0; 1"]; }),
            "invalid index \"0; 1\" at column 2 (at ';'): expected ',' or ':' after an integer\n"
            "  0; 1\n   ^");
  EXPECT_EQ(invalid_argument_of([&] { v.assign(Tensor()); }),
            "assign: the value is an empty Tensor");
  Variable i(constant({1, 2}));
  EXPECT_EQ(invalid_argument_of([&] { i.assign(0.5); }),
            "assign: cannot convert 0.5 to an int32 operand (the other operand is an int32 "
            "tensor); use kiln::cast");
  EXPECT_EQ(f32(v), original);
  EXPECT_EQ(i.value().to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));
}

TEST(VariableTest, Prints) {
  Variable v(constant({1, 2}), {.name = "v"});
  EXPECT_EQ(v.to_string(),
            "<kiln.Variable 'v' shape=[2] dtype=int32, value=kiln.Tensor([1 2], shape=(2,), "
            "dtype=int32)>");
}

}  // namespace
}  // namespace kiln
