// kiln — the passes preserve meaning: the reference interpreter computes the same before and
// after each pass, on random inputs. (What each pass changes is in tests/lit/passes/*.kir.)
#include <gtest/gtest.h>

#include <cmath>
#include <iterator>
#include <limits>
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

// Reductions with elementwise prologues and epilogues (what `fuse` turns into reduce fusions),
// a broadcast read in place, a leading-axis reduction and a value shared by two reductions.
constexpr const char* kReductions =
    R"(func @reductions(%x: f32[6,40], %b: f32[40], %y: f32[6,40]) -> (f32[], f32[6,1], f32[40], f32[], f32[]) {
  %0 = sub %x, %y : f32[6,40]
  %1 = abs %0 : f32[6,40]
  %2 = const 1.0 : f32[]
  %3 = less %1, %2 : bool[6,40]
  %4 = square %0 : f32[6,40]
  %5 = const 0.5 : f32[]
  %6 = mul %4, %5 : f32[6,40]
  %7 = sub %1, %5 : f32[6,40]
  %8 = select %3, %6, %7 : f32[6,40]
  %9 = reduce_mean %8 : f32[]
  %10 = mul %9, %5 : f32[]
  %11 = reduce_max %x {axes = [1], keepdims = true} : f32[6,1]
  %12 = broadcast %11 {shape = [6, 40]} : f32[6,40]
  %13 = sub %x, %12 : f32[6,40]
  %14 = exp %13 : f32[6,40]
  %15 = broadcast %b {shape = [6, 40]} : f32[6,40]
  %16 = mul %14, %15 : f32[6,40]
  %17 = reduce_sum %16 {axes = [1], keepdims = true} : f32[6,1]
  %18 = log %17 : f32[6,1]
  %19 = neg %y : f32[6,40]
  %20 = reduce_sum %19 {axes = [0]} : f32[40]
  %21 = exp %y : f32[6,40]
  %22 = reduce_min %21 : f32[]
  %23 = reduce_max %21 : f32[]
  %24 = sub %23, %22 : f32[]
  %25 = sqrt %24 : f32[]
  return %10, %18, %20, %25, %22 : f32[], f32[6,1], f32[40], f32[], f32[]
}
)";

// Loops that fuse merges into multi-output fusions: an Adam-style update (siblings and their
// consumer), siblings of one input, a path through a matmul that keeps two loops apart, and a
// transpose read in place.
constexpr const char* kMultiOutput =
    R"(func @multi(%p: f32[8,16], %m: f32[8,16], %v: f32[8,16], %g: f32[8,16], %w: f32[16,16]) -> (f32[8,16], f32[8,16], f32[8,16], f32[8,16], f32[8,16]) {
  %0 = const 0.9 : f32[]
  %1 = const 0.1 : f32[]
  %2 = mul %m, %0 : f32[8,16]
  %3 = mul %g, %1 : f32[8,16]
  %4 = add %2, %3 : f32[8,16]
  %5 = const 0.999 : f32[]
  %6 = const 0.001 : f32[]
  %7 = mul %v, %5 : f32[8,16]
  %8 = square %g : f32[8,16]
  %9 = mul %8, %6 : f32[8,16]
  %10 = add %7, %9 : f32[8,16]
  %11 = sqrt %10 : f32[8,16]
  %12 = const 1e-08 : f32[]
  %13 = add %11, %12 : f32[8,16]
  %14 = div %4, %13 : f32[8,16]
  %15 = mul %14, %6 : f32[8,16]
  %16 = sub %p, %15 : f32[8,16]
  %17 = exp %g : f32[8,16]
  %18 = matmul %17, %w : f32[8,16]
  %19 = add %18, %g : f32[8,16]
  %20 = transpose %w {perm = [1, 0]} : f32[16,16]
  %21 = neg %20 : f32[16,16]
  %22 = matmul %17, %21 : f32[8,16]
  %23 = add %22, %17 : f32[8,16]
  return %16, %4, %10, %19, %23 : f32[8,16], f32[8,16], f32[8,16], f32[8,16], f32[8,16]
}
)";

