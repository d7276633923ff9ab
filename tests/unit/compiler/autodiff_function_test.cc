// kiln — GradientTape inside kiln::function: the trace holds a grad op, the autodiff pass
// expands it with the same rules the eager tape uses, and compiled gradients equal eager ones.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/numerics.h"
#include "runtime/ops.h"
#include "support/call_site.h"
#include "support/str.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

Tensor random_tensor(Shape shape, unsigned seed) {
  return compiler::testing::random_normal_tensor(std::move(shape), seed, 1.f);
}

void expect_near(const Tensor& a, const Tensor& b, float tol = 1e-5f) {
  ASSERT_EQ(a.shape(), b.shape());
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_NEAR(x[i], y[i], tol * std::max(1.f, std::fabs(x[i]))) << "element " << i;
  }
}

std::tuple<Tensor, Tensor> chapter_grads(const Tensor& w1, const Tensor& w2) {
  GradientTape tape;
  tape.watch(w1);
  tape.watch(w2);
  Tensor z = 3 * square(w1) + 2 * w1 * w2;
  auto g = tape.gradient(z, {w1, w2});
  return {*g[0], *g[1]};
}

TEST(AutodiffFunctionTest, ChapterGradientsCompiled) {
  auto fn = function(chapter_grads);
  auto [g1, g2] = fn(constant(5.f), constant(3.f));
  EXPECT_FLOAT_EQ(g1.item<float>(), 36.f);
  EXPECT_FLOAT_EQ(g2.item<float>(), 10.f);
  auto cf = fn.get_concrete_function(TensorSpec({}), TensorSpec({}));
  EXPECT_NE(cf.traced_ir().find("grad "), std::string::npos) << cf.traced_ir();
  EXPECT_EQ(cf.ir().find("grad "), std::string::npos) << cf.ir();
}

// A small MLP loss: matmul, broadcasting bias, elementwise activations, a reduction.
std::tuple<Tensor, Tensor, Tensor> mlp_grads(const Tensor& x, const Tensor& w, const Tensor& b) {
  GradientTape tape;
  tape.watch(w);
  tape.watch(b);
  Tensor h = tanh(matmul(x, w) + b);
  Tensor y = where(h > 0.f, sqrt(h), h * 0.5f);
  Tensor loss = reduce_mean(square(y - 0.25f));
  auto g = tape.gradient(loss, {w, b});
  return {loss, *g[0], *g[1]};
}

TEST(AutodiffFunctionTest, CompiledGradientsMatchEagerTape) {
  Tensor x = random_tensor({8, 5}, 1), w = random_tensor({5, 3}, 2), b = random_tensor({3}, 3);
  auto [loss_e, gw_e, gb_e] = mlp_grads(x, w, b);
  auto fn = function(mlp_grads);
  auto [loss_c, gw_c, gb_c] = fn(x, w, b);
  expect_near(loss_e, loss_c);
  expect_near(gw_e, gw_c);
  expect_near(gb_e, gb_c);
  auto cf = fn.get_concrete_function(TensorSpec({8, 5}), TensorSpec({5, 3}), TensorSpec({3}));
  EXPECT_NE(cf.traced_ir().find(" = grad "), std::string::npos) << cf.traced_ir();
}

std::tuple<Tensor, Tensor> stop_and_unconnected(const Tensor& w1, const Tensor& w2) {
  GradientTape tape;
  tape.watch(w1);
  tape.watch(w2);
  Tensor z = 3 * square(w1) + stop_gradient(2 * w1 * w2);
  auto g = tape.gradient(z, {w1, w2}, std::nullopt, UnconnectedGradients::kZero);
  return {*g[0], *g[1]};
}

TEST(AutodiffFunctionTest, StopGradientCompiled) {
  auto fn = function(stop_and_unconnected);
  auto [g1, g2] = fn(constant(5.f), constant(3.f));
  EXPECT_FLOAT_EQ(g1.item<float>(), 30.f);
  EXPECT_FLOAT_EQ(g2.item<float>(), 0.f);
}

Tensor second_derivative(const Tensor& x) {
  GradientTape outer;
  outer.watch(x);
  GradientTape inner;
  inner.watch(x);
  Tensor y = x * x * x;  // y'' = 6x
  Tensor dy = *inner.gradient(y, x);
  return *outer.gradient(dy, x);
}

