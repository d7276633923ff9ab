// kiln — kiln::cond and kiln::while_loop: eager, traced (region ops), compiled, differentiated.
#include "runtime/control_flow.h"

#include <gtest/gtest.h>

#include <memory>

#include "compiler/function.h"
#include "ir/parser.h"
#include "runtime/array_ops.h"
#include "runtime/evaluator.h"
#include "runtime/gradient_check.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/trace.h"
#include "runtime/variable.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using Vars = std::vector<Tensor>;

bool contains(const std::string& s, std::string_view what) {
  return s.find(what) != std::string::npos;
}

// ---- eager ----

TEST(ControlFlowEagerTest, CondRunsTheSelectedBranchOnly) {
  int then_runs = 0, else_runs = 0;
  const Tensor x = constant({1.f, 2.f});
  auto run = [&](bool p) {
    return cond(
        constant(p),
        [&] {
          ++then_runs;
          return x * 2.f;
        },
        [&] {
          ++else_runs;
          return x - 1.f;
        });
  };
  EXPECT_EQ(run(true).to_vector<float>(), (std::vector<float>{2.f, 4.f}));
  EXPECT_EQ(run(false).to_vector<float>(), (std::vector<float>{0.f, 1.f}));
  EXPECT_EQ(then_runs, 1);
  EXPECT_EQ(else_runs, 1);
}

TEST(ControlFlowEagerTest, WhileLoopRunsUntilTheConditionFails) {
  // Doubles x until its sum reaches 100: 1+2 -> 3, 6, 12, 24, 48, 96, 192.
  Vars out = while_loop([](const Vars& v) { return reduce_sum(v[1]) < 100.f; },
                        [](const Vars& v) {
                          return Vars{v[0] + 1, v[1] * 2.f};
                        },
                        {constant(0), constant({1.f, 2.f})});
  EXPECT_EQ(out[0].item<int32_t>(), 6);
  EXPECT_EQ(out[1].to_vector<float>(), (std::vector<float>{64.f, 128.f}));
  // One loop variable; maximum_iterations stops early.
  Tensor n =
      while_loop([](const Tensor& i) { return i < 10; }, [](const Tensor& i) { return i + 1; },
                 constant(0), {.maximum_iterations = 3});
  EXPECT_EQ(n.item<int32_t>(), 3);
  EXPECT_EQ(while_loop([](const Tensor& i) { return i < 10; },
                       [](const Tensor& i) { return i + 1; }, constant(0), {})
                .item<int32_t>(),
            10);
}