// Every simplify rule fires on this graph (tests/lit/passes/simplify.kir has each one alone).
constexpr const char* kAlgebra =
    R"(func @algebra(%x: f32[4,3], %y: f32[3,4], %s: f32[], %i: i32[4,3]) -> (f32[4,3], f32[4,3], f32[12], f32[4,3], f32[4,3], i32[4,3], f32[4,3]) {
  %0 = const 1.0 : f32[]
  %1 = mul %x, %0 : f32[4,3]
  %2 = const -0.0 : f32[]
  %3 = add %2, %1 : f32[4,3]
  %4 = const 4.0 : f32[]
  %5 = div %3, %4 : f32[4,3]
  %6 = const 2.0 : f32[]
  %7 = pow %5, %6 : f32[4,3]
  %8 = const -1.0 : f32[]
  %9 = pow %7, %8 : f32[4,3]
  %10 = neg %9 : f32[4,3]
  %11 = neg %10 : f32[4,3]
  %12 = transpose %y : f32[4,3]
  %13 = transpose %12 : f32[3,4]
  %14 = transpose %13 {perm = [1, 0]} : f32[4,3]
  %15 = add %11, %14 : f32[4,3]
  %16 = reshape %15 {shape = [2, 6]} : f32[2,6]
  %17 = reshape %16 {shape = [12]} : f32[12]
  %18 = cast %x {dtype = "f64"} : f64[4,3]
  %19 = cast %18 {dtype = "f32"} : f32[4,3]
  %20 = broadcast %s {shape = [4, 3]} : f32[4,3]
  %21 = sub %19, %20 : f32[4,3]
  %22 = const true : bool[]
  %23 = select %22, %21, %x : f32[4,3]
  %24 = less %x, %20 : bool[4,3]
  %25 = select %24, %23, %23 : f32[4,3]
  %26 = const 0.0 : f32[]
  %27 = sub %25, %26 : f32[4,3]
  %28 = pow %x, %0 : f32[4,3]
  %29 = const 2.0 : f32[]
  %30 = broadcast %29 {shape = [4, 3]} : f32[4,3]
  %31 = mul %28, %30 : f32[4,3]
  %32 = reshape %31 {shape = [4, 3]} : f32[4,3]
  %33 = broadcast %32 {shape = [4, 3]} : f32[4,3]
  %34 = cast %i {dtype = "i64"} : i64[4,3]
  %35 = cast %34 {dtype = "i32"} : i32[4,3]
  %36 = cast %35 {dtype = "i32"} : i32[4,3]
  %37 = add %x, %26 : f32[4,3]
  %38 = mul %37, %26 : f32[4,3]
  %39 = const 0.5 : f32[]
  %40 = pow %38, %39 : f32[4,3]
  return %27, %9, %17, %15, %33, %36, %40 : f32[4,3], f32[4,3], f32[12], f32[4,3], f32[4,3], i32[4,3], f32[4,3]
}
)";

// Repeated subexpressions, also in a fusion region, and equal constants.
constexpr const char* kRepeated =
    R"(func @repeated(%x: f32[8], %y: f32[8]) -> (f32[8], f32[8], f32[]) {
  %0 = sub %x, %y : f32[8]
  %1 = sub %x, %y : f32[8]
  %2 = exp %0 : f32[8]
  %3 = exp %1 : f32[8]
  %4 = const 0.5 : f32[]
  %5 = const 0.5 : f32[]
  %6 = mul %2, %4 : f32[8]
  %7 = mul %3, %5 : f32[8]
  %8 = sub %6, %7 : f32[8]
  %9 = fusion (%x) {kind = "loop"} : (f32[8]) -> f32[8] {
  ^bb0(%a: f32[8]):
    %10 = abs %a : f32[8]
    %11 = abs %a : f32[8]
    %12 = add %10, %11 : f32[8]
    yield %12 : f32[8]
  }
  %13 = reduce_sum %8 : f32[]
  %14 = reduce_sum %8 : f32[]
  %15 = add %13, %14 : f32[]
  return %8, %9, %15 : f32[8], f32[8], f32[]
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

