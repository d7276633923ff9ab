// kiln — indexing under kiln::function: strided_slice traces, compiles (as a kernel call) and
// gives what eager execution gives.
#include <gtest/gtest.h>

#include "compiler/function.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "support/error.h"

namespace kiln {
namespace {

Tensor t23() { return constant({{1, 2, 3}, {4, 5, 6}}, float32); }

TEST(IndexingCompiledTest, SliceMatchesEager) {
  auto first_col = [](const Tensor& x) { return x[":, :1"]; };
  auto f = function(first_col);
  Tensor t = t23();
  Tensor compiled = f(t);
  Tensor eager = first_col(t);
  EXPECT_EQ(compiled.shape(), eager.shape());
  EXPECT_EQ(compiled.shape(), (Shape{2, 1}));
  EXPECT_EQ(compiled.to_vector<float>(), eager.to_vector<float>());
  EXPECT_NE(f.get_concrete_function(TensorSpec(Shape{2, 3}, float32)).ir().find("strided_slice"),
            std::string::npos);
}

TEST(IndexingCompiledTest, SlicesInsideArithmetic) {
  auto g = [](const Tensor& x) {
    return square(x["::-1, 1:"]) + x.index({newaxis, 0, slice(none, none, 2)})["0, ::-1"];
  };
  auto f = function(g);
  for (const Tensor& t : std::vector<Tensor>{
           t23(), constant(std::vector<float>{-1, 0.5, 2, 3, -4, 8}, Shape{2, 3})}) {
    EXPECT_EQ(f(t).to_vector<float>(), g(t).to_vector<float>());
  }
  EXPECT_EQ(f(t23()).to_vector<float>(), (std::vector<float>{28, 37, 7, 10}));
}

TEST(IndexingCompiledTest, IndexErrorsRaiseWhileTracing) {
  auto f = function([](const Tensor& x) { return x["5"]; });
  EXPECT_THROW(f(t23()), InvalidArgumentError);
}

// For now a Variable used in a function is captured as a constant (its value at trace time).
TEST(IndexingCompiledTest, VariableReadsAsATensor) {
  Variable v(t23(), {.name = "v"});
  auto f = function([&](const Tensor& x) { return x * v["1"]; });
  EXPECT_EQ(f(constant({1.f, 2.f, 3.f})).to_vector<float>(), (std::vector<float>{4, 10, 18}));
}

}  // namespace
}  // namespace kiln
