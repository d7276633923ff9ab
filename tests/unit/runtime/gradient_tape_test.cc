// GradientTape: the chapter's examples, tape options and errors.
#include "runtime/gradient_tape.h"

#include <gtest/gtest.h>

#include <cmath>

#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

Tensor f(const Tensor& w1, const Tensor& w2) { return 3 * square(w1) + 2 * w1 * w2; }

TEST(GradientTapeTest, ChapterExampleWithVariables) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape;
  Tensor z = f(w1, w2);
  auto grads = tape.gradient(z, {w1, w2});
  ASSERT_EQ(grads.size(), 2u);
  ASSERT_TRUE(grads[0] && grads[1]);
  EXPECT_FLOAT_EQ(grads[0]->item<float>(), 36.f);
  EXPECT_FLOAT_EQ(grads[1]->item<float>(), 10.f);
}

TEST(GradientTapeTest, NonPersistentTapeCanBeUsedOnce) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape;
  Tensor z = f(w1, w2);
  tape.gradient(z, {w1});
  EXPECT_EQ(error_of([&] { tape.gradient(z, {w2}); }),
            "GradientTape.gradient: a non-persistent GradientTape can only be used to compute "
            "one set of gradients (or jacobians); create it with {.persistent = true} to call it "
            "again");
}

TEST(GradientTapeTest, PersistentTapeGivesGradientsManyTimes) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape({.persistent = true});
  Tensor z = f(w1, w2);
  EXPECT_FLOAT_EQ(tape.gradient(z, w1)->item<float>(), 36.f);
  EXPECT_FLOAT_EQ(tape.gradient(z, w2)->item<float>(), 10.f);
}

TEST(GradientTapeTest, StopGradientGivesNone) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape;
  Tensor z = 3 * square(w1) + stop_gradient(2 * w1 * w2);
  auto grads = tape.gradient(z, {w1, w2});
  ASSERT_TRUE(grads[0]);
  EXPECT_FLOAT_EQ(grads[0]->item<float>(), 30.f);
  EXPECT_FALSE(grads[1].has_value());
}

TEST(GradientTapeTest, UnconnectedZero) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape;
  Tensor z = square(w1);
  auto grads = tape.gradient(z, {w1, w2}, std::nullopt, UnconnectedGradients::kZero);
  ASSERT_TRUE(grads[1]);
  EXPECT_FLOAT_EQ(grads[1]->item<float>(), 0.f);
}

TEST(GradientTapeTest, TensorsNeedWatch) {
  Tensor c1 = constant(5.f), c2 = constant(3.f);
  {
    GradientTape tape;
    auto grads = tape.gradient(f(c1, c2), {c1, c2});
    EXPECT_FALSE(grads[0] || grads[1]);
  }
  GradientTape tape;
  tape.watch(c1);
  tape.watch(c2);
  auto grads = tape.gradient(f(c1, c2), {c1, c2});
  EXPECT_FLOAT_EQ(grads[0]->item<float>(), 36.f);
  EXPECT_FLOAT_EQ(grads[1]->item<float>(), 10.f);
}

TEST(GradientTapeTest, WatchAccessedVariablesFalse) {
  Variable w1(5.f), w2(3.f);
  GradientTape tape({.watch_accessed_variables = false});
  tape.watch(w1);
  auto grads = tape.gradient(f(w1, w2), {w1, w2});
  EXPECT_FLOAT_EQ(grads[0]->item<float>(), 36.f);
  EXPECT_FALSE(grads[1].has_value());
}

TEST(GradientTapeTest, NonTrainableVariableIsNotWatched) {
  Variable w1(5.f), w2(3.f, {.trainable = false});
  GradientTape tape;
  auto grads = tape.gradient(f(w1, w2), {w1, w2});
  EXPECT_TRUE(grads[0].has_value());
  EXPECT_FALSE(grads[1].has_value());
}

TEST(GradientTapeTest, StopRecording) {
  Variable w(2.f);
  GradientTape tape;
  Tensor a = square(w);
  Tensor b;
  {
    auto pause = tape.stop_recording();
    b = square(w);
  }
  EXPECT_FLOAT_EQ(tape.gradient(a + b, w)->item<float>(), 4.f);
}