// Arguments made of the values where identities usually break: signed zeros, infinities, NaN,
// subnormals, huge and tiny numbers, mixed with ordinary ones.
std::vector<ir::Literal> special_args(const ir::Function& fn, unsigned seed) {
  const double inf = std::numeric_limits<double>::infinity();
  const double values[] = {-0.0, 0.0,    inf,   -inf,   std::nan(""), 1.0,      -1.0, 0.5,
                           2.0,  3.5e38, 1e-40, -1e-45, 65504.0,      -7.25e-3, 3.0,  -2.5};
  std::mt19937 gen(seed);
  std::vector<ir::Literal> args;
  for (const ir::Type& t : fn.argument_types()) {
    ir::Literal lit(t);
    for (int64_t i = 0; i < lit.num_elements(); ++i) {
      const double v = values[gen() % std::size(values)];
      lit.set(i,
              is_floating(t.dtype) ? v : static_cast<double>(static_cast<int>(gen() % 201) - 100));
    }
    args.push_back(std::move(lit));
  }
  return args;
}

// Elementwise the same value: NaN matches any NaN (its payload is not part of the meaning),
// zeros must agree in sign.
bool same_values(const ir::Literal& a, const ir::Literal& b) {
  if (!(a.type() == b.type())) return false;
  for (int64_t i = 0; i < a.num_elements(); ++i) {
    const double x = a.get(i), y = b.get(i);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (x != y || std::signbit(x) != std::signbit(y)) return false;
  }
  return true;
}

// Runs `pipeline` on `text` and checks the interpreter gives identical results before and after
// (also on special values, then equal up to NaN payloads, if `special` is set).
void expect_same_meaning(const char* text, const std::string& pipeline, bool special = false) {
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
  for (unsigned seed = 1; special && seed <= 8; ++seed) {
    std::vector<ir::Literal> args = special_args(f0, seed);
    auto r0 = ir::interpret(f0, args, evaluator);
    auto r1 = ir::interpret(f1, args, evaluator);
    ASSERT_TRUE(r0.ok()) << r0.status();
    ASSERT_TRUE(r1.ok()) << r1.status() << "\n" << ir::print(f1);
    for (size_t i = 0; i < r0->size(); ++i) {
      EXPECT_TRUE(same_values((*r0)[i], (*r1)[i]))
          << first_difference((*r0)[i], (*r1)[i]) << "\nresult " << i << " (special values, seed "
          << seed << ") differs after " << pipeline << ":\n"
          << ir::print(f1);
    }
  }
}

TEST(PassesTest, FusePreservesHuber) { expect_same_meaning(kHuber, "fuse"); }
TEST(PassesTest, FusePreservesMultiOutput) { expect_same_meaning(kMultiOutput, "fuse", true); }
TEST(PassesTest, FusePreservesReductions) { expect_same_meaning(kReductions, "fuse", true); }
TEST(PassesTest, DefaultPipelinePreservesReductions) {
  expect_same_meaning(kReductions, std::string(kDefaultPipeline), true);
}
TEST(PassesTest, ConstFoldPreservesMixedGraph) { expect_same_meaning(kMixed, "const-fold"); }
TEST(PassesTest, DefaultPipelinePreservesHuber) {
  expect_same_meaning(kHuber, std::string(kDefaultPipeline));
}
TEST(PassesTest, DefaultPipelinePreservesMixedGraph) {
  expect_same_meaning(kMixed, std::string(kDefaultPipeline));
}
TEST(PassesTest, DcePreservesMixedGraph) { expect_same_meaning(kMixed, "dce"); }
TEST(PassesTest, SimplifyPreservesAlgebra) { expect_same_meaning(kAlgebra, "simplify", true); }
TEST(PassesTest, SimplifyPreservesHuber) { expect_same_meaning(kHuber, "simplify,dce", true); }
TEST(PassesTest, CsePreservesRepeated) { expect_same_meaning(kRepeated, "cse", true); }
TEST(PassesTest, DefaultPipelinePreservesAlgebra) {
  expect_same_meaning(kAlgebra, std::string(kDefaultPipeline), true);
}
TEST(PassesTest, DefaultPipelinePreservesRepeated) {
  expect_same_meaning(kRepeated, std::string(kDefaultPipeline), true);
}

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
  EXPECT_EQ(s.message(),
            "unknown pass 'nope' (known passes: autodiff, buffer-plan, const-fold, cse, dce, fuse, "
            "simplify)");
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
