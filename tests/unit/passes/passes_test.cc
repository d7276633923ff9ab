// kiln — the passes preserve meaning: the reference interpreter computes the same before and
// after each pass, on random inputs. (What each pass changes is in tests/lit/passes/*.kir.)
#include <gtest/gtest.h>

#include <random>

#include "ir/evaluator.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "runtime/evaluator.h"

namespace kiln::passes {
namespace {

constexpr const char* kHuber = R"(func @huber(%y: f32[32,1], %p: f32[32,1]) -> f32[32,1] {
  %0 = sub %y, %p : f32[32,1]
  %1 = abs %0 : f32[32,1]
  %2 = const 1.0 : f32[]
  %3 = less %1, %2 : bool[32,1]
  %4 = square %0 : f32[32,1]
  %5 = const 2.0 : f32[]
  %6 = div %4, %5 : f32[32,1]
  %7 = abs %0 : f32[32,1]
  %8 = const 0.5 : f32[]
  %9 = sub %7, %8 : f32[32,1]
  %10 = select %3, %6, %9 : f32[32,1]
  return %10 : f32[32,1]
}
)";

constexpr const char* kMixed =
    R"(func @mixed(%x: f32[8,5], %b: f32[5], %w: f32[5,3]) -> (f32[8,3], f32[8]) {
  %0 = const 0.1 : f32[]
  %1 = const 2.0 : f32[]
  %2 = mul %0, %1 : f32[]
  %3 = mul %x, %2 : f32[8,5]
  %4 = exp %3 : f32[8,5]
  %5 = broadcast %b {shape = [8, 5]} : f32[8,5]
  %6 = add %4, %5 : f32[8,5]
  %7 = matmul %6, %w : f32[8,3]
  %8 = neg %7 : f32[8,3]
  %9 = abs %8 : f32[8,3]
  %10 = reduce_mean %6 {axes = [1]} : f32[8]
  %11 = log %9 : f32[8,3]
  %12 = exp %x : f32[8,5]
  return %11, %10 : f32[8,3], f32[8]
}
)";

std::vector<ir::Literal> random_args(const ir::Function& fn, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> dist(0.0, 1.5);
  std::vector<ir::Literal> args;
  for (const ir::Type& t : fn.argument_types()) {
    ir::Literal lit(t);
    for (int64_t i = 0; i < lit.num_elements(); ++i) lit.set(i, dist(gen));
    args.push_back(std::move(lit));
  }
  return args;
}

std::string first_difference(const ir::Literal& a, const ir::Literal& b) {
  if (!(a.type() == b.type())) return a.type().to_string() + " vs. " + b.type().to_string();
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    if (a.get(i) != b.get(i)) {
      return "element " + std::to_string(i) + ": " + std::to_string(a.get(i)) + " vs. " +
             std::to_string(b.get(i));
    }
  }
  return "same elements";
}

// Runs `pipeline` on `text` and checks the interpreter gives identical results before and after.
void expect_same_meaning(const char* text, const std::string& pipeline) {
  auto before = ir::parse_module(text);
  ASSERT_TRUE(before.ok()) << before.status();
  auto after = ir::parse_module(text);
  ASSERT_TRUE(after.ok()) << after.status();
  KernelEvaluator evaluator;
  PassManager pm(PassContext{.evaluator = &evaluator});
  ASSERT_TRUE(pm.add_pipeline(pipeline).ok());
  auto changed = pm.run(**after);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_TRUE(*changed) << "expected " << pipeline << " to change:\n" << text;
  const ir::Function& f0 = *(*before)->functions()[0];
  const ir::Function& f1 = *(*after)->functions()[0];
  for (unsigned seed : {1u, 2u, 3u}) {
    std::vector<ir::Literal> args = random_args(f0, seed);
    auto r0 = ir::interpret(f0, args, evaluator);
    auto r1 = ir::interpret(f1, args, evaluator);
    ASSERT_TRUE(r0.ok()) << r0.status();
    ASSERT_TRUE(r1.ok()) << r1.status() << "\n" << ir::print(f1);
    ASSERT_EQ(r0->size(), r1->size());
    for (size_t i = 0; i < r0->size(); ++i) {
      EXPECT_EQ((*r0)[i], (*r1)[i]) << first_difference((*r0)[i], (*r1)[i]) << "\n"
                                    << "result " << i << " differs after " << pipeline << ":\n"
                                    << ir::print(f1);
    }
  }
}

TEST(PassesTest, FusePreservesHuber) { expect_same_meaning(kHuber, "fuse"); }
TEST(PassesTest, ConstFoldPreservesMixedGraph) { expect_same_meaning(kMixed, "const-fold"); }
TEST(PassesTest, DefaultPipelinePreservesHuber) {
  expect_same_meaning(kHuber, std::string(kDefaultPipeline));
}
TEST(PassesTest, DefaultPipelinePreservesMixedGraph) {
  expect_same_meaning(kMixed, std::string(kDefaultPipeline));
}
TEST(PassesTest, DcePreservesMixedGraph) { expect_same_meaning(kMixed, "dce"); }

TEST(PassesTest, FuseMakesOneFusionOfHuber) {
  auto m = ir::parse_module(kHuber);
  ASSERT_TRUE(m.ok());
  PassManager pm;
  ASSERT_TRUE(pm.add_pipeline("fuse").ok());
  ASSERT_TRUE(pm.run(**m).ok());
  const ir::Block& body = (*m)->functions()[0]->body();
  ASSERT_EQ(body.ops().size(), 2u) << ir::print(**m);  // the fusion and the return
  int fusions = 0;
  for (const auto& op : body.ops()) fusions += op->kind() == ir::OpKind::kFusion;
  EXPECT_EQ(fusions, 1);
}

TEST(PassesTest, ConstFoldWithoutEvaluatorIsAnError) {
  auto m = ir::parse_module(kHuber);
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(ir::parse_module(kMixed).ok());
  auto mixed = ir::parse_module(kMixed);
  PassManager pm;
  ASSERT_TRUE(pm.add_pipeline("const-fold").ok());
  auto r = pm.run(**mixed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "pass 'const-fold' failed: const-fold needs an evaluator (none was given)");
}

TEST(PassesTest, UnknownPassIsAnError) {
  PassManager pm;
  absl::Status s = pm.add_pipeline("dce,nope");
  EXPECT_EQ(s.message(), "unknown pass 'nope' (known passes: autodiff, const-fold, dce, fuse)");
}

}  // namespace
}  // namespace kiln::passes

namespace kiln::passes {
namespace {
// Eager kernels give the same bits for the same inputs wherever the buffers sit in memory:
// the interpreter comparisons above rely on it.
TEST(PassesTest, InterpreterIsDeterministic) {
  auto m = ir::parse_module(kMixed);
  ASSERT_TRUE(m.ok());
  const ir::Function& f = *(*m)->functions()[0];
  KernelEvaluator evaluator;
  std::vector<ir::Literal> args = random_args(f, 1);
  auto r0 = ir::interpret(f, args, evaluator);
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<ir::Literal> copy(args.begin(), args.end());  // other addresses
    std::vector<ir::Literal> pad(rep + 1, ir::Literal(ir::Type{DType::kFloat32, Shape{rep + 1}}));
    auto r1 = ir::interpret(f, copy, evaluator);
    ASSERT_TRUE(r1.ok());
    for (size_t i = 0; i < r0->size(); ++i) {
      EXPECT_EQ((*r0)[i], (*r1)[i])
          << "rep " << rep << " result " << i << ": " << first_difference((*r0)[i], (*r1)[i]);
    }
  }
}
}  // namespace
}  // namespace kiln::passes
