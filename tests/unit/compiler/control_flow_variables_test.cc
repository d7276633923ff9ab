// kiln — Variables assigned inside kiln::cond branches and kiln::while_loop bodies: traced as
// extra results / loop variables; eager and compiled results and Variable values agree.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

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

using Vars = std::vector<Tensor>;

bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

// A counter incremented in the body; the condition and the body read it after each write.
Tensor count_up(Variable& counter, const Tensor& limit) {
  return while_loop([&](const Vars& v) { return counter < limit; },
                    [&](const Vars& v) {
                      counter.assign_add(1);
                      return Vars{v[0] + cast(counter, DType::kFloat32)};
                    },
                    {constant(0.f)})[0];
}

TEST(ControlFlowVariablesTest, CounterIncrementedInAWhileBody) {
  Variable eager_counter(0, {.name = "counter"}), compiled_counter(0, {.name = "counter"});
  auto f = function([&](const Tensor& limit) {
    const Tensor sum = count_up(compiled_counter, limit);
    return sum + cast(compiled_counter, DType::kFloat32) * 100.f;  // the value after the loop
  });
  for (int limit : {3, 5, 5, 9}) {
    const Tensor sum = count_up(eager_counter, constant(limit));
    const Tensor e = sum + cast(eager_counter, DType::kFloat32) * 100.f;
    const Tensor c = f(constant(limit));
    EXPECT_EQ(c.item<float>(), e.item<float>()) << limit;
    EXPECT_EQ(compiled_counter.value().item<int32_t>(), eager_counter.value().item<int32_t>());
  }
  EXPECT_EQ(eager_counter.value().item<int32_t>(), 9);
  EXPECT_EQ(f.trace_count(), 1);
  // The counter is the loop's last loop variable, named for the gradient's error message.
  const std::string ir = f.get_concrete_function(TensorSpec({}, DType::kInt32)).ir();
  EXPECT_TRUE(contains(ir, "variables = \"counter\"")) << ir;
}

// Keeps the largest value seen and counts the updates: an assignment in one branch only, and
// different assignments in both.
Tensor track_max(Variable& best, Variable& updates, const Tensor& x) {
  Tensor r = cond(
      x > best,
      [&] {
        best.assign(x);
        updates.assign_add(1.f);
        return x * 2.f;
      },
      [&] { return x; });
  Tensor below = cond(
      x < 0.f,
      [&] {
        updates.assign_sub(0.5f);
        return best * 1.f;
      },
      [&] { return constant(0.f); });
  return r + best + below;  // reads after the conds see the new values
}

TEST(ControlFlowVariablesTest, ConditionalUpdateInACondBranch) {
  const float lowest = -std::numeric_limits<float>::infinity();
  Variable eb(lowest, {.name = "best"}), eu(0.f, {.name = "updates"});
  Variable cb(lowest, {.name = "best"}), cu(0.f, {.name = "updates"});
  auto f = function([&](const Tensor& x) { return track_max(cb, cu, x); });
  for (float x : {1.f, 3.f, 2.f, -4.f, 7.f, 7.f}) {
    const float e = track_max(eb, eu, constant(x)).item<float>();
    EXPECT_EQ(f(constant(x)).item<float>(), e) << x;
    EXPECT_EQ(cb.value().item<float>(), eb.value().item<float>()) << x;
    EXPECT_EQ(cu.value().item<float>(), eu.value().item<float>()) << x;
  }
  EXPECT_EQ(eb.value().item<float>(), 7.f);
  EXPECT_EQ(eu.value().item<float>(), 2.5f);
  EXPECT_EQ(f.trace_count(), 1);
}

// Sums even and odd numbers below n into two Variables from a cond inside the loop body.
Tensor split_sums(Variable& evens, Variable& odds, Variable& steps, const Tensor& n) {
  return while_loop([&](const Tensor& i) { return i < n; },
                    [&](const Tensor& i) {
                      cond(
                          equal(mod(i, constant(2)), constant(0)),
                          [&] {
                            evens.assign_add(i);
                            return Vars{};
                          },
                          [&] {
                            odds.assign(odds + i);
                            return Vars{};
                          });
                      steps.assign_add(1);
                      return i + 1;
                    },
                    constant(0));
}

