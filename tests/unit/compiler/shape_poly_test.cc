// kiln — shape-polymorphic kiln::function: input_signature with kiln::None dims and
// reduce_retracing. One trace and one compile serve every size; results equal eager ones.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/control_flow.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "support/error.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

Tensor random_tensor(Shape shape, unsigned seed) {
  return compiler::testing::random_normal_tensor(std::move(shape), seed, 1.5f);
}

using compiler::testing::expect_close;

const int64_t kSizes[] = {1, 7, 32, 1000};

TEST(ShapePolyTest, OneTraceAndOneCompileForEveryBatchSize) {
  auto fn = [](const Tensor& x, const Tensor& y) { return exp(x) * 2.f + y; };
  auto f =
      function(fn, {.input_signature = {TensorSpec({None, 5}), TensorSpec({5})}, .name = "affine"});
  for (int64_t n : kSizes) {
    Tensor x = random_tensor(Shape{n, 5}, 1), y = random_tensor(Shape{5}, 2);
    expect_close(fn(x, y), f(x, y), 1e-6f);
  }
  EXPECT_EQ(f.trace_count(), 1);
  const CacheStats stats = f.cache_stats();
  EXPECT_EQ(stats.traces, 1);
  EXPECT_EQ(stats.entries, 1);
  EXPECT_EQ(stats.hits, 3);
  const std::string ir = f.get_concrete_function(TensorSpec({None, 5}), TensorSpec({5})).ir();
  EXPECT_NE(ir.find("f32[?,5]"), std::string::npos) << ir;
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, MatmulWithUnknownBatch) {
  const Tensor w = random_tensor(Shape{5, 3}, 3), b = random_tensor(Shape{3}, 4);
  auto fn = [&](const Tensor& x) { return matmul(x, w) + b; };
  auto f = function(fn, {.input_signature = {TensorSpec({None, 5})}, .name = "dense"});
  for (int64_t n : kSizes) {
    Tensor x = random_tensor(Shape{n, 5}, 5);
    expect_close(fn(x), f(x), 1e-5f);
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, BroadcastingAlongKnownAndUnknownDims) {
  // [?, 1] against [5] and against [?, 5]: size-1 dims broadcast, unknown ones line up.
  auto fn = [](const Tensor& a, const Tensor& b, const Tensor& c) { return a * b - c / 2.f; };
  auto f = function(
      fn, {.input_signature = {TensorSpec({None, 1}), TensorSpec({5}), TensorSpec({None, 5})},
           .name = "bcast"});
  for (int64_t n : kSizes) {
    Tensor a = random_tensor(Shape{n, 1}, 6), b = random_tensor(Shape{5}, 7),
           c = random_tensor(Shape{n, 5}, 8);
    expect_close(fn(a, b, c), f(a, b, c), 1e-6f);
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, ReductionsOverTheUnknownAxis) {
  auto fn = [](const Tensor& x) {
    Tensor per_feature = reduce_mean(x, std::vector<int64_t>{0});  // mean over the batch
    Tensor centered = x - per_feature;
    return std::vector<Tensor>{per_feature, reduce_sum(square(centered), std::vector<int64_t>{1}),
                               reduce_mean(x)};
  };
  auto f = function(fn, {.input_signature = {TensorSpec({None, 4})}, .name = "stats"});
  for (int64_t n : kSizes) {
    Tensor x = random_tensor(Shape{n, 4}, 9);
    std::vector<Tensor> want = fn(x), got = f(x);
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) expect_close(want[i], got[i], 1e-5f);
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, CheckNumericsRunsThePolymorphicIrOnTheCallsShapes) {
  auto fn = [](const Tensor& x, const Tensor& b) { return log(x * b); };
  auto f =
      function(fn, {.input_signature = {TensorSpec({None, 3}), TensorSpec({3})}, .name = "logs"});
  const Tensor b = constant({1.f, 2.f, 3.f});
  const Tensor x = abs(random_tensor(Shape{4, 3}, 30)) + 0.5f;
  compiler::testing::CheckNumerics on;
  expect_close(fn(x, b), f(x, b), 1e-6f);
  EXPECT_NE(error_of([&] { f(x * 0.f - 1.f, b); }).find("'log' produced nan"), std::string::npos);
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, EmptyBatch) {
  auto fn = [](const Tensor& x) { return reduce_sum(exp(x), std::vector<int64_t>{0}); };
  auto f = function(fn, {.input_signature = {TensorSpec({None, 3})}});
  Tensor x = random_tensor(Shape{0, 3}, 10);
  expect_close(fn(x), f(x));
  Tensor y = random_tensor(Shape{4, 3}, 11);
  expect_close(fn(y), f(y), 1e-6f);
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, CondAndWhileWithUnknownDims) {
  auto fn = [](const Tensor& x, const Tensor& flag) {
    Tensor y = cond(
        flag, [&] { return x * 2.f; }, [&] { return x - 1.f; });
    return while_loop([](const Tensor& v) { return reduce_sum(v) < 100.f; },
                      [](const Tensor& v) { return v + 1.f; }, abs(y) + 0.5f,
                      {.maximum_iterations = 50});
  };
  auto f = function(
      fn, {.input_signature = {TensorSpec({None, 2}), TensorSpec({}, bool_)}, .name = "flow"});
  for (int64_t n : {1, 3, 40}) {
    for (bool flag : {true, false}) {
      Tensor x = random_tensor(Shape{n, 2}, 12);
      expect_close(fn(x, constant(flag)), f(x, constant(flag)), 1e-5f);
    }
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, TracingSeesNoneForUnknownDims) {
  int64_t seen = 0;
  auto f = function(
      [&](const Tensor& x) {
        seen = x.shape()[0];
        return x + 1.f;
      },
      {.input_signature = {TensorSpec({None, 2})}});
  f(random_tensor(Shape{3, 2}, 13));
  EXPECT_EQ(seen, None);
}

TEST(ShapePolyTest, CallsThatDoNotMatchTheSignatureAreErrors) {
  auto f = function([](const Tensor& x) { return x * 2.f; },
                    {.input_signature = {TensorSpec({None, 5})}, .name = "f"});
  EXPECT_EQ(invalid_argument_of([&] {
              f(random_tensor(Shape{3, 4}, 1));
            }),
            "kiln::function 'f': argument 0 is f32[3, 4] but input_signature says f32[None, 5]");
  EXPECT_EQ(invalid_argument_of([&] {
              f(random_tensor(Shape{3, 5, 1}, 1));
            }),
            "kiln::function 'f': argument 0 is f32[3, 5, 1] but input_signature says "
            "f32[None, 5]");
  EXPECT_EQ(invalid_argument_of([&] {
              f(zeros({3, 5}, int32));
            }),
            "kiln::function 'f': argument 0 is i32[3, 5] but input_signature says f32[None, 5]");
  auto g = [&](const Tensor& x, const Tensor& y) { return f(x) + y; };
  EXPECT_EQ(invalid_argument_of([&] {
              auto two = function([](const Tensor& x, const Tensor& y) { return x + y; },
                                  {.input_signature = {TensorSpec({None})}, .name = "two"});
              two(zeros({2}), zeros({2}));
            }),
            "kiln::function 'two': called with 2 Tensor argument(s) but input_signature has 1");
  (void)g;
  EXPECT_EQ(f.trace_count(), 0);
  EXPECT_EQ(f(zeros({2, 5})).shape(), Shape({2, 5}));
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, ShapesThatOnlyTheCallDecidesAreCheckedPerCall) {
  // A while loop variable whose size doubles: its type is f32[?] when traced.
  auto grow = function(
      [](const Tensor& x) {
        return while_loop([](const Tensor& v) { return reduce_sum(v) < 100.f; },
                          [](const Tensor& v) {
                            return concat({v, v}, 0);
                          },
                          x);
      },
      {.input_signature = {TensorSpec({None})}, .name = "grow"});
  EXPECT_EQ(invalid_argument_of([&] {
              grow(constant({1.f, 2.f}));
            }),
            "grow: 'while': loop variable 0 enters as f32[2] but the body yields f32[4] (its "
            "shape must not change)");
  // Branches of different sizes.
  auto pick = function(
      [](const Tensor& x, const Tensor& flag) {
        return cond(
            flag, [&] { return x; },
            [&] {
              return concat({x, x}, 0);
            });
      },
      {.input_signature = {TensorSpec({None}), TensorSpec({}, bool_)}, .name = "pick"});
  EXPECT_EQ(invalid_argument_of([&] {
              pick(constant({1.f, 2.f}), constant(true));
            }),
            "pick: 'cond': result 0 is f32[2] in one branch and f32[4] in the other for these "
            "argument shapes");
  // A reshape whose target does not fit the call's size.
  auto rows = function(
      [](const Tensor& x) {
        return reshape(x, {4, -1});
      },
      {.input_signature = {TensorSpec({None, 3})}, .name = "rows"});
  EXPECT_EQ(rows(zeros({4, 3})).shape(), Shape({4, 3}));
  EXPECT_EQ(invalid_argument_of([&] {
              rows(zeros({2, 3}));
            }),
            "rows: 'reshape' at run time: reshape: Input to reshape is a tensor with 6 values, "
            "but the requested shape requires a multiple of 4");
  // A broadcast to an unknown dim whose size nothing determines.
  const Tensor b = constant({1.f, 2.f, 3.f});
  auto spread = function([&](const Tensor& x) { return reduce_sum(broadcast_to(b, x.shape())); },
                         {.input_signature = {TensorSpec({None, 3})}, .name = "spread"});
  EXPECT_EQ(invalid_argument_of([&] {
              spread(zeros({2, 3}));
            }),
            "spread: 'broadcast' gives a value of type f32[?,3] whose dim 0 cannot be determined "
            "from the argument shapes at run time ([None, 3]); only an elementwise op can give "
            "such a broadcast its size");
  // Broadcasting along a dim that was unknown when traced.
  auto add =
      function([](const Tensor& x, const Tensor& y) { return x + y; },
               {.input_signature = {TensorSpec({None, 3}), TensorSpec({None, 3})}, .name = "add"});
  EXPECT_EQ(invalid_argument_of([&] {
              add(zeros({2, 3}), zeros({1, 3}));
            }),
            "add: 'add': an operand of type f32[?,3] is [1, 3] at run time and would broadcast "
            "to [2, 3] along dim 0, which was unknown when traced (not supported: give that dim "
            "a known size of 1)");
}

TEST(ShapePolyTest, ReduceRetracingGeneralizesTheDimsThatChange) {
  auto fn = [](const Tensor& x) { return reduce_sum(x * x, std::vector<int64_t>{1}); };
  auto f = function(fn, {.reduce_retracing = true, .name = "sq"});
  for (int64_t n : {32, 16, 8, 100}) {
    Tensor x = random_tensor(Shape{n, 5}, 14);
    expect_close(fn(x), f(x), 1e-5f);
  }
  EXPECT_EQ(f.trace_count(), 2);
  const std::vector<TraceRecord> log = f.trace_log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].reason, "first trace");
  EXPECT_EQ(log[1].reason, "arg 0: shape [32, 5] -> [16, 5]; generalized to [None, 5]");
  EXPECT_EQ(log[1].signature, "(f32[?,5])");
  // The size that was traced first keeps its own specialization; a new rank traces again.
  f(random_tensor(Shape{32, 5}, 15));
  EXPECT_EQ(f.trace_count(), 2);
  f(random_tensor(Shape{4, 5, 2}, 16));
  EXPECT_EQ(f.trace_count(), 3);
}

TEST(ShapePolyTest, ReduceRetracingUnderRetracePolicyError) {
  auto f = function([](const Tensor& x) { return x + 1.f; },
                    {.reduce_retracing = true, .name = "g", .on_retrace = RetracePolicy::kError});
  f(zeros({8, 2}));
  const std::string message = [&] {
    try {
      f(zeros({9, 2}));
    } catch (const FailedPreconditionError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  }();
  EXPECT_EQ(message,
            "g: unexpected retrace for (f32[?,2]) (arg 0: shape [8, 2] -> [None, 2]); this "
            "function's RetracePolicy is kError");
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f.cache_stats().entries, 1);
  // With an input_signature nothing retraces, whatever the sizes.
  auto h =
      function([](const Tensor& x) { return x + 1.f; },
               {.input_signature = {TensorSpec({None, 2})}, .on_retrace = RetracePolicy::kError});
  for (int64_t n : kSizes) h(zeros({n, 2}));
  EXPECT_EQ(h.trace_count(), 1);
}

TEST(ShapePolyTest, GetConcreteFunctionWithNoneIsThePolymorphicOne) {
  auto f = function([](const Tensor& x) { return x * 3.f; },
                    {.input_signature = {TensorSpec({None, 5})}});
  ConcreteFunction c = f.get_concrete_function(TensorSpec({None, 5}));
  EXPECT_EQ(f.trace_count(), 1);
  const Tensor x = random_tensor(Shape{6, 5}, 17);
  const std::vector<Tensor> out = c(std::vector<Tensor>{x});
  expect_close(x * 3.f, out[0]);
  f(x);
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f.cache_stats().hits, 1);
}

