// kiln — buffer-plan under unknown dims: slots sized per binding, memory_stats() of polymorphic
// functions, results bit for bit those of unplanned code.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/function.h"
#include "ir/parser.h"
#include "passes/pass_manager.h"
#include "runtime/array_ops.h"
#include "runtime/control_flow.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using compiler::testing::expect_close;

Tensor random_tensor(Shape shape, unsigned seed) {
  return compiler::testing::random_normal_tensor(std::move(shape), seed, 1.5f);
}

int64_t count(const std::string& text, const std::string& what) {
  int64_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// Ten elementwise ops whose compiled loops round exactly as the eager kernels do (no
// transcendental functions), so compiled and eager results agree bit for bit. Unfused, nine
// results are intermediates.
Tensor exact_chain(const Tensor& x) {
  Tensor y = x * 0.5f;
  y = y - 1.f;
  y = abs(y);
  y = y + 2.f;
  y = y * x;
  y = neg(y);
  y = maximum(y, constant(-3.f));
  y = y - 0.25f;
  y = y * 3.f;
  return y + x;
}

TEST(BufferPlanPolyTest, ChainUnderUnknownBatchNeedsOneValuesBytes) {
  const FunctionOptions base{.input_signature = {TensorSpec({None, 256})}, .name = "chain"};
  FunctionOptions planned = base, unplanned = base;
  planned.pipeline = "autodiff,dce,buffer-plan";
  unplanned.pipeline = "autodiff,dce";
  auto f = function(exact_chain, planned);
  auto g = function(exact_chain, unplanned);
  auto cf = f.get_concrete_function(TensorSpec({None, 256}));
  // Nine intermediates, each written over the one before: one slot.
  EXPECT_EQ(count(cf.ir(), "buffer = [0]"), 9) << cf.ir();
  // Before any call: only the fixed-size part (nothing here).
  EXPECT_EQ(cf.memory_stats().workspace_bytes, 0);
  EXPECT_EQ(cf.memory_stats().argument_bytes, 0);
  for (int64_t n : {1, 3, 64, 1000}) {
    const Tensor x = random_tensor(Shape{n, 256}, 5);
    const std::vector<float> want = exact_chain(x).to_vector<float>();
    const std::vector<float> got = f(x).to_vector<float>();
    EXPECT_EQ(got, g(x).to_vector<float>()) << n;
    EXPECT_EQ(got, want) << n;
    const int64_t bytes = n * 256 * 4;
    // memory_stats() reports the latest call's shapes ...
    const MemoryStats latest = cf.memory_stats();
    EXPECT_EQ(latest.workspace_bytes, bytes) << n;
    EXPECT_EQ(latest.workspace_bytes_without_reuse, 9 * bytes) << n;
    EXPECT_EQ(latest.argument_bytes, bytes);
    EXPECT_EQ(latest.result_bytes, bytes);
    EXPECT_EQ(latest.peak_bytes, 2 * bytes);
    // ... and memory_stats(shapes) any shapes.
    const MemoryStats m = cf.memory_stats({Shape{n, 256}});
    EXPECT_EQ(m.workspace_bytes, bytes);
    EXPECT_EQ(m.workspace_bytes_without_reuse, 9 * bytes);
    const MemoryStats u = g.get_concrete_function(TensorSpec({None, 256})).memory_stats();
    EXPECT_EQ(u.workspace_bytes, 9 * bytes) << n;
    EXPECT_EQ(u.workspace_bytes_without_reuse, 9 * bytes) << n;
  }
  EXPECT_EQ(cf.memory_stats({Shape{5, 256}}).workspace_bytes, 5 * 1024);
  EXPECT_EQ(cf.memory_stats().workspace_bytes, 5 * 1024);  // the latest binding
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(BufferPlanPolyTest, MemoryStatsOfStaticFunctionTakesItsShapes) {
  auto f = function(exact_chain, {.name = "chain", .pipeline = "autodiff,dce,buffer-plan"});
  auto cf = f.get_concrete_function(TensorSpec({4, 256}));
  const MemoryStats m = cf.memory_stats({Shape{4, 256}});
  EXPECT_EQ(m.workspace_bytes, cf.memory_stats().workspace_bytes);
  EXPECT_EQ(m.workspace_bytes, 4 * 1024);
  EXPECT_EQ(m.peak_bytes, cf.memory_stats().peak_bytes);
  EXPECT_EQ(invalid_argument_of([&] {
              cf.memory_stats({Shape{5, 256}});
            }),
            "chain: argument #0 of shape [5, 256] does not fit this function, which was compiled "
            "for f32[4,256]");
}

TEST(BufferPlanPolyTest, MemoryStatsOfShapesThatDoNotFitIsAnError) {
  auto f = function(exact_chain, {.input_signature = {TensorSpec({None, 256})}, .name = "chain"});
  auto cf = f.get_concrete_function(TensorSpec({None, 256}));
  EXPECT_EQ(invalid_argument_of([&] { cf.memory_stats({}); }),
            "chain: expected 1 argument shape(s) but got 0");
  EXPECT_EQ(invalid_argument_of([&] {
              cf.memory_stats({Shape{3, 255}});
            }),
            "chain: argument #0 of shape [3, 255] does not fit this function, which was compiled "
            "for f32[?,256]");
  EXPECT_EQ(
      invalid_argument_of([&] {
        cf.memory_stats({Shape{None, 256}});
      }),
      "chain: argument #0 of shape [None, 256] does not fit this function, which was compiled "
      "for f32[?,256]");
  // The failed queries left the stats as they were.
  EXPECT_EQ(cf.memory_stats().workspace_bytes, 0);
}

// A parsed function, planned by the buffer-plan pass or not, compiled.
std::unique_ptr<compiler::Executable> compile_text(const std::string& text, bool plan) {
  auto module = ir::parse_module(text);
  EXPECT_TRUE(module.ok()) << module.status();
  if (!module.ok()) return nullptr;
  if (plan) {
    passes::PassManager pm;
    EXPECT_TRUE(pm.add_pipeline("buffer-plan").ok());
    auto ran = pm.run(**module);
    EXPECT_TRUE(ran.ok()) << ran.status();
  }
  auto exe = compiler::compile(*(*module)->functions().front());
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? *std::move(exe) : nullptr;
}

// Runs a polymorphic executable on float32 arguments; returns the results' data.
std::vector<std::vector<float>> run_bound(const compiler::Executable& exe,
                                          const std::vector<Tensor>& args) {
  std::vector<Shape> shapes;
  std::vector<const void*> arg_ptrs;
  for (const Tensor& a : args) {
    shapes.push_back(a.shape());
    arg_ptrs.push_back(a.raw_data());
  }
  auto binding = exe.bind(shapes);
  EXPECT_TRUE(binding.ok()) << binding.status();
  if (!binding.ok()) return {};
  std::vector<std::vector<float>> results;
  std::vector<void*> res_ptrs;
  for (const Shape& s : (*binding)->result_shapes) {
    results.emplace_back(static_cast<size_t>(std::max<int64_t>(s.num_elements(), 1)));
  }
  for (auto& r : results) res_ptrs.push_back(r.data());
  const absl::Status s = exe.run_bound(arg_ptrs, res_ptrs, **binding);
  EXPECT_TRUE(s.ok()) << s;
  return results;
}

// Slot 3 holds a fixed-size value (tanh %w, 64 KiB) and later one of unknown size (f32[?]):
// the slot is as large as the larger for each binding. Reshapes and elementwise ops of
// unknown dims write in place.
constexpr char kMixed[] =
    R"(func @mixed(%x: f32[?,256], %w: f32[256,64]) -> (f32[?,256], f32[?], f32[256]) {
  %0 = exp %x : f32[?,256]
  %1 = neg %0 : f32[?,256]
  %2 = tanh %1 : f32[?,256]
  %s = reduce_sum %2 {axes = [1], keepdims = false} : f32[?]
  %r = reshape %2 {shape = [-1, 16, 16]} : f32[?,16,16]
  %q = neg %r : f32[?,16,16]
  %b = reshape %q {shape = [-1, 256]} : f32[?,256]
  %m = matmul %b, %w : f32[?,64]
  %t = tanh %w : f32[256,64]
  %u = reduce_sum %t {axes = [1], keepdims = false} : f32[256]
  %v = mul %u, %u : f32[256]
  %n = reduce_sum %m {axes = [1], keepdims = false} : f32[?]
  %z = add %n, %s : f32[?]
  %o = add %b, %x : f32[?,256]
  %y = neg %v : f32[256]
  return %o, %z, %y : f32[?,256], f32[?], f32[256]
})";

