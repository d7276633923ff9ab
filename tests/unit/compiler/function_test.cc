// kiln — kiln::function end to end: tracing, caching per signature, and the differential check
// that compiled results equal eager ones.
#include "compiler/function.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "passes/pass_manager.h"
#include "runtime/ops.h"
#include "support/error.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

Tensor huber_loss_fxn(const Tensor& y_true, const Tensor& y_pred) {
  auto error = y_true - y_pred;
  auto is_small_error = abs(error) < 1;
  return where(is_small_error, square(error) / 2, abs(error) - 0.5);
}

Tensor random_tensor(Shape shape, unsigned seed, float scale = 1.5f) {
  return compiler::testing::random_normal_tensor(std::move(shape), seed, scale);
}

using compiler::testing::expect_close;

TEST(FunctionTest, HuberCompiledMatchesEager) {
  auto huber = function(huber_loss_fxn, {.name = "huber"});
  for (int64_t n : {1, 7, 1000, 100003}) {
    Tensor y = random_tensor(Shape{n, 1}, 1), p = random_tensor(Shape{n, 1}, 2);
    expect_close(huber_loss_fxn(y, p), huber(y, p));
  }
}

TEST(FunctionTest, DefaultOptionsRunTheDefaultPipeline) {
  EXPECT_EQ(FunctionOptions{}.pipeline, passes::kDefaultPipeline);
}

TEST(FunctionTest, SameSignatureDoesNotRetrace) {
  auto huber = function(huber_loss_fxn);
  Tensor y = random_tensor(Shape{32, 1}, 1), p = random_tensor(Shape{32, 1}, 2);
  huber(y, p);
  huber(p, y);
  EXPECT_EQ(huber.trace_count(), 1);
  huber(random_tensor(Shape{16, 1}, 3), random_tensor(Shape{16, 1}, 4));
  EXPECT_EQ(huber.trace_count(), 2);
  huber(y, p);
  EXPECT_EQ(huber.trace_count(), 2);
}

TEST(FunctionTest, OptimizedIrIsOneFusion) {
  auto huber = function(huber_loss_fxn, {.name = "huber"});
  auto concrete = huber.get_concrete_function(TensorSpec({32, 1}), TensorSpec({32, 1}));
  const std::string ir = concrete.ir();
  EXPECT_NE(ir.find("func @huber("), std::string::npos) << ir;
  EXPECT_NE(ir.find("fusion"), std::string::npos) << ir;
  EXPECT_EQ(ir.find("\n  %1 = "), std::string::npos) << "only the fusion at top level:\n" << ir;
  EXPECT_EQ(huber.trace_count(), 1);
}

TEST(FunctionTest, BroadcastingAndReductionsMatchEager) {
  auto f = function([](const Tensor& x, const Tensor& b) {
    Tensor h = exp(x * 0.1) + b;  // [8,5] + [5]
    return reduce_mean(square(h), std::vector<int64_t>{1});
  });
  Tensor x = random_tensor(Shape{8, 5}, 5), b = random_tensor(Shape{5}, 6);
  Tensor eager = reduce_mean(square(exp(x * 0.1) + b), std::vector<int64_t>{1});
  expect_close(eager, f(x, b), 1e-6f);
}

TEST(FunctionTest, MatmulAndLogMatchEager) {
  auto f = function([](const Tensor& a, const Tensor& w) { return log(abs(matmul(a, w)) + 1); });
  Tensor a = random_tensor(Shape{6, 4}, 7), w = random_tensor(Shape{4, 3}, 8);
  expect_close(log(abs(matmul(a, w)) + 1), f(a, w), 1e-6f);
}

TEST(FunctionTest, SeveralResults) {
  auto f = function([](const Tensor& x) { return std::vector<Tensor>{x + 1, x * 2, x}; });
  Tensor x = constant({1.f, 2.f});
  std::vector<Tensor> r = f(x);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].to_vector<float>(), (std::vector<float>{2, 3}));
  EXPECT_EQ(r[1].to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(r[2].to_vector<float>(), (std::vector<float>{1, 2}));
}