// A summed loss: its gradient is broadcast over the unknown batch, then feeds a matmul.
TEST(ShapePolyTest, GradientOfASumOverTheUnknownBatch) {
  const Tensor w0 = random_tensor(Shape{4, 2}, 50);
  Variable w(w0);
  auto step = [&](const Tensor& x) {
    GradientTape tape;
    Tensor loss = reduce_sum(tanh(matmul(x, w)));
    auto grads = tape.gradient(loss, {w});
    return std::vector<Tensor>{loss, *grads[0]};
  };
  auto f = function(step, {.input_signature = {TensorSpec({None, 4})}, .name = "sum_step"});
  for (int64_t n : kSizes) {
    Tensor x = random_tensor(Shape{n, 4}, 51);
    std::vector<Tensor> want = step(x), got = f(x);
    expect_close(want[0], got[0], 1e-4f);
    expect_close(want[1], got[1], 1e-4f);
  }
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(ShapePolyTest, DiskCacheKeepsPolymorphicCode) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("kiln_shape_poly_test." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto fn = [](const Tensor& x) { return reduce_sum(exp(x), std::vector<int64_t>{0}) * 2.f; };
  const FunctionOptions options{
      .input_signature = {TensorSpec({None, 3})}, .name = "cached", .cache_dir = dir.string()};
  auto first = function(fn, options);
  auto second = function(fn, options);  // another cache in memory: links the stored object
  for (int64_t n : kSizes) {
    Tensor x = random_tensor(Shape{n, 3}, 40);
    expect_close(fn(x), first(x), 1e-5f);
    expect_close(fn(x), second(x), 1e-5f);
  }
  EXPECT_EQ(first.cache_stats().disk_writes, 1);
  EXPECT_EQ(second.cache_stats().disk_hits, 1);
  EXPECT_EQ(second.trace_count(), 1);
  std::filesystem::remove_all(dir);
}

// The training step of the README: forward, tape, optimizer update of Variables.
TEST(ShapePolyTest, TrainingStepMatchesEager) {
  const Tensor w0 = random_tensor(Shape{5, 1}, 20), b0 = random_tensor(Shape{1}, 21);
  Variable w(w0), b(b0);
  auto step = compiler::testing::readme_train_step(w, b);
  auto train_step = function(
      step,
      {.input_signature = {TensorSpec({None, 5}), TensorSpec({None, 1})}, .name = "train_step"});
  for (int64_t n : {3, 32, 257}) {
    Tensor x = random_tensor(Shape{n, 5}, 22), y = random_tensor(Shape{n, 1}, 23);
    w.assign(w0);
    b.assign(b0);
    const Tensor eager_loss = step(x, y);
    const Tensor eager_w = w.value(), eager_b = b.value();
    w.assign(w0);
    b.assign(b0);
    expect_close(eager_loss, train_step(x, y), 1e-5f);
    expect_close(eager_w, w.value(), 1e-5f);
    expect_close(eager_b, b.value(), 1e-5f);
  }
  EXPECT_EQ(train_step.trace_count(), 1);
}

}  // namespace
}  // namespace kiln
