// kiln — Variables inside kiln::function: read and written at call time, in program order.
#include <gtest/gtest.h>

#include <optional>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/control_flow.h"
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

// A written Variable's old value is recycled as the buffer of its next new value only when
// nothing else holds it: values read out between calls keep their contents.
TEST(VariableFunctionTest, OldValuesHeldOutsideAreNeverReused) {
  Variable v(constant({1.f, 2.f, 3.f}), {.name = "v"});
  auto step = function([&](const Tensor& x) {
    v.assign(v * 2.f + x);
    return x;
  });
  const Tensor x = constant({0.f, 0.f, 0.f});
  std::vector<Tensor> kept;
  for (int i = 0; i < 6; ++i) {
    step(x);
    if (i % 2 == 0) kept.push_back(v.value());  // a reference to the new value
  }
  // v = 64 * initial after 6 steps; the kept values are those after steps 1, 3 and 5.
  EXPECT_FLOAT_EQ(v.value().data<float>()[2], 192.f);
  ASSERT_EQ(kept.size(), 3u);
  const float expect[] = {2.f, 8.f, 32.f};
  for (size_t i = 0; i < kept.size(); ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_FLOAT_EQ(kept[i].data<float>()[j], expect[i] * (j + 1)) << i;
  }
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

// Sliced assignment traces to strided_update of the whole value, in program order.
Tensor sliced_step(Variable& v, const Tensor& x) {
  v["1:3, 1:3"].assign(x);                  // a box
  v[":, ::-2"].assign(v[":, 0::2"] * 2.f);  // reads the value just written
  v[0].assign(reduce_sum(x));               // an integer index, a broadcast scalar
  v.index({kiln::all, 1}).assign(-1.f);     // a C++ scalar
  v["newaxis, 2, ::3"].assign(constant({{100.f, 200.f}}));
  return v * 1.f;  // the value after the assignments
}

TEST(VariableFunctionTest, SlicedAssignMatchesEager) {
  auto make = [] {
    return Variable(constant({{1.f, 2.f, 3.f, 4.f}, {5.f, 6.f, 7.f, 8.f}, {9.f, 10.f, 11.f, 12.f}}),
                    {.name = "grid"});
  };
  Variable e = make(), c = make();
  auto f = function([&](const Tensor& x) { return sliced_step(c, x); });
  for (const Tensor& x :
       {constant({{0.5f, -1.f}, {2.f, 3.f}}), constant({{7.f, 8.f}, {9.f, 1.f}})}) {
    const std::vector<float> want = sliced_step(e, x).to_vector<float>();
    EXPECT_EQ(f(x).to_vector<float>(), want);
    EXPECT_EQ(c.value().to_vector<float>(), e.value().to_vector<float>());
  }
  EXPECT_EQ(f.trace_count(), 1);
  const std::string ir = f.get_concrete_function(TensorSpec({2, 2})).traced_ir();
  EXPECT_NE(ir.find(" = strided_update "), std::string::npos) << ir;
}

TEST(VariableFunctionTest, SlicedAssignInALoopBody) {
  auto run = [](Variable& v, const Tensor& n) {
    return while_loop([&](const Tensor& i) { return i < n; },
                      [&](const Tensor& i) {
                        v["1:"].assign(v[":-1"] + cast(i, DType::kFloat32));  // a shift
                        return i + 1;
                      },
                      constant(0));
  };
  Variable e(constant({1.f, 2.f, 3.f, 4.f}), {.name = "row"});
  Variable c(constant({1.f, 2.f, 3.f, 4.f}), {.name = "row"});
  auto f = function([&](const Tensor& n) { return run(c, n); });
  for (int n : {2, 3}) {
    EXPECT_EQ(f(constant(n)).item<int32_t>(), run(e, constant(n)).item<int32_t>());
    EXPECT_EQ(c.value().to_vector<float>(), e.value().to_vector<float>()) << n;
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(VariableFunctionTest, SlicedAssignChecksStillApplyWhileTracing) {
  Variable v(constant({1.f, 2.f, 3.f}), {.name = "v"});
  auto wrong_shape = function([&](const Tensor& x) {
    v["0:2"].assign(x);
    return x;
  });
  EXPECT_EQ(invalid_argument_of([&] {
              wrong_shape(constant({1.f, 2.f, 3.f}));
            }),
            "in kiln::function 'fn' traced with (f32[3]): assign: Cannot assign a value of shape "
            "[3] to a slice of shape [2] of variable 'v' (shape [3])");
  auto wrong_dtype = function([&](const Tensor& x) {
    v["1"].assign(x);
    return x;
  });
  EXPECT_EQ(invalid_argument_of([&] { wrong_dtype(constant(1)); }),
            "in kiln::function 'fn' traced with (i32[]): assign: variable 'v' has dtype float32 "
            "but the value is a int32 tensor");
  EXPECT_EQ(v.value().to_vector<float>(), (std::vector<float>{1.f, 2.f, 3.f}));
}

}  // namespace
}  // namespace kiln