TEST(GradientTapeTest, NonScalarTargetIsSummed) {
  Variable x(constant({1.f, 2.f, 3.f}));
  GradientTape tape;
  Tensor y = square(x);
  auto g = tape.gradient(y, x);
  EXPECT_EQ(g->to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(GradientTapeTest, OutputGradientsWeightTheTarget) {
  Variable x(constant({1.f, 2.f, 3.f}));
  GradientTape tape;
  Tensor y = square(x);
  auto g = tape.gradient(y, {x}, constant({1.f, 0.f, 2.f}))[0];
  EXPECT_EQ(g->to_vector<float>(), (std::vector<float>{2, 0, 12}));
}

TEST(GradientTapeTest, BroadcastingBinaryOpsSumOverBroadcastDims) {
  Variable a(constant({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}}));
  Variable b(constant({10.f, 20.f, 30.f}));
  GradientTape tape;
  Tensor y = reduce_sum(a * b);
  auto g = tape.gradient(y, {a, b});
  EXPECT_EQ(g[0]->to_vector<float>(), (std::vector<float>{10, 20, 30, 10, 20, 30}));
  EXPECT_EQ(g[1]->to_vector<float>(), (std::vector<float>{5, 7, 9}));
}

TEST(GradientTapeTest, MatmulGradients) {
  Variable a(constant({{1.f, 2.f}, {3.f, 4.f}}));
  Variable b(constant({{5.f, 6.f}, {7.f, 8.f}}));
  GradientTape tape({.persistent = true});
  Tensor y = reduce_sum(matmul(a, b));
  // d/da sum(AB) = 1 B^T: row sums of B; d/db = A^T 1: column sums of A.
  EXPECT_EQ(tape.gradient(y, a)->to_vector<float>(), (std::vector<float>{11, 15, 11, 15}));
  EXPECT_EQ(tape.gradient(y, b)->to_vector<float>(), (std::vector<float>{4, 4, 6, 6}));
}

TEST(GradientTapeTest, SecondOrderWithNestedTapes) {
  Variable w1(5.f), w2(3.f);
  GradientTape outer({.persistent = true});
  std::optional<Tensor> d1;
  {
    GradientTape inner;
    Tensor z = f(w1, w2);
    d1 = inner.gradient(z, w1);  // 6 w1 + 2 w2
  }
  auto hess = outer.gradient(*d1, {w1, w2});
  EXPECT_FLOAT_EQ(hess[0]->item<float>(), 6.f);
  EXPECT_FLOAT_EQ(hess[1]->item<float>(), 2.f);
}

TEST(GradientTapeTest, CustomGradientIsFiniteWhereNaiveIsNot) {
  auto my_softplus = [](const Tensor& z) { return log(exp(z) + 1); };
  auto my_better_softplus = custom_gradient([](const Tensor& z) {
    auto e = exp(z);
    return std::pair{log(e + 1), [e](const Tensor& dy) { return dy / (1 + 1 / e); }};
  });
  Variable x(constant({100.f}));
  {
    GradientTape tape;
    auto g = tape.gradient(my_softplus(x), x);
    EXPECT_TRUE(std::isnan(g->to_vector<float>()[0]));
  }
  GradientTape tape;
  Tensor y = my_better_softplus(x);
  EXPECT_TRUE(std::isinf(y.to_vector<float>()[0]));
  auto g = tape.gradient(y, x);
  EXPECT_FLOAT_EQ(g->to_vector<float>()[0], 1.f);
}

TEST(GradientTapeTest, CustomGradientReadingVariables) {
  Variable v(3.f, {.name = "scale"});
  // y = x * v with a deliberately scaled-by-10 gradient to show grad_fn is what counts.
  auto scaled = custom_gradient([&v](const Tensor& x) {
    Tensor y = x * v;
    return std::pair{y, [x, &v](const Tensor& dy, std::span<const Variable* const> vars) {
                       EXPECT_EQ(vars.size(), 1u);
                       EXPECT_EQ(vars[0], &v);
                       return std::pair{dy * v * 10.f, std::vector<Tensor>{dy * x * 10.f}};
                     }};
  });
  Variable x(2.f);
  GradientTape tape;
  Tensor y = scaled(x);
  EXPECT_FLOAT_EQ(y.item<float>(), 6.f);
  auto g = tape.gradient(y, {x, v});
  EXPECT_FLOAT_EQ(g[0]->item<float>(), 30.f);
  EXPECT_FLOAT_EQ(g[1]->item<float>(), 20.f);
}

TEST(GradientTapeTest, CustomGradientReadingVariablesNeedsAVariablesArgument) {
  Variable v(3.f, {.name = "scale"});
  auto bad = custom_gradient([&v](const Tensor& x) {
    return std::pair{x * v, [](const Tensor& dy) { return dy; }};
  });
  Variable x(2.f);
  GradientTape tape;
  EXPECT_EQ(error_of([&] { bad(x); }),
            "custom_gradient: the function reads Variable 'scale', so its gradient function must "
            "take (dy, variables) and return {input cotangents, variable cotangents}");
}

TEST(GradientTapeTest, CheckCustomGradientsCatchesAWrongRuleOnFirstUse) {
  config::check_custom_gradients(true);
  auto good = custom_gradient([](const Tensor& z) {
    auto e = exp(z);
    return std::pair{log(e + 1), [e](const Tensor& dy) { return dy / (1 + 1 / e); }};
  });
  auto wrong = custom_gradient([](const Tensor& z) {
    return std::pair{square(z), [z](const Tensor& dy) { return dy * z; }};  // should be 2z
  });
  Tensor x = constant({0.5f, -1.f});
  EXPECT_NO_THROW(good(x));
  const std::string msg = error_of([&] { wrong(x); });
  config::check_custom_gradients(false);
  EXPECT_EQ(msg.rfind("custom_gradient: the gradient function disagrees with central "
                      "differences of the forward function:\n",
                      0),
            0u)
      << msg;
  EXPECT_NE(msg.find("input #0: FAILED"), std::string::npos) << msg;
  EXPECT_NO_THROW(wrong(x));  // the switch is off again
}

TEST(GradientTapeTest, WhereDoesNotPoisonTheGradientWithTheUnselectedBranch) {
  Variable x(constant({-1.f, 0.f, 4.f}));
  GradientTape tape;
  Tensor y = where(x > 0.f, sqrt(x), zeros_like(x));
  auto g = tape.gradient(reduce_sum(y), x);
  EXPECT_EQ(g->to_vector<float>(), (std::vector<float>{0.f, 0.f, 0.25f}));
}

TEST(GradientTapeTest, Jacobian) {
  Variable x(constant({1.f, 2.f}));
  GradientTape tape;
  Tensor y = x * x * 3.f;  // dy_i/dx_j = 6 x_i delta_ij
  Tensor j = tape.jacobian(y, x);
  EXPECT_EQ(j.shape(), (Shape{2, 2}));
  EXPECT_EQ(j.to_vector<float>(), (std::vector<float>{6, 0, 0, 12}));
}

TEST(GradientTapeTest, BatchJacobian) {
  Variable x(constant({{1.f, 2.f}, {3.f, 4.f}}));
  GradientTape tape;
  Tensor y = square(x);  // per row: diag(2x)
  Tensor j = tape.batch_jacobian(y, x);
  EXPECT_EQ(j.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(j.to_vector<float>(), (std::vector<float>{2, 0, 0, 4, 6, 0, 0, 8}));
}

TEST(GradientTapeTest, AssignedVariableIsANewValue) {
  Variable w(2.f);
  GradientTape tape;
  Tensor a = square(w);
  w.assign(constant(3.f));
  Tensor b = w * 1.f;
  // Both reads count: d(w_old^2 + w_new)/dw = 4 + 1.
  EXPECT_FLOAT_EQ(tape.gradient(a + b, w)->item<float>(), 5.f);
}

}  // namespace
}  // namespace kiln