TEST(ControlFlowEagerTest, Errors) {
  const Tensor x = constant({1.f, 2.f});
  auto id = [&] { return x; };
  EXPECT_EQ(invalid_argument_of([&] { cond(constant(1.f), id, id); }),
            "cond: the predicate must be a bool scalar (bool[]) but is f32[]");
  EXPECT_EQ(invalid_argument_of([&] {
              cond(constant(std::vector<bool>{true, false}, Shape{2}), id, id);
            }),
            "cond: the predicate must be a bool scalar (bool[]) but is bool[2]");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Tensor& v) { return reduce_sum(v) < 10.f; },
                         [](const Tensor& v) {
                           return concat({v, v}, 0);
                         },
                         x);
            }),
            "while_loop: loop variable #0 enters the loop as f32[2] but has f32[4] after one "
            "iteration; the body must keep each loop variable's dtype and shape");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Vars& v) { return v[0] < 3; },
                         [](const Vars& v) {
                           return Vars{v[0] + 1, cast(v[1], DType::kFloat64)};
                         },
                         {constant(0), x});
            }),
            "while_loop: loop variable #1 enters the loop as f32[2] but has f64[2] after one "
            "iteration; the body must keep each loop variable's dtype and shape");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Vars& v) { return v[0] < 3; },
                         [](const Vars& v) { return Vars{v[0] + 1}; }, {constant(0), x});
            }),
            "while_loop: body_fn returned 1 Tensor(s) for 2 loop variable(s)");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Tensor& v) { return v; }, [](const Tensor& v) { return v; }, x);
            }),
            "while_loop: the result of cond_fn must be a bool scalar (bool[]) but is f32[2]");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Vars& v) { return v[0] < 3; }, [](const Vars& v) { return v; },
                         {});
            }),
            "while_loop: loop_vars is empty");
  EXPECT_EQ(invalid_argument_of([&] { cond(Tensor(), id, id); }),
            "cond: the predicate is an empty Tensor");
  EXPECT_EQ(invalid_argument_of([&] { cond(constant(true), id, nullptr); }),
            "cond: true_fn and false_fn must be set");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop(
                  nullptr, [](const Tensor& v) { return v; }, x);
            }),
            "while_loop: cond_fn and body_fn must be set");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Vars& v) { return v[0] < 3; }, [](const Vars& v) { return v; },
                         {constant(0), Tensor()});
            }),
            "while_loop: loop variable #1 is an empty Tensor");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Vars& v) { return v[0] < 3; },
                         [](const Vars& v) {
                           return Vars{v[0] + 1, Tensor()};
                         },
                         {constant(0), x});
            }),
            "while_loop: body_fn returned an empty Tensor for loop variable #1");
  EXPECT_EQ(invalid_argument_of([&] {
              while_loop([](const Tensor& v) { return v < 3; }, [](const Tensor& v) { return v; },
                         constant(0), {.maximum_iterations = -1});
            }),
            "while_loop: maximum_iterations must be non-negative, got -1");
}

TEST(ControlFlowEagerTest, GradientTapeRecordsTheOpsThatRan) {
  const Tensor x = constant({0.5f, -1.5f});
  for (bool p : {true, false}) {
    GradientTape tape;
    tape.watch(x);
    Tensor y = cond(
        constant(p), [&] { return reduce_sum(x * x); }, [&] { return reduce_sum(x * 3.f); });
    auto g = tape.gradient(y, {x});
    const std::vector<float> want =
        p ? std::vector<float>{1.f, -3.f} : std::vector<float>{3.f, 3.f};
    EXPECT_EQ(g[0]->to_vector<float>(), want);
  }
  // x * 2^3 after three iterations: d/dx = 8.
  GradientTape tape;
  tape.watch(x);
  Vars out = while_loop([](const Vars& v) { return v[0] < 3; },
                        [](const Vars& v) {
                          return Vars{v[0] + 1, v[1] * 2.f};
                        },
                        {constant(0), x});
  auto g = tape.gradient(reduce_sum(out[1]), {x});
  EXPECT_EQ(g[0]->to_vector<float>(), (std::vector<float>{8.f, 8.f}));
}

TEST(ControlFlowEagerTest, FiniteDifferences) {
  auto fn = [](std::span<const Tensor> in) {
    Tensor c = cond(
        reduce_sum(in[0]) > 0.f, [&] { return sin(in[0]) * in[1]; },
        [&] { return exp(in[0]) + in[1]; });
    return while_loop([](const Vars& v) { return v[0] < 3; },
                      [](const Vars& v) {
                        return Vars{v[0] + 1, tanh(v[1]) * 1.5f};
                      },
                      {constant(0), c})[1];
  };
  for (float sign : {1.f, -1.f}) {
    const Tensor a = constant({0.3f * sign, 0.7f * sign}), b = constant({1.2f, -0.4f});
    const Tensor inputs[] = {a, b};
    auto report = testing::check_gradients(fn, inputs);
    EXPECT_TRUE(report.passed) << report.to_string();
  }
}

// ---- traced ----