TEST(ControlFlowVariablesTest, NestedCondInWhile) {
  auto make = [] {
    return std::array{Variable(0, {.name = "evens"}), Variable(0, {.name = "odds"}),
                      Variable(0, {.name = "steps"})};
  };
  auto ev = make(), cv = make();
  auto f = function([&](const Tensor& n) { return split_sums(cv[0], cv[1], cv[2], n); });
  for (int n : {5, 0, 8}) {
    EXPECT_EQ(f(constant(n)).item<int32_t>(),
              split_sums(ev[0], ev[1], ev[2], constant(n)).item<int32_t>());
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(cv[k].value().item<int32_t>(), ev[k].value().item<int32_t>()) << n << " " << k;
    }
  }
  EXPECT_EQ(ev[0].value().item<int32_t>(), 0 + 2 + 4 + 0 + 2 + 4 + 6);
  EXPECT_EQ(ev[1].value().item<int32_t>(), 1 + 3 + 1 + 3 + 5 + 7);
  EXPECT_EQ(ev[2].value().item<int32_t>(), 13);
  EXPECT_EQ(f.trace_count(), 1);
}

// A while nested in a cond branch, the loop assigning a Variable the other branch leaves alone.
TEST(ControlFlowVariablesTest, WhileInCondBranch) {
  auto run = [](Variable& v, const Tensor& x) {
    return cond(
        x > 0.f,
        [&] {
          return while_loop([&](const Tensor& i) { return i < 3; },
                            [&](const Tensor& i) {
                              v.assign(v * x);
                              return i + 1;
                            },
                            constant(0));
        },
        [&] { return constant(-1); });
  };
  Variable e(1.f, {.name = "p"}), c(1.f, {.name = "p"});
  auto f = function([&](const Tensor& x) { return run(c, x); });
  for (float x : {2.f, -1.f, 0.5f}) {
    EXPECT_EQ(f(constant(x)).item<int32_t>(), run(e, constant(x)).item<int32_t>());
    EXPECT_EQ(c.value().item<float>(), e.value().item<float>()) << x;
  }
  EXPECT_EQ(e.value().item<float>(), 1.f);  // 2^3 * 0.5^3
}

TEST(ControlFlowVariablesTest, GradientThroughALoopThatCountsIterations) {
  Variable ec(0, {.name = "iterations"}), cc(0, {.name = "iterations"});
  auto grad_of = [](Variable& counter, const Tensor& x) {
    GradientTape tape;
    tape.watch(x);
    Tensor y = while_loop([](const Vars& v) { return v[0] < 3; },
                          [&](const Vars& v) {
                            counter.assign_add(1);
                            return Vars{v[0] + 1, v[1] * x};
                          },
                          {constant(0), constant(1.f)}, {.maximum_iterations = 10})[1];
    return *tape.gradient(y, {x})[0];
  };
  auto f = function([&](const Tensor& x) { return grad_of(cc, x); });
  for (float x : {1.5f, -2.f}) {
    const float e = grad_of(ec, constant(x)).item<float>();
    EXPECT_FLOAT_EQ(e, 3.f * x * x);
    EXPECT_NEAR(f(constant(x)).item<float>(), e, 1e-5f * std::fabs(e));
    EXPECT_EQ(cc.value().item<int32_t>(), ec.value().item<int32_t>());
  }
}