TEST(FunctionTest, CapturedTensorIsAConstant) {
  Tensor w = constant({1.f, 2.f, 3.f});
  auto f = function([&w](const Tensor& x) { return x * w; });
  EXPECT_EQ(f(constant({2.f, 2.f, 2.f})).to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(FunctionTest, TracingErrorLeavesCacheUnchanged) {
  auto f = function([](const Tensor& a, const Tensor& b) { return a + b; }, {.name = "adder"});
  EXPECT_THROW(f(constant({1.f, 2.f}), constant({1.f, 2.f, 3.f})), InvalidArgumentError);
  EXPECT_EQ(f.trace_count(), 0);
  EXPECT_EQ(f(constant({1.f}), constant({2.f})).item<float>(), 3.f);
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(FunctionTest, IntegerAndBoolResults) {
  auto f = function([](const Tensor& a, const Tensor& b) {
    return std::vector<Tensor>{a * b, a < b};
  });
  Tensor a = constant({1, 5, 3}), b = constant({4, 2, 3});
  std::vector<Tensor> r = f(a, b);
  EXPECT_EQ(r[0].to_vector<int32_t>(), (std::vector<int32_t>{4, 10, 9}));
  EXPECT_EQ(r[1].to_vector<bool>(), (std::vector<bool>{true, false, false}));
}

TEST(FunctionTest, RunFunctionsEagerlySkipsTracing) {
  auto f = function([](const Tensor& x) { return x + 1; });
  config::run_functions_eagerly(true);
  EXPECT_EQ(f(constant(1.f)).item<float>(), 2.f);
  config::run_functions_eagerly(false);
  EXPECT_EQ(f.trace_count(), 0);
}

TEST(FunctionTest, PythonFunctionIsTheOriginal) {
  auto f = function([](const Tensor& x) { return x * 3; });
  EXPECT_EQ(f.python_function()(constant(2.f)).item<float>(), 6.f);
  EXPECT_EQ(f.trace_count(), 0);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(FunctionTest, TraceLogSaysWhyEachTraceHappened) {
  auto f = function([](const Tensor& x, const Tensor& y) { return x * y; }, {.name = "mul"});
  f(constant(std::vector<float>(10, 1.f), Shape{2, 5}), constant(1.f));
  f(constant(std::vector<float>(10, 1.f), Shape{2, 5}), constant(2.f));
  f(constant(std::vector<float>(15, 1.f), Shape{3, 5}), constant(1.f));
  f(constant(std::vector<int32_t>(15, 1), Shape{3, 5}), constant(1));
  std::vector<TraceRecord> log = f.trace_log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].reason, "first trace");
  EXPECT_EQ(log[0].signature, "(f32[2,5], f32[])");
  EXPECT_EQ(log[1].reason, "arg 0: shape [2, 5] -> [3, 5]");
  EXPECT_EQ(log[2].reason, "arg 0: dtype float32 -> int32");
  CacheStats stats = f.cache_stats();
  EXPECT_EQ(stats.calls, 4);
  EXPECT_EQ(stats.hits, 1);
  EXPECT_EQ(stats.traces, 3);
  EXPECT_GT(stats.compile_seconds, 0);
}

TEST(FunctionTest, RetraceErrorPolicy) {
  auto f = function([](const Tensor& x) { return x * 2; },
                    {.name = "strict", .on_retrace = RetracePolicy::kError});
  f(constant({1.f, 2.f}));
  f(constant({3.f, 4.f}));  // same signature: fine
  EXPECT_EQ(error_of([&] {
              f(constant({1.f, 2.f, 3.f}));
            }),
            "strict: unexpected retrace for (f32[3]) (arg 0: shape [2] -> [3]); this function's "
            "RetracePolicy is kError");
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f.cache_stats().entries, 1);
}

TEST(FunctionTest, ErrorsWhileTracingNameTheFunctionAndSignature) {
  auto step = function([](const Tensor& x, const Tensor& y) { return matmul(x, y) - y; },
                       {.name = "train_step"});
  const Tensor x = constant(std::vector<float>(32 * 5, 1.f), Shape{32, 5});
  const Tensor y = constant(std::vector<float>(32, 1.f), Shape{32, 1});
  const std::string eager = invalid_argument_of([&] { matmul(x, y); });
  ASSERT_EQ(eager.rfind("matmul", 0), 0u) << eager;
  // The same exception type, with the op's own message after the context.
  EXPECT_EQ(invalid_argument_of([&] { step(x, y); }),
            "in kiln::function 'train_step' traced with (f32[32,5], f32[32,1]): " + eager);
  EXPECT_EQ(step.trace_count(), 0);
  EXPECT_EQ(step.cache_stats().entries, 0);
  EXPECT_TRUE(step.trace_log().empty());
  // Nested arguments and static values show in the signature.
  auto nested = function(
      [](const std::vector<Tensor>& xs, int n) {
        if (n > 1) throw FailedPreconditionError("n must be at most 1");
        return xs[0];
      },
      {.name = "nested"});
  EXPECT_EQ(error_of([&] { nested(std::vector<Tensor>{x}, 2); }),
            "in kiln::function 'nested' traced with ([f32[32,5]], 2): n must be at most 1");
  try {
    nested(std::vector<Tensor>{x}, 2);
    FAIL() << "no error";
  } catch (const FailedPreconditionError&) {
  }
  EXPECT_EQ(nested.cache_stats().entries, 0);
  EXPECT_EQ(nested(std::vector<Tensor>{x}, 1).shape(), (Shape{32, 5}));
  EXPECT_EQ(nested.trace_count(), 1);
}

TEST(FunctionTest, AnEvictedRecentEntryIsNotServedAgain) {
  auto f = function([](const Tensor& x) { return x * 2; },
                    {.name = "one_entry", .max_cache_entries = 1});
  const Tensor a = constant({1.f, 2.f}), b = constant({1.f, 2.f, 3.f});
  f(a);
  f(a);  // a hit: the latest entry
  EXPECT_EQ(f(b).to_vector<float>(), (std::vector<float>{2.f, 4.f, 6.f}));  // evicts a's entry
  EXPECT_EQ(f(a).to_vector<float>(), (std::vector<float>{2.f, 4.f}));
  EXPECT_EQ(f.trace_count(), 3);
  const CacheStats st = f.cache_stats();
  EXPECT_EQ(st.entries, 1);
  EXPECT_EQ(st.evictions, 2);
  EXPECT_EQ(st.hits, 1);
  EXPECT_EQ(st.calls, 4);
}

TEST(FunctionTest, ManyRetracesWarn) {
  auto f =
      function([](const Tensor& x) { return x * 2; }, {.name = "shapes", .warn_after_traces = 3});
  ::testing::internal::CaptureStderr();
  f(constant({1.f}));
  f(constant({1.f, 2.f}));
  const std::string quiet = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(quiet, "");
  ::testing::internal::CaptureStderr();
  f(constant({1.f, 2.f, 3.f}));
  const std::string warned = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warned.find("kiln: warning: 3 traces of shapes so far; the latest (f32[3]) because "
                        "arg 0: shape [2] -> [3]."),
            std::string::npos)
      << warned;
}