TEST(ControlFlowTraceTest, CondTracesBothBranchesAndCapturesOnUse) {
  const Tensor outer_const = constant({10.f, 20.f});
  auto f = function([&](const Tensor& x, const Tensor& y) {
    Tensor t = cond(
        reduce_sum(x) > 0.f, [&] { return x * y + outer_const; }, [&] { return y - 1.f; });
    return t * 2.f;
  });
  auto eager = [&](const Tensor& x, const Tensor& y) {
    return (reduce_sum(x).item<float>() > 0.f ? x * y + outer_const : y - 1.f) * 2.f;
  };
  const Tensor y = constant({3.f, 4.f});
  for (const Tensor& x : {constant({1.f, 2.f}), constant({-1.f, -2.f})}) {
    EXPECT_EQ(f(x, y).to_vector<float>(), eager(x, y).to_vector<float>());
  }
  EXPECT_EQ(f.trace_count(), 1);
  auto concrete = f.get_concrete_function(TensorSpec({2}), TensorSpec({2}));
  const std::string ir = concrete.traced_ir();
  // x and y are captured (operands after the predicate); both branches take them.
  EXPECT_TRUE(contains(ir, " = cond %")) << ir;
  EXPECT_TRUE(contains(ir, "} else {")) << ir;
  EXPECT_TRUE(contains(ir, ": (bool[], f32[2], f32[2]) -> f32[2] {")) << ir;
  // A real branch in the compiled code.
  const std::string ll = concrete.llvm_ir();
  EXPECT_TRUE(contains(ll, "br i1")) << ll;
}

TEST(ControlFlowTraceTest, WhileLoopTripCountDependsOnData) {
  auto f = function([](const Tensor& x, const Tensor& limit) {
    return while_loop([&](const Vars& v) { return reduce_sum(v[1]) < limit; },
                      [](const Vars& v) {
                        return Vars{v[0] + 1, v[1] * 2.f};
                      },
                      {constant(0), x});
  });
  const Tensor x = constant({1.f, 2.f});
  for (float limit : {0.f, 5.f, 100.f, 1e6f}) {
    Vars eager = while_loop([&](const Vars& v) { return reduce_sum(v[1]) < limit; },
                            [](const Vars& v) {
                              return Vars{v[0] + 1, v[1] * 2.f};
                            },
                            {constant(0), x});
    auto compiled = f(x, constant(limit));
    EXPECT_EQ(compiled[0].item<int32_t>(), eager[0].item<int32_t>()) << limit;
    EXPECT_EQ(compiled[1].to_vector<float>(), eager[1].to_vector<float>()) << limit;
  }
  EXPECT_EQ(f.trace_count(), 1);
  auto concrete = f.get_concrete_function(TensorSpec({2}), TensorSpec({}));
  const std::string ir = concrete.traced_ir();
  EXPECT_TRUE(contains(ir, " = while %")) << ir;
  EXPECT_TRUE(contains(ir, "} do {")) << ir;
  // Not unrolled: one traced body, and the compiled code has a back-edge to the loop header.
  EXPECT_EQ(ir.find(" = mul "), ir.rfind(" = mul ")) << ir;
  // (LLVM rotates the loop: the condition is tested before the body and again at its end.)
  const std::string ll = concrete.llvm_ir();
  EXPECT_TRUE(contains(ll, "\nwhile.body:")) << ll;
  EXPECT_TRUE(contains(ll, "label %while.body")) << ll;
  EXPECT_TRUE(contains(ll, ", %while.body\n") || contains(ll, "preds = %while.body")) << ll;
  EXPECT_EQ(ll.find("fmul"), ll.rfind("fmul")) << ll;
}