// Ops the tape did not record stay out of the gradient inside kiln::function too.
std::tuple<Tensor, Tensor> unrecorded_paths(const Tensor& x) {
  Tensor before = x * 2.f;  // before the tape watches x: a constant for the tape
  GradientTape tape;
  tape.watch(x);
  Tensor paused;
  {
    auto stop = tape.stop_recording();
    paused = square(x);
  }
  Tensor y = before * x + paused * x;  // recorded: d/dx = before + paused = 2x + x^2
  auto g = tape.gradient(y, {x});
  return {*g[0], y};
}

TEST(AutodiffFunctionTest, UnrecordedOpsStayOutOfTheGradient) {
  auto [ge, ye] = unrecorded_paths(constant(3.f));
  EXPECT_FLOAT_EQ(ge.item<float>(), 15.f);
  auto fn = function(unrecorded_paths);
  auto [gc, yc] = fn(constant(3.f));
  EXPECT_FLOAT_EQ(gc.item<float>(), 15.f);
  // The backward sweep was traced in place of a grad op.
  EXPECT_EQ(fn.get_concrete_function(TensorSpec({})).traced_ir().find(" = grad "),
            std::string::npos);
}

std::tuple<Tensor, Tensor> jacobians(const Tensor& x) {
  GradientTape tape({.persistent = true});
  tape.watch(x);
  Tensor y = square(x) * 3.f;
  return {tape.jacobian(y, x), tape.batch_jacobian(y, x)};
}

TEST(AutodiffFunctionTest, JacobiansCompiled) {
  Tensor x = constant({{1.f, 2.f}, {3.f, 4.f}});
  auto [je, be] = jacobians(x);
  auto fn = function(jacobians);
  auto [jc, bc] = fn(x);
  EXPECT_EQ(jc.shape(), (Shape{2, 2, 2, 2}));
  EXPECT_EQ(bc.shape(), (Shape{2, 2, 2}));
  expect_near(je, jc);
  expect_near(be, bc);
  EXPECT_EQ(bc.to_vector<float>(), (std::vector<float>{6, 0, 0, 12, 18, 0, 0, 24}));
}

TEST(AutodiffFunctionTest, SecondOrderCompiled) {
  auto fn = function(second_derivative);
  EXPECT_FLOAT_EQ(fn(constant(2.f)).item<float>(), 12.f);
  EXPECT_FLOAT_EQ(second_derivative(constant(2.f)).item<float>(), 12.f);
}

Tensor better_softplus_grad(const Tensor& x) {
  auto my_better_softplus = custom_gradient([](const Tensor& z) {
    auto e = exp(z);
    return std::pair{log(e + 1), [e](const Tensor& dy) { return dy / (1 + 1 / e); }};
  });
  GradientTape tape;
  tape.watch(x);
  Tensor y = my_better_softplus(x);
  return *tape.gradient(y, x);
}

TEST(AutodiffFunctionTest, CustomGradientCompiled) {
  auto fn = function(better_softplus_grad);
  Tensor x = constant({-3.f, 0.f, 100.f});
  Tensor compiled = fn(x);
  expect_near(better_softplus_grad(x), compiled);
  EXPECT_FLOAT_EQ(compiled.to_vector<float>()[2], 1.f);
  EXPECT_TRUE(std::isfinite(compiled.to_vector<float>()[2]));
  // The trace holds a grad op and the custom gradient as a custom_grad op (not the backward
  // ops traced in place); the autodiff pass expands both.
  auto cf = fn.get_concrete_function(TensorSpec({3}));
  const std::string traced = cf.traced_ir();
  EXPECT_NE(traced.find(" = grad "), std::string::npos) << traced;
  EXPECT_NE(traced.find(" = custom_grad "), std::string::npos) << traced;
  EXPECT_NE(traced.find("^bb0(%dy: f32[3]"), std::string::npos) << traced;
  EXPECT_EQ(cf.ir().find("grad "), std::string::npos) << cf.ir();
}

