// kiln — the buffer-plan pass in compiled code: workspace sharing, memory_stats(), stale plans.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/function.h"
#include "ir/parser.h"
#include "runtime/array_ops.h"
#include "runtime/control_flow.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"

namespace kiln {
namespace {

constexpr int64_t kN = 1 << 18;  // 1 MiB of float32

// Ten elementwise ops in a chain; unfused, each result is an intermediate value.
Tensor chain(const Tensor& x) {
  Tensor y = exp(x * 0.5f);
  y = tanh(y - 1.f);
  y = abs(y) + 2.f;
  y = log(y) * x;
  y = sigmoid(y) - 0.25f;
  return y;
}

// Compiled math differs from eager kernels by a few ulp (docs/passes.md, the ulp table).
void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5f * (1.f + std::abs(want[i]))) << i;
  }
}

Tensor ramp() {
  std::vector<float> v(kN);
  for (int64_t i = 0; i < kN; ++i) v[i] = static_cast<float>(i % 1000) / 250.f - 2.f;
  return constant(v, Shape{kN});
}

TEST(BufferPlanTest, ChainRunsInPlaceInOneSlot) {
  FunctionOptions planned{.name = "chain", .pipeline = "autodiff,dce,buffer-plan"};
  FunctionOptions unplanned{.name = "chain", .pipeline = "autodiff,dce"};
  auto f = function(chain, planned);
  auto g = function(chain, unplanned);
  const Tensor x = ramp();
  const std::vector<float> want = chain(x).to_vector<float>();
  // Sharing memory changes no bit; both agree with eager to float32 rounding.
  EXPECT_EQ(f(x).to_vector<float>(), g(x).to_vector<float>());
  expect_near(f(x).to_vector<float>(), want);

  const MemoryStats m = f.get_concrete_function(TensorSpec({kN})).memory_stats();
  const int64_t bytes = kN * 4;
  // Nine intermediates (the tenth op writes the result): each op after the first writes over
  // its dying operand, so all nine live in one slot.
  EXPECT_EQ(m.workspace_bytes, bytes);
  EXPECT_EQ(m.workspace_bytes_without_reuse, 9 * bytes);
  EXPECT_EQ(m.argument_bytes, bytes);
  EXPECT_EQ(m.result_bytes, bytes);
  EXPECT_EQ(m.peak_bytes, 2 * bytes);

  const MemoryStats u = g.get_concrete_function(TensorSpec({kN})).memory_stats();
  EXPECT_EQ(u.workspace_bytes, 9 * bytes);
  EXPECT_EQ(u.workspace_bytes_without_reuse, 9 * bytes);
}

TEST(BufferPlanTest, DefaultPipelineFusesThenPlans) {
  auto f = function(chain, {.name = "chain"});
  const Tensor x = ramp();
  expect_near(f(x).to_vector<float>(), chain(x).to_vector<float>());
  auto concrete = f.get_concrete_function(TensorSpec({kN}));
  // One fusion writes the result: nothing is left in the workspace.
  EXPECT_EQ(concrete.memory_stats().workspace_bytes, 0) << concrete.ir();
  EXPECT_EQ(concrete.memory_stats().peak_bytes, kN * 4);
}

// A loop whose body keeps several intermediates, a value live across the loop, and a cond:
// results with the plan equal results without it, bit for bit.
Tensor loop_and_branch(const Tensor& x) {
  Tensor k = exp(x * 0.1f);
  Tensor r = while_loop([](const Tensor& v) { return reduce_sum(v) < 1000.f; },
                        [&](const Tensor& v) {
                          Tensor a = matmul(reshape(v, {4, 4}), reshape(k, {4, 4}));
                          return reshape(abs(a) + 1.f, {16});
                        },
                        x);
  Tensor c = cond(
      reduce_max(r) > 50.f, [&] { return sqrt(r) + k; }, [&] { return r * k; });
  return c - k;
}

TEST(BufferPlanTest, ControlFlowAgreesWithUnplanned) {
  auto f = function(loop_and_branch, {.name = "lb"});
  auto g = function(loop_and_branch, {.name = "lb", .pipeline = "autodiff,fuse,dce"});
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[i] = 0.1f * static_cast<float>(i) - 0.7f;
  const Tensor x = constant(v, Shape{16});
  const std::vector<float> want = loop_and_branch(x).to_vector<float>();
  EXPECT_EQ(f(x).to_vector<float>(), g(x).to_vector<float>());
  expect_near(f(x).to_vector<float>(), want);
  auto cf = f.get_concrete_function(TensorSpec({16}));
  EXPECT_NE(cf.ir().find("buffer = ["), std::string::npos) << cf.ir();
  EXPECT_LT(cf.memory_stats().workspace_bytes, cf.memory_stats().workspace_bytes_without_reuse)
      << cf.ir();
}

TEST(BufferPlanTest, StalePlanIsAnError) {
  // %0 is still needed by the add when %1 is written: they cannot share slot 0.
  auto module = ir::parse_module(R"(func @stale(%x: f32[16]) -> f32[16] {
  %0 = exp %x {buffer = [0]} : f32[16]
  %1 = neg %x {buffer = [0]} : f32[16]
  %2 = add %0, %1 : f32[16]
  return %2 : f32[16]
})");
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = compiler::compile(*(*module)->functions().front());
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(exe.status().message(),
            "buffer plan is out of date: result #0 of 'exp' and result #0 of 'neg' share slot 0 "
            "but are live at the same time; run buffer-plan after every pass that moves ops");
}

TEST(BufferPlanTest, MalformedPlanIsAnError) {
  auto module = ir::parse_module(R"(func @bad(%x: f32[16]) -> f32[16] {
  %0 = exp %x {buffer = 3} : f32[16]
  %1 = neg %0 : f32[16]
  return %1 : f32[16]
})");
  ASSERT_TRUE(module.ok()) << module.status();
  auto exe = compiler::compile(*(*module)->functions().front());
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().message(), "buffer plan: 'exp' has a malformed 'buffer' attribute");
}

}  // namespace
}  // namespace kiln