// Collatz steps (the IR of tests/lit/compiler/control_flow_llvm.kir): a loop whose trip count
// the data decides, with a cond inside its body, compiled once for all inputs.
TEST(ControlFlowTraceTest, CollatzStepsCompiled) {
  auto collatz = [](const Tensor& n) {
    const Tensor two = constant(2), one = constant(1), zero = constant(0);
    return while_loop([&](const Vars& v) { return v[0] > 1; },
                      [&](const Vars& v) {
                        Tensor next = cond(
                            equal(mod(v[0], two), zero), [&] { return floordiv(v[0], two); },
                            [&] { return v[0] * 3 + one; });
                        return Vars{next, v[1] + 1};
                      },
                      {n, zero})[1];
  };
  auto f = function(collatz);
  const std::pair<int32_t, int32_t> cases[] = {{1, 0},  {2, 1},    {6, 8},
                                               {7, 16}, {27, 111}, {97, 118}};
  for (auto [n, want] : cases) {
    EXPECT_EQ(f(constant(n)).item<int32_t>(), want) << n;
    EXPECT_EQ(collatz(constant(n)).item<int32_t>(), want) << n;
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ControlFlowTraceTest, MaximumIterationsAndSwappedLoopVariables) {
  // The body swaps a and b (yields of other loop variables), and stops after 5 iterations.
  auto body = [](const Vars& v) { return Vars{v[0] + 1, v[2], v[1] + v[2]}; };
  auto loop = [&](const Tensor& a, const Tensor& b) {
    return while_loop([](const Vars& v) { return v[0] < 100; }, body, {constant(0), a, b},
                      {.maximum_iterations = 5});
  };
  auto f = function(loop);
  const Tensor a = constant({1.f, 0.f}), b = constant({1.f, 1.f});
  Vars e = loop(a, b), c = f(a, b);
  EXPECT_EQ(e[0].item<int32_t>(), 5);
  EXPECT_EQ(c[0].item<int32_t>(), 5);
  for (int j = 1; j < 3; ++j) EXPECT_EQ(c[j].to_vector<float>(), e[j].to_vector<float>()) << j;
  EXPECT_TRUE(contains(f.get_concrete_function(TensorSpec({2}), TensorSpec({2})).ir(),
                       "{maximum_iterations = 5}"));
}

TEST(ControlFlowTraceTest, NestedControlFlowAndVariableReads) {
  Variable scale(constant(3.f), {.name = "scale"});
  auto body = [&](const Vars& v) {
    Tensor next = cond(
        v[1] < 10.f, [&] { return v[1] * scale; }, [&] { return v[1] + 1.f; });
    return Vars{v[0] + 1, next};
  };
  auto loop = [&](const Tensor& x) {
    return while_loop([](const Vars& v) { return v[0] < 6; }, body, {constant(0), x})[1];
  };
  auto f = function(loop);
  for (float x0 : {0.5f, 2.f, 20.f}) {
    EXPECT_EQ(f(constant(x0)).item<float>(), loop(constant(x0)).item<float>()) << x0;
  }
  // The Variable is read at call time, through the capture chain of both regions.
  scale.assign(constant(2.f));
  EXPECT_EQ(f(constant(1.f)).item<float>(), loop(constant(1.f)).item<float>());
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ControlFlowTraceTest, TracedIrRunsInTheInterpreter) {
  auto fn = [](const Tensor& x) {
    return while_loop([](const Tensor& v) { return reduce_sum(v) < 50.f; },
                      [](const Tensor& v) {
                        return cond(
                            reduce_max(v) > 4.f, [&] { return v + 10.f; }, [&] { return v * 3.f; });
                      },
                      x);
  };
  auto f = function(fn);
  const std::string ir = f.get_concrete_function(TensorSpec({3})).traced_ir();
  auto module = ir::parse_module(ir);
  ASSERT_TRUE(module.ok()) << module.status() << "\n" << ir;
  KernelEvaluator evaluator;
  ir::Literal arg(ir::Type{DType::kFloat32, Shape{3}});
  const float in[] = {0.5f, 1.f, -0.25f};
  std::memcpy(arg.data(), in, sizeof(in));
  auto out = ir::interpret(*(*module)->functions().front(), std::span(&arg, 1), evaluator);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<float> want = fn(constant({0.5f, 1.f, -0.25f})).to_vector<float>();
  ASSERT_EQ((*out)[0].num_elements(), 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ((*out)[0].get(i), want[i]) << i;
}

TEST(ControlFlowTraceTest, Errors) {
  auto mismatch = function([](const Tensor& x) {
    return cond(
        reduce_sum(x) > 0.f, [&] { return x; }, [&] { return reduce_sum(x); });
  });
  EXPECT_TRUE(contains(invalid_argument_of([&] {
                         mismatch(constant({1.f, 2.f}));
                       }),
                       "cond: result #0 is f32[2] in true_fn but f32[] in false_fn"));
  auto count = function([](const Tensor& x) {
    return cond(
        reduce_sum(x) > 0.f,
        [&] {
          return Vars{x, x};
        },
        [&] { return Vars{x}; })[0];
  });
  EXPECT_TRUE(contains(invalid_argument_of([&] { count(constant({1.f})); }),
                       "cond: true_fn returned 2 Tensor(s) but false_fn returned 1"));
  auto grow = function([](const Tensor& x) {
    return while_loop([](const Tensor& v) { return reduce_sum(v) < 10.f; },
                      [](const Tensor& v) {
                        return concat({v, v}, 0);
                      },
                      x);
  });
  EXPECT_TRUE(contains(invalid_argument_of([&] { grow(constant({1.f})); }),
                       "while_loop: loop variable #0 enters the loop as f32[1] but has f32[2] "
                       "after one iteration"));
  Tensor leaked;
  auto leaks = function([&](const Tensor& x) {
    cond(
        x > 0.f, [&] { return leaked = x * 2.f; }, [&] { return x; });
    return leaked + 1.f;
  });
  EXPECT_TRUE(contains(error_of([&] { leaks(constant(1.f)); }),
                       "a symbolic Tensor from another traced function, or from inside a "
                       "kiln::cond branch or kiln::while_loop body, was used here"));
}

// The gradient of a traced cond is a cond over the branches' backward computations.
TEST(ControlFlowGradientTest, TracedCondMatchesEagerAndFiniteDifferences) {
  const Tensor w = constant({0.5f, -2.f, 1.5f});
  auto forward = [&](const Tensor& x, const Tensor& y) {
    // Nested: the then branch holds another cond; x is used in both branches, y only in one.
    return cond(
        reduce_sum(x) > 0.f,
        [&] {
          return cond(
              reduce_max(y) > 1.f, [&] { return sin(x) * y; }, [&] { return x * x * w; });
        },
        [&] { return exp(x) - 1.f; });
  };
  auto grads = [&](const Tensor& x, const Tensor& y) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(y);
    Tensor loss = reduce_sum(forward(x, y) * w);
    auto g = tape.gradient(loss, {x, y}, std::nullopt, UnconnectedGradients::kZero);
    return std::vector<Tensor>{*g[0], *g[1]};
  };
  auto compiled = function(grads);
  auto compiled_forward =
      function([&](const Tensor& x, const Tensor& y) { return reduce_sum(forward(x, y) * w); });
  const Tensor ys[] = {constant({2.f, 0.5f, -1.f}), constant({0.2f, 0.5f, -1.f})};
  for (const Tensor& x0 : {constant({0.3f, 0.9f, -0.4f}), constant({-0.3f, -0.9f, 0.4f})}) {
    for (const Tensor& y0 : ys) {
      const std::vector<Tensor> e = grads(x0, y0), c = compiled(x0, y0);
      for (int k = 0; k < 2; ++k) {
        const auto ev = e[k].to_vector<float>(), cv = c[k].to_vector<float>();
        for (size_t i = 0; i < ev.size(); ++i) EXPECT_NEAR(cv[i], ev[i], 1e-5f) << k << "," << i;
      }
      // Central differences of the compiled forward function, in float64 steps of 1e-3.
      for (int k = 0; k < 2; ++k) {
        std::vector<float> base = (k == 0 ? x0 : y0).to_vector<float>();
        for (size_t i = 0; i < base.size(); ++i) {
          auto at = [&](float delta) {
            std::vector<float> v = base;
            v[i] += delta;
            const Tensor moved = constant(v, Shape{3});
            return static_cast<double>(
                (k == 0 ? compiled_forward(moved, y0) : compiled_forward(x0, moved)).item<float>());
          };
          const double numeric = (at(1e-3f) - at(-1e-3f)) / 2e-3;
          EXPECT_NEAR(c[k].to_vector<float>()[i], numeric, 2e-2 * std::max(1.0, std::fabs(numeric)))
              << k << "," << i;
        }
      }
    }
  }
  EXPECT_EQ(compiled.trace_count(), 1);
  const std::string ir = compiled.get_concrete_function(TensorSpec({3}), TensorSpec({3})).ir();
  // The backward cond on the same predicate, holding the nested cond's backward cond (the
  // forward conds are dead: only the gradients are returned).
  size_t conds = 0;
  for (size_t p = ir.find(" = cond "); p != std::string::npos; p = ir.find(" = cond ", p + 1)) {
    ++conds;
  }
  EXPECT_EQ(conds, 2u) << ir;
  EXPECT_EQ(ir.find(" = grad "), std::string::npos) << ir;
}

// The gradient of a traced while: a backward loop over recomputed iterations. The trip count
// depends on the data; a loop invariant (w) and an integer loop variable take part.
TEST(ControlFlowGradientTest, TracedWhileMatchesEagerAndFiniteDifferences) {
  auto forward = [](const Tensor& x, const Tensor& w) {
    Vars out = while_loop([](const Vars& v) { return reduce_sum(abs(v[1])) < 6.f; },
                          [&](const Vars& v) {
                            return Vars{v[0] + 1, sin(v[1]) * w + v[1] * 1.5f};
                          },
                          {constant(0), x}, {.maximum_iterations = 20});
    return reduce_sum(out[1] * out[1]);
  };
  auto grads = [&](const Tensor& x, const Tensor& w) {
    GradientTape tape;
    tape.watch(x);
    tape.watch(w);
    auto g = tape.gradient(forward(x, w), {x, w}, std::nullopt, UnconnectedGradients::kZero);
    return std::vector<Tensor>{*g[0], *g[1]};
  };
  auto compiled = function(grads);
  auto compiled_forward = function(forward);
  const Tensor w = constant({0.5f, -0.25f});
  for (const Tensor& x0 : {constant({0.3f, 0.4f}), constant({-1.f, 0.7f}), constant({4.f, 3.f})}) {
    const std::vector<Tensor> e = grads(x0, w), c = compiled(x0, w);
    for (int k = 0; k < 2; ++k) {
      const auto ev = e[k].to_vector<float>(), cv = c[k].to_vector<float>();
      for (size_t i = 0; i < ev.size(); ++i) {
        EXPECT_NEAR(cv[i], ev[i], 1e-4f * std::max(1.f, std::fabs(ev[i]))) << k << "," << i;
      }
      std::vector<float> base = (k == 0 ? x0 : w).to_vector<float>();
      for (size_t i = 0; i < base.size(); ++i) {
        auto at = [&](float delta) {
          std::vector<float> v = base;
          v[i] += delta;
          const Tensor moved = constant(v, Shape{2});
          return static_cast<double>(
              (k == 0 ? compiled_forward(moved, w) : compiled_forward(x0, moved)).item<float>());
        };
        const double numeric = (at(1e-3f) - at(-1e-3f)) / 2e-3;
        EXPECT_NEAR(cv[i], numeric, 2e-2 * std::max(1.0, std::fabs(numeric))) << k << "," << i;
      }
    }
  }
  EXPECT_EQ(compiled.trace_count(), 1);
}

}  // namespace
}  // namespace kiln