// A custom gradient reading a Variable inside kiln::function: the Variable's value is an input
// of the custom_grad op (its cotangent comes from the region), and the gradient function reads
// it too. The rule is scaled by 10 so that only the custom one can give these numbers.
std::tuple<Tensor, Tensor, Tensor> scaled_grads(Variable& v, const Tensor& x) {
  auto scaled = custom_gradient([&v](const Tensor& t) {
    Tensor y = t * v;
    return std::pair{
        y, [t, &v](const Tensor& dy, std::span<const Variable* const> vars) {
          EXPECT_EQ(vars.size(), 1u);
          return std::pair{dy * v * 10.f, std::vector<Tensor>{reduce_sum(dy * t * 10.f)}};
        }};
  });
  GradientTape tape;
  tape.watch(x);
  Tensor y = reduce_sum(scaled(x));
  auto g = tape.gradient(y, {x, v});
  return {y, *g[0], *g[1]};
}

TEST(AutodiffFunctionTest, CustomGradientReadingAVariableCompiled) {
  Variable v(3.f, {.name = "scale"});
  auto fn = function([&v](const Tensor& x) { return scaled_grads(v, x); });
  Tensor x = constant({2.f, -1.f});
  auto [ye, gxe, gve] = scaled_grads(v, x);
  auto [yc, gxc, gvc] = fn(x);
  EXPECT_FLOAT_EQ(yc.item<float>(), 3.f);
  EXPECT_EQ(gxc.to_vector<float>(), (std::vector<float>{30.f, 30.f}));
  EXPECT_FLOAT_EQ(gvc.item<float>(), 10.f);
  expect_near(gxe, gxc);
  expect_near(gve, gvc);
  v.assign(constant(2.f));  // the Variable is an argument, not a constant baked into the IR
  EXPECT_EQ(std::get<1>(fn(x)).to_vector<float>(), (std::vector<float>{20.f, 20.f}));
  const std::string traced = fn.get_concrete_function(TensorSpec({2})).traced_ir();
  EXPECT_NE(traced.find(" = custom_grad "), std::string::npos) << traced;
  EXPECT_NE(traced.find(" = grad "), std::string::npos) << traced;
}

// Grad of grad through a custom gradient: the outer tape differentiates the inlined gradient
// function. Its rule 3 x^2 (for x^3) uses the input directly, so d/dx of it is 6 x.
Tensor custom_second_order(const Tensor& x) {
  auto cube = custom_gradient([](const Tensor& t) {
    return std::pair{t * t * t, [t](const Tensor& dy) { return dy * 3.f * t * t; }};
  });
  GradientTape outer;
  outer.watch(x);
  GradientTape inner;
  inner.watch(x);
  Tensor y = cube(x);
  Tensor dy = *inner.gradient(y, x);
  return *outer.gradient(dy, x);
}

TEST(AutodiffFunctionTest, SecondOrderThroughACustomGradientCompiled) {
  auto fn = function(custom_second_order);
  EXPECT_FLOAT_EQ(custom_second_order(constant(2.f)).item<float>(), 12.f);
  EXPECT_FLOAT_EQ(fn(constant(2.f)).item<float>(), 12.f);
  // Two grad ops (the outer one differentiates the inner one's expansion) and the custom_grad.
  const std::string traced = fn.get_concrete_function(TensorSpec({})).traced_ir();
  EXPECT_NE(traced.find(" = custom_grad "), std::string::npos) << traced;
  const size_t first = traced.find(" = grad ");
  ASSERT_NE(first, std::string::npos) << traced;
  EXPECT_NE(traced.find(" = grad ", first + 1), std::string::npos) << traced;
}

TEST(AutodiffFunctionTest, CustomGradientAssigningAVariableIsAnErrorWhenTraced) {
  Variable count(0.f, {.name = "count"});
  auto counted = custom_gradient([&count](const Tensor& t) {
    return std::pair{t * 2.f, [&count](const Tensor& dy) {
                       count.assign(count.value() + 1.f);
                       return dy * 2.f;
                     }};
  });
  auto fn = function([&counted](const Tensor& x) {
    GradientTape tape;
    tape.watch(x);
    return *tape.gradient(counted(x), x);
  });
  EXPECT_EQ(error_of([&] {
              fn(constant({1.f, 2.f}));
            }),
            "in kiln::function 'fn' traced with (f32[2]): "
            "custom_gradient: the gradient function assigns Variable 'count'; inside "
            "kiln::function a gradient function cannot assign Variables");
  EXPECT_FLOAT_EQ(count.value().item<float>(), 0.f);
}