TEST(ControlFlowVariablesTest, Errors) {
  // A gradient through a loop that assigns a floating-point Variable.
  Variable decay(1.f, {.name = "decay"});
  auto differentiated = function([&](const Tensor& x) {
    GradientTape tape;
    tape.watch(x);
    Tensor y = while_loop([](const Tensor& v) { return reduce_sum(v) < 10.f; },
                          [&](const Tensor& v) {
                            decay.assign(decay * 0.5f);
                            return v * x + decay;
                          },
                          x, {.maximum_iterations = 5});
    return *tape.gradient(y, {x})[0];
  });
  EXPECT_TRUE(contains(error_of([&] { differentiated(constant(2.f)); }),
                       "the gradient of a kiln::while_loop whose body assigns Variable 'decay' "
                       "is not supported"));
  EXPECT_EQ(decay.value().item<float>(), 1.f);
  // The condition must not assign.
  Variable calls(0, {.name = "calls"});
  auto counting_condition = function([&](const Tensor& x) {
    return while_loop(
        [&](const Tensor& v) {
          calls.assign_add(1);
          return v < 3.f;
        },
        [](const Tensor& v) { return v + 1.f; }, x);
  });
  EXPECT_TRUE(
      contains(invalid_argument_of([&] { counting_condition(constant(0.f)); }),
               "Variable 'calls' is assigned in the cond_fn of a kiln::while_loop; the condition "
               "must not change state (assign it in body_fn)"));
  EXPECT_EQ(calls.value().item<int32_t>(), 0);
  // Assignment checks apply inside regions; nothing is stored.
  Variable w(constant({1.f, 2.f}), {.name = "w"});
  auto bad_shape = function([&](const Tensor& x) {
    return cond(
        x > 0.f,
        [&] {
          w.assign(x);
          return x;
        },
        [&] { return x; });
  });
  EXPECT_TRUE(contains(invalid_argument_of([&] { bad_shape(constant(1.f)); }),
                       "Cannot assign to variable 'w' due to variable shape [2] and value shape "
                       "[] are incompatible"));
  EXPECT_EQ(w.value().to_vector<float>(), (std::vector<float>{1.f, 2.f}));
}

// A body that assigns depending on how often it was traced is rejected (not silently wrong).
TEST(ControlFlowVariablesTest, BodyAssigningOnlyOnItsSecondTrace) {
  Variable a(0, {.name = "a"}), b(0, {.name = "b"});
  int traces = 0;
  auto f = function([&](const Tensor& n) {
    return while_loop([&](const Tensor& i) { return i < n; },
                      [&](const Tensor& i) {
                        (++traces == 1 ? a : b).assign_add(1);
                        return i + 1;
                      },
                      constant(0));
  });
  EXPECT_TRUE(contains(
      invalid_argument_of([&] { f(constant(2)); }),
      "while_loop: body_fn assigned Variable 'b' only on its second trace; the Variables a "
      "traced loop body assigns must not depend on how often it was traced"));
  EXPECT_EQ(a.value().item<int32_t>(), 0);
  EXPECT_EQ(b.value().item<int32_t>(), 0);
}

// A GradientTape watches a Variable read only inside a traced branch or loop body, as it does
// eagerly: the gradient with respect to it matches eager's.
TEST(ControlFlowVariablesTest, GradientOfAVariableReadInsideRegions) {
  Variable w(constant(3.f), {.name = "w"});
  auto grad_of = [&](const Tensor& x) {
    GradientTape tape;
    Tensor y = cond(
        x > 0.f, [&] { return x * w; }, [&] { return x; });
    Tensor z = while_loop([](const Vars& v) { return v[0] < 3; },
                          [&](const Vars& v) {
                            Tensor inner = cond(
                                v[1] > 100.f, [&] { return v[1]; }, [&] { return v[1] * w; });
                            return Vars{v[0] + 1, inner};
                          },
                          {constant(0), x}, {.maximum_iterations = 5})[1];
    auto g = tape.gradient(y + z, {w}, std::nullopt, UnconnectedGradients::kZero);
    return *g[0];
  };
  auto f = function(grad_of);
  for (float x : {2.f, -1.f, 50.f}) {
    const float e = grad_of(constant(x)).item<float>();
    EXPECT_NE(e, 0.f) << x;
    EXPECT_NEAR(f(constant(x)).item<float>(), e, 1e-4f * std::fabs(e)) << x;
  }
}

}  // namespace
}  // namespace kiln
