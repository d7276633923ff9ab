// kiln — tracing: ops on symbolic tensors record IR instead of computing.
#include "runtime/trace.h"

#include <gtest/gtest.h>

#include "ir/printer.h"
#include "runtime/ops.h"
#include "support/error.h"

namespace kiln {
namespace {

TEST(TraceTest, RecordsOpsInOrder) {
  ir::Function fn("f");
  {
    TraceContext trace(&fn);
    Tensor x = trace.add_argument(ir::Type{float32, Shape{4}}, "x");
    Tensor y = exp(x) * x;
    EXPECT_TRUE(y.is_symbolic());
    EXPECT_EQ(y.shape(), Shape{4});
    trace.set_results(std::vector<Tensor>{y});
  }
  EXPECT_EQ(ir::print(fn),
            "func @f(%x: f32[4]) -> f32[4] {\n"
            "  %0 = exp %x : f32[4]\n"
            "  %1 = mul %0, %x : f32[4]\n"
            "  return %1 : f32[4]\n"
            "}\n");
}

TEST(TraceTest, InsertsExplicitBroadcasts) {
  ir::Function fn("f");
  {
    TraceContext trace(&fn);
    Tensor a = trace.add_argument(ir::Type{float32, Shape{2, 1}}, "a");
    Tensor b = trace.add_argument(ir::Type{float32, Shape{3}}, "b");
    trace.set_results(std::vector<Tensor>{a + b + 1});
  }
  EXPECT_EQ(ir::print(fn),
            "func @f(%a: f32[2,1], %b: f32[3]) -> f32[2,3] {\n"
            "  %0 = broadcast %a {shape = [2, 3]} : f32[2,3]\n"
            "  %1 = broadcast %b {shape = [2, 3]} : f32[2,3]\n"
            "  %2 = add %0, %1 : f32[2,3]\n"
            "  %3 = const 1.0 : f32[]\n"
            "  %4 = add %2, %3 : f32[2,3]\n"
            "  return %4 : f32[2,3]\n"
            "}\n");
}

TEST(TraceTest, CapturedTensorBecomesOneConstant) {
  Tensor w = constant({1.f, 2.f});
  ir::Function fn("f");
  {
    TraceContext trace(&fn);
    Tensor x = trace.add_argument(ir::Type{float32, Shape{2}}, "x");
    trace.set_results(std::vector<Tensor>{x * w + w});
  }
  EXPECT_EQ(ir::print(fn),
            "func @f(%x: f32[2]) -> f32[2] {\n"
            "  %0 = const [1.0, 2.0] : f32[2]\n"
            "  %1 = mul %x, %0 : f32[2]\n"
            "  %2 = add %1, %0 : f32[2]\n"
            "  return %2 : f32[2]\n"
            "}\n");
}

TEST(TraceTest, SymbolicTensorHasNoContents) {
  ir::Function fn("f");
  TraceContext trace(&fn);
  Tensor x = trace.add_argument(ir::Type{float32, Shape{2}});
  EXPECT_THROW(x.to_vector<float>(), FailedPreconditionError);
}

TEST(TraceTest, ShapeErrorsSurfaceWhileTracing) {
  ir::Function fn("f");
  TraceContext trace(&fn);
  Tensor x = trace.add_argument(ir::Type{float32, Shape{2}});
  Tensor y = trace.add_argument(ir::Type{float32, Shape{3}});
  EXPECT_THROW(x + y, InvalidArgumentError);
}

TEST(TraceTest, NoTraceMeansEager) {
  EXPECT_EQ(TraceContext::current(), nullptr);
  ir::Function fn("f");
  {
    TraceContext trace(&fn);
    EXPECT_EQ(TraceContext::current(), &trace);
  }
  EXPECT_EQ(TraceContext::current(), nullptr);
}

}  // namespace
}  // namespace kiln