TEST(FunctionTest, KilnDumpWritesNumberedFiles) {
  const std::string dir = ::testing::TempDir() + "/kiln_dump_test";
  std::filesystem::remove_all(dir);
  setenv("KILN_DUMP", dir.c_str(), 1);
  auto f = function([](const Tensor& x) { return exp(x) * 2; }, {.name = "dumped"});
  f(constant({1.f, 2.f}));
  unsetenv("KILN_DUMP");
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  ASSERT_EQ(names.size(), 11u);
  EXPECT_TRUE(names[0].ends_with(".0000.traced.kir")) << names[0];
  EXPECT_TRUE(names[1].ends_with(".0001.after_autodiff.kir")) << names[1];
  EXPECT_TRUE(names[2].ends_with(".0002.after_const-fold.kir")) << names[2];
  EXPECT_TRUE(names[3].ends_with(".0003.after_simplify.kir")) << names[3];
  EXPECT_TRUE(names[4].ends_with(".0004.after_cse.kir")) << names[4];
  EXPECT_TRUE(names[5].ends_with(".0005.after_fuse.kir")) << names[5];
  EXPECT_TRUE(names[6].ends_with(".0006.after_dce.kir")) << names[6];
  EXPECT_TRUE(names[7].ends_with(".0007.after_buffer-plan.kir")) << names[7];
  EXPECT_TRUE(names[8].ends_with(".llvm.ll")) << names[8];
  EXPECT_TRUE(names[9].ends_with(".s")) << names[9];
  EXPECT_TRUE(names[10].ends_with(".timings.txt")) << names[10];
  // One line per phase: "<phase> <milliseconds>", the passes in pipeline order.
  std::ifstream in(dir + "/" + names[10]);
  std::vector<std::string> phases;
  double sum = 0, total = -1;
  for (std::string phase; in >> phase;) {
    double ms = -1;
    ASSERT_TRUE(in >> ms) << phase;
    EXPECT_GE(ms, 0) << phase;
    phases.push_back(phase);
    (phase == "total" ? total : sum) += ms;
  }
  EXPECT_EQ(phases,
            (std::vector<std::string>{"trace", "pass:autodiff", "pass:const-fold", "pass:simplify",
                                      "pass:cse", "pass:fuse", "pass:dce", "pass:buffer-plan",
                                      "lower", "llvm-opt", "codegen", "link", "total"}));
  EXPECT_GT(total, 0);
  EXPECT_LE(sum, total * 1.01 + 0.01);  // the phases are parts of the total
  std::filesystem::remove_all(dir);
}

