// kiln — Variables inside kiln::function: read and written at call time, in program order.
#include <gtest/gtest.h>

#include <optional>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

TEST(VariableFunctionTest, ReadsTheValueAtCallTime) {
  Variable v(2.f, {.name = "scale"});
  auto f = function([&](const Tensor& x) { return x * v; });
  EXPECT_FLOAT_EQ(f(constant(3.f)).item<float>(), 6.f);
  v.assign(constant(5.f));
  EXPECT_FLOAT_EQ(f(constant(3.f)).item<float>(), 15.f);
  EXPECT_EQ(f.trace_count(), 1);
  // The Variable is an argument of the traced function, not a constant.
  const std::string ir = f.get_concrete_function(TensorSpec({})).ir();
  EXPECT_NE(ir.find("%scale: f32[]"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("5.0"), std::string::npos) << ir;
}

TEST(VariableFunctionTest, WritesAreStoredBackInProgramOrder) {
  Variable counter(0.f, {.name = "counter"});
  auto step = function([&](const Tensor& x) {
    counter.assign_add(x);
    Tensor seen = counter * 1.f;  // the value after the add
    counter.assign(counter * 2.f);
    return seen;
  });
  EXPECT_FLOAT_EQ(step(constant(1.f)).item<float>(), 1.f);
  EXPECT_FLOAT_EQ(counter.value().item<float>(), 2.f);
  EXPECT_FLOAT_EQ(step(constant(1.f)).item<float>(), 3.f);
  EXPECT_FLOAT_EQ(counter.value().item<float>(), 6.f);
  EXPECT_EQ(step.trace_count(), 1);
}

TEST(VariableFunctionTest, SgdStepMatchesEager) {
  auto make = [] {
    return std::pair{Variable(constant({{0.5f, -0.25f}, {0.125f, 1.f}}), {.name = "w"}),
                     Variable(constant({0.1f, -0.1f}), {.name = "b"})};
  };
  auto [we, be] = make();
  auto [wc, bc] = make();
  const Tensor x = constant({{1.f, 2.f}, {3.f, 4.f}, {-1.f, 0.5f}});
  const Tensor y = constant({{1.f, 0.f}, {0.f, 1.f}, {1.f, 1.f}});
  auto train_step = [](Variable& w, Variable& b, const Tensor& x, const Tensor& y) {
    GradientTape tape;
    Tensor loss = reduce_mean(square(matmul(x, w) + b - y));
    auto g = tape.gradient(loss, {w, b});
    w.assign_sub(*g[0] * 0.1f);
    b.assign_sub(*g[1] * 0.1f);
    return loss;
  };
  auto compiled =
      function([&](const Tensor& x, const Tensor& y) { return train_step(wc, bc, x, y); });
  for (int i = 0; i < 3; ++i) {
    const float le = train_step(we, be, x, y).item<float>();
    const float lc = compiled(x, y).item<float>();
    EXPECT_NEAR(le, lc, 1e-6f * std::max(1.f, std::fabs(le))) << "step " << i;
  }
  auto a = we.value().to_vector<float>(), c = wc.value().to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], c[i], 1e-6f);
  auto ab = be.value().to_vector<float>(), cb = bc.value().to_vector<float>();
  for (size_t i = 0; i < ab.size(); ++i) EXPECT_NEAR(ab[i], cb[i], 1e-6f);
  EXPECT_EQ(compiled.trace_count(), 1);
  const std::string ir =
      compiled.get_concrete_function(TensorSpec({3, 2}), TensorSpec({3, 2})).traced_ir();
  EXPECT_NE(ir.find(" = grad "), std::string::npos) << ir;
}

TEST(VariableFunctionTest, TheFunctionKeepsAMovedVariable) {
  std::vector<Variable> vars;
  vars.emplace_back(1.f);
  auto f = function([&](const Tensor& x) {
    vars[0].assign_add(x);
    return x;
  });
  f(constant(1.f));
  vars.reserve(64);  // moves the Variable
  f(constant(1.f));
  EXPECT_FLOAT_EQ(vars[0].value().item<float>(), 3.f);
}

TEST(VariableFunctionTest, AssignChecksStillApplyWhileTracing) {
  Variable v(constant({1.f, 2.f}), {.name = "v"});
  auto f = function([&](const Tensor& x) {
    v.assign(x);
    return x;
  });
  EXPECT_EQ(error_of([&] {
              f(constant({1.f, 2.f, 3.f}));
            }),
            "in kiln::function 'fn' traced with (f32[3]): "
            "assign: Cannot assign to variable 'v' due to variable shape [2] and value shape [3] "
            "are incompatible");
  EXPECT_EQ(v.value().to_vector<float>(), (std::vector<float>{1.f, 2.f}));
}

TEST(VariableFunctionTest, VariablesCreatedOnTheFirstTraceAreKept) {
  std::optional<Variable> w;  // created lazily, as a layer's weights
  auto f = function([&](const Tensor& x) {
    if (!w) w.emplace(zeros(x.shape()), VariableOptions{.name = "w"});
    w->assign_add(x);
    return w->value() * 1.f;
  });
  f(constant({1.f, 2.f}));
  EXPECT_EQ(f(constant({1.f, 2.f})).to_vector<float>(), (std::vector<float>{2.f, 4.f}));
  EXPECT_EQ(w->value().to_vector<float>(), (std::vector<float>{2.f, 4.f}));
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(VariableFunctionTest, CreatingAVariableOnALaterTraceIsAnError) {
  auto f = function(
      [](const Tensor& x) {
        Variable tmp(zeros(x.shape()), {.name = "tmp"});
        return x + tmp;
      },
      {.name = "makes_vars"});
  EXPECT_EQ(f(constant({1.f})).to_vector<float>(), (std::vector<float>{1.f}));
  EXPECT_EQ(error_of([&] {
              f(constant({1.f, 2.f}));
            }),
            "in kiln::function 'makes_vars' traced with (f32[2]): "
            "Variable 'tmp' is created while tracing makes_vars again: a kiln::function may "
            "create Variables only on its first trace (create it outside the function, or once "
            "and keep it, as a layer's weights)");
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f(constant({3.f})).to_vector<float>(), (std::vector<float>{3.f}));
}

}  // namespace
}  // namespace kiln