int64_t aligned(int64_t bytes) { return (bytes + 63) / 64 * 64; }

TEST(BufferPlanPolyTest, SlotOfFixedAndUnknownMembersIsSizedPerBinding) {
  auto planned = compile_text(kMixed, true);
  auto unplanned = compile_text(kMixed, false);
  ASSERT_TRUE(planned && unplanned);
  const Tensor w = random_tensor(Shape{256, 64}, 11);
  // 20000 rows: the f32[?] member of slot 3 (80000 bytes) outgrows its 64 KiB member.
  for (int64_t n : {1, 9, 300, 20000}) {
    const Tensor x = random_tensor(Shape{n, 256}, 12);
    EXPECT_EQ(run_bound(*planned, {x, w}), run_bound(*unplanned, {x, w})) << n;
    auto m = planned->memory_stats(std::vector<Shape>{Shape{n, 256}, Shape{256, 64}});
    ASSERT_TRUE(m.ok()) << m.status();
    // Slots: the chain and reshapes (n*1 KiB), reduce_sum (n*4), the matmul (n*256), tanh %w
    // then the last reduce_sum (the larger of 64 KiB and n*4), two f32[256].
    const int64_t want =
        n * 1024 + aligned(n * 4) + n * 256 + std::max<int64_t>(65536, aligned(n * 4)) + 2 * 1024;
    EXPECT_EQ(m->workspace_bytes, want) << n;
    auto u = unplanned->memory_stats(std::vector<Shape>{Shape{n, 256}, Shape{256, 64}});
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(m->workspace_bytes_without_reuse, u->workspace_bytes) << n;
    EXPECT_EQ(u->workspace_bytes_without_reuse, u->workspace_bytes) << n;
    EXPECT_EQ(planned->memory_stats().workspace_bytes, want);  // the latest binding's
  }
  // A query with shapes that do not fit is bind()'s error.
  auto bad = planned->memory_stats(std::vector<Shape>{Shape{3, 256}});
  EXPECT_EQ(bad.status().message(), "@mixed takes 2 argument(s) but got 1 shape(s)");
}