TEST(FunctionTest, CacheStatsSplitTheCompileTimeByPhase) {
  auto f = function([](const Tensor& x) { return reduce_sum(exp(x) * 2.f); },
                    {.name = "timed", .disk_cache = false});
  f(constant({1.f, 2.f}));
  f(constant({1.f, 2.f, 3.f}));
  const CacheStats s = f.cache_stats();
  ASSERT_EQ(s.traces, 2);
  double passes = 0;
  for (const char* name :
       {"autodiff", "const-fold", "simplify", "cse", "fuse", "dce", "buffer-plan"}) {
    ASSERT_EQ(s.pass_seconds_by_name.count(name), 1u) << name;
    EXPECT_GE(s.pass_seconds_by_name.at(name), 0) << name;
    passes += s.pass_seconds_by_name.at(name);
  }
  EXPECT_EQ(s.pass_seconds_by_name.size(), 7u);
  EXPECT_LE(passes, s.pass_seconds * 1.001 + 1e-6);
  for (double phase : {s.lower_seconds, s.llvm_opt_seconds, s.codegen_seconds, s.link_seconds}) {
    EXPECT_GE(phase, 0);
  }
  EXPECT_GT(s.llvm_opt_seconds + s.codegen_seconds, 0);
  EXPECT_LE(s.lower_seconds + s.llvm_opt_seconds + s.codegen_seconds + s.link_seconds,
            s.compile_seconds * 1.001 + 1e-6);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

enum class Mode { kSquare, kExp };

TEST(FunctionTest, NonTensorArgumentsAreKeyedByValue) {
  auto f = function(
      [](const Tensor& x, int n, Mode mode, const std::string& tag) {
        Tensor y = x;
        for (int i = 0; i < n; ++i) y = mode == Mode::kSquare ? square(y) : exp(y);
        return tag == "neg" ? -y : y;
      },
      {.name = "layers"});
  Tensor x = constant({1.f, 2.f});
  EXPECT_EQ(f(x, 2, Mode::kSquare, std::string("id")).to_vector<float>(),
            (std::vector<float>{1, 16}));
  EXPECT_EQ(f(x, 2, Mode::kSquare, std::string("id")).to_vector<float>(),
            (std::vector<float>{1, 16}));
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(f(x, 1, Mode::kSquare, std::string("id")).to_vector<float>(),
            (std::vector<float>{1, 4}));
  EXPECT_EQ(f(x, 1, Mode::kSquare, std::string("neg")).to_vector<float>(),
            (std::vector<float>{-1, -4}));
  EXPECT_EQ(f.trace_count(), 3);
  std::vector<TraceRecord> log = f.trace_log();
  EXPECT_EQ(log[0].signature, "(f32[2], 2, 0, \"id\")");
  EXPECT_EQ(log[1].reason, "arg 1: value 2 -> 1");
  EXPECT_EQ(log[2].reason, "arg 3: value \"id\" -> \"neg\"");
}

TEST(FunctionTest, FloatStaticArgumentsCompareByBits) {
  auto f = function([](const Tensor& x, double scale) { return x * scale; });
  EXPECT_EQ(f(constant(2.f), 0.5).item<float>(), 1.f);
  EXPECT_EQ(f(constant(2.f), 0.25).item<float>(), 0.5f);
  EXPECT_EQ(f(constant(2.f), 0.5).item<float>(), 1.f);
  EXPECT_EQ(f.trace_count(), 2);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(FunctionTest, ThreadsShareOneCompilePerSignature) {
  auto f = function([](const Tensor& x) { return exp(x) * 2 + 1; }, {.name = "threaded"});
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        const int64_t n = (t + i) % 2 ? 8 : 16;
        Tensor x = constant(std::vector<float>(n, 0.f), Shape{n});
        Tensor y = f(x);
        if (y.shape() != Shape{n} || y.to_vector<float>()[0] != 3.f) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(f.trace_count(), 2);
  EXPECT_EQ(f.cache_stats().hits, 78);
}

TEST(FunctionTest, FailedTraceInOneThreadDoesNotPoisonTheCache) {
  std::atomic<bool> fail{true};
  auto f = function([&](const Tensor& x) {
    if (fail) throw InvalidArgumentError("boom");
    return x + 1;
  });
  EXPECT_THROW(f(constant(1.f)), InvalidArgumentError);
  fail = false;
  EXPECT_EQ(f(constant(1.f)).item<float>(), 2.f);
  EXPECT_EQ(f.trace_count(), 1);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

TEST(FunctionTest, CacheIsBoundedLeastRecentlyUsedFirst) {
  auto f = function([](const Tensor& x) { return x + 1; }, {.max_cache_entries = 2});
  auto call = [&](int64_t n) { return f(constant(std::vector<float>(n, 1.f), Shape{n})); };
  call(1);
  call(2);
  call(1);  // 1 is now more recent than 2
  call(3);  // evicts 2
  EXPECT_EQ(f.cache_stats().evictions, 1);
  EXPECT_EQ(f.cache_stats().entries, 2);
  call(1);
  EXPECT_EQ(f.trace_count(), 3);
  call(2);  // was evicted: traces again
  EXPECT_EQ(f.trace_count(), 4);
  EXPECT_EQ(f.cache_stats().evictions, 2);
}

}  // namespace
}  // namespace kiln