TEST(AutodiffFunctionTest, CustomGradientWithAWrongCotangentShapeIsAnError) {
  auto bad = custom_gradient([](const Tensor& t) {
    return std::pair{t * 2.f, [](const Tensor& dy) { return reduce_sum(dy); }};
  });
  auto fn = function([&bad](const Tensor& x) {
    GradientTape tape;
    tape.watch(x);
    return *tape.gradient(bad(x), x);
  });
  EXPECT_EQ(error_of([&] {
              fn(constant({1.f, 2.f}));
            }),
            "in kiln::function 'fn' traced with (f32[2]): "
            "custom_gradient: the gradient function returned f32[] for input #0 of type f32[2]");
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

using compiler::testing::CheckNumerics;

TEST(CheckNumericsTest, EagerNamesTheFirstOpThatMadeNaN) {
  CheckNumerics on;
  Tensor x = constant({1.f, -1.f});
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    exp(log(x));
  });
  const std::string head = "check_numerics: 'log' produced nan at element 1 of its result f32[2]";
  if (call_sites_supported()) {
    EXPECT_EQ(msg.substr(0, msg.find(" in ")), cat(head, " (called from ", __FILE__, ":", line));
  } else {
    EXPECT_EQ(msg, cat(head, " (call site unknown)"));
  }
}

TEST(CheckNumericsTest, CompiledNamesTheIrOp) {
  auto fn = function([](const Tensor& x) { return exp(log(x) * 2.f); }, {.name = "logexp"});
  Tensor x = constant({1.f, 0.f});
  EXPECT_NO_THROW(fn(x));  // -inf * 2 -> exp -> 0: finite result, no check by default
  CheckNumerics on;
  const std::string msg = error_of([&] { fn(x); });
  EXPECT_NE(msg.find("check_numerics: 'log' produced -inf at element 1 of its result f32[2] in "
                     "@logexp: "),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("= log %"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(CheckNumericsTest, ExplicitCheckNamesItsCallSite) {
  Tensor x = constant({1.f, -1.f});
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    check_numerics(log(x), "log of x");
  });
  EXPECT_EQ(msg, cat("check_numerics: log of x: nan at element 1 of f32[2] (checked at ", __FILE__,
                     ":", line, ")"));
  EXPECT_EQ(check_numerics(exp(x)).to_vector<float>(), exp(x).to_vector<float>());
}

TEST(CheckNumericsTest, CompiledNamesTheCallSiteOfAnExplicitCheck) {
  int line = 0;
  auto fn = function(
      [&line](const Tensor& x) {
        line = __LINE__ + 1;
        Tensor l = check_numerics(log(x));
        return exp(l * 2.f);
      },
      {.name = "checked"});
  Tensor x = constant({1.f, 0.f});
  EXPECT_NO_THROW(fn(x));  // traced checks run in the checking mode only
  CheckNumerics on;
  const std::string msg = error_of([&] { fn(x); });
  EXPECT_NE(msg.find("check_numerics: 'log' produced -inf at element 1 of its result f32[2] in "
                     "@checked: "),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find(cat(" at ", __FILE__, ":", line, ":")), std::string::npos) << msg;
  const std::string ir = fn.get_concrete_function(TensorSpec({2})).ir();
  EXPECT_NE(ir.find(cat("loc(\"", __FILE__, "\":", line, ":")), std::string::npos) << ir;
}

TEST(CheckNumericsTest, EveryFloatingDtype) {
  config::check_numerics(true);
  for (DType dt : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    Tensor x = cast(constant({1.f, 0.f}), dt);
    const std::string msg = error_of([&] { log(x); });
    EXPECT_NE(msg.find("check_numerics: 'log' produced -inf at element 1"), std::string::npos)
        << dtype_name(dt) << ": " << msg;
  }
  config::check_numerics(false);
}

}  // namespace
}  // namespace kiln