// A while loop and a cond over a batch of unknown size: the loop's values share slots, a value
// used inside the loop keeps its own; results equal those without a plan, bit for bit.
Tensor loop_and_branch(const Tensor& x, const Tensor& mat) {
  Tensor k = exp(x * 0.1f);
  Tensor r = while_loop([](const Tensor& v) { return reduce_sum(v) < 1000.f; },
                        [&](const Tensor& v) { return abs(matmul(v, mat)) * 0.5f + k; }, x);
  Tensor c = cond(
      reduce_max(r) > 50.f, [&] { return sqrt(r) + k; }, [&] { return r * k; });
  return c - k;
}

TEST(BufferPlanPolyTest, LoopsAndBranchesUnderUnknownDims) {
  const Tensor mat = random_tensor(Shape{8, 8}, 30);
  auto fn = [&](const Tensor& x) { return loop_and_branch(x, mat); };
  const FunctionOptions base{.input_signature = {TensorSpec({None, 8})}, .name = "lb"};
  FunctionOptions unfused = base, unplanned = base;
  unfused.pipeline = "autodiff,dce,buffer-plan";  // more intermediates to plan
  unplanned.pipeline = "autodiff,dce";
  auto f = function(fn, base);
  auto h = function(fn, unfused);
  auto g = function(fn, unplanned);
  auto cf = h.get_concrete_function(TensorSpec({None, 8}));
  EXPECT_NE(cf.ir().find("buffer = ["), std::string::npos) << cf.ir();
  for (int64_t n : {1, 5, 200}) {
    const Tensor x = random_tensor(Shape{n, 8}, 31);
    const std::vector<float> want = g(x).to_vector<float>();
    EXPECT_EQ(h(x).to_vector<float>(), want) << n;
    expect_close(fn(x), f(x), 1e-5f);
    expect_close(fn(x), h(x), 1e-5f);
    const MemoryStats m = cf.memory_stats({Shape{n, 8}});
    EXPECT_LT(m.workspace_bytes, m.workspace_bytes_without_reuse) << n << "\n" << cf.ir();
  }
}

// The training step of the README with a None batch dim.
TEST(BufferPlanPolyTest, TrainingStepWithNoneBatch) {
  const Tensor w0 = random_tensor(Shape{5, 1}, 20), b0 = random_tensor(Shape{1}, 21);
  Variable w(w0), b(b0);
  auto step = compiler::testing::readme_train_step(w, b);
  const FunctionOptions base{.input_signature = {TensorSpec({None, 5}), TensorSpec({None, 1})},
                             .name = "train_step"};
  FunctionOptions unplanned = base;
  unplanned.pipeline = "autodiff,const-fold,simplify,cse,fuse,dce";
  auto planned_step = function(step, base);
  auto unplanned_step = function(step, unplanned);
  for (int64_t n : {3, 32, 257}) {
    const Tensor x = random_tensor(Shape{n, 5}, 22), y = random_tensor(Shape{n, 1}, 23);
    w.assign(w0);
    b.assign(b0);
    const Tensor eager_loss = step(x, y);
    const Tensor eager_w = w.value(), eager_b = b.value();
    w.assign(w0);
    b.assign(b0);
    const Tensor loss = planned_step(x, y);
    const Tensor planned_w = w.value(), planned_b = b.value();
    w.assign(w0);
    b.assign(b0);
    EXPECT_EQ(loss.to_vector<float>(), unplanned_step(x, y).to_vector<float>()) << n;
    EXPECT_EQ(planned_w.to_vector<float>(), w.value().to_vector<float>()) << n;
    EXPECT_EQ(planned_b.to_vector<float>(), b.value().to_vector<float>()) << n;
    expect_close(eager_loss, loss, 1e-5f);
    expect_close(eager_w, planned_w, 1e-5f);
    expect_close(eager_b, planned_b, 1e-5f);
    auto cf = planned_step.get_concrete_function(TensorSpec({None, 5}), TensorSpec({None, 1}));
    const MemoryStats m = cf.memory_stats({Shape{n, 5}, Shape{n, 1}});
    EXPECT_LE(m.workspace_bytes, m.workspace_bytes_without_reuse);
    // The arguments include the captured Variables w and b.
    EXPECT_EQ(m.argument_bytes, (n * 5 + n + 5 + 1) * 4);
  }
  EXPECT_EQ(planned_step.trace_count(), 1);
}

// A fusion whose result's size comes from a later op: its operand of the same type must have
// that size too (the fusion would write its result over it, or read past its end).
TEST(BufferPlanPolyTest, LateSizedFusionChecksItsOperands) {
  auto exe = compile_text(R"(func @late(%x: f32[?,3], %b: f32[3], %y: f32[?,3]) -> f32[?,3] {
  %e = exp %x : f32[?,3]
  %f = fusion (%e, %b) {kind = "loop"} : (f32[?,3], f32[3]) -> f32[?,3] {
  ^bb0(%a0: f32[?,3], %a1: f32[3]):
    %c = broadcast %a1 {shape = [-1, 3]} : f32[?,3]
    yield %c : f32[?,3]
  }
  %r = add %f, %y : f32[?,3]
  return %r : f32[?,3]
})",
                          true);
  ASSERT_TRUE(exe);
  const std::vector<Shape> same = {Shape{4, 3}, Shape{3}, Shape{4, 3}};
  EXPECT_TRUE(exe->bind(same).ok());
  const std::vector<Shape> other = {Shape{2, 3}, Shape{3}, Shape{5, 3}};
  auto bound = exe->bind(other);
  ASSERT_FALSE(bound.ok());
  EXPECT_EQ(bound.status().message(),
            "'fusion': an operand of type f32[?,3] is [2, 3] at run time and would broadcast to "
            "[5, 3] along dim 0, which was unknown when traced (not supported: give that dim a "
            "known size of 1)");
}

TEST(BufferPlanPolyTest, StalePlanUnderUnknownDimsIsAnError) {
  auto module = ir::parse_module(R"(func @stale(%x: f32[?]) -> f32[?] {
  %0 = exp %x {buffer = [0]} : f32[?]
  %1 = neg %x {buffer = [0]} : f32[?]
  %2 = add %0, %1 : f32[?]
  return %2 : f32[?]
})");
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = compiler::compile(*(*module)->functions().front());
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().message(),
            "buffer plan is out of date: result #0 of 'exp' and result #0 of 'neg' share slot 0 "
            "but are live at the same time; run buffer-plan after every pass that moves ops");
}

}  // namespace
}  // namespace kiln
