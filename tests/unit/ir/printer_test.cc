// kiln — tests for the IR printer: numbering, attributes, literals, regions (ir/printer.h).
#include "ir/printer.h"

#include <gtest/gtest.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <random>

#include "ir/builder.h"
#include "support/half.h"

namespace kiln::ir {
namespace {

Type f32(Shape s) { return Type{DType::kFloat32, std::move(s)}; }

Value* create(Builder& b, OpKind kind, std::vector<Value*> operands, Attrs attrs = {}) {
  auto v = b.create(kind, std::move(operands), std::move(attrs));
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : nullptr;
}

TEST(PrinterTest, PrintsTheHuberExample) {
  Function fn("huber");
  Value* y = fn.body().add_argument(f32({32, 1}), "y");
  Value* p = fn.body().add_argument(f32({32, 1}), "p");
  Builder b(&fn.body());
  Value* d = create(b, OpKind::kSub, {y, p});
  Value* a = create(b, OpKind::kAbs, {d});
  Value* one = b.scalar_constant(DType::kFloat32, 1.0);
  Value* small = create(b, OpKind::kLess, {a, one});
  Value* sq = create(b, OpKind::kSquare, {d});
  Value* half = b.scalar_constant(DType::kFloat32, 0.5);
  Value* quad = create(b, OpKind::kMul, {sq, half});
  Value* lin = create(b, OpKind::kSub, {a, half});
  Value* out = create(b, OpKind::kSelect, {small, quad, lin});
  b.create_return({out});
  EXPECT_EQ(print(fn), R"(func @huber(%y: f32[32,1], %p: f32[32,1]) -> f32[32,1] {
  %0 = sub %y, %p : f32[32,1]
  %1 = abs %0 : f32[32,1]
  %2 = const 1.0 : f32[]
  %3 = less %1, %2 : bool[32,1]
  %4 = square %0 : f32[32,1]
  %5 = const 0.5 : f32[]
  %6 = mul %4, %5 : f32[32,1]
  %7 = sub %1, %5 : f32[32,1]
  %8 = select %3, %6, %7 : f32[32,1]
  return %8 : f32[32,1]
}
)");
}

TEST(PrinterTest, UnnamedArgumentsPrintAsArgN) {
  Function fn("f");
  Value* x = fn.body().add_argument(f32({2}));
  Value* y = fn.body().add_argument(f32({2}));
  Builder b(&fn.body());
  b.create_return({create(b, OpKind::kAdd, {x, y})});
  EXPECT_EQ(print(fn), R"(func @f(%arg0: f32[2], %arg1: f32[2]) -> f32[2] {
  %0 = add %arg0, %arg1 : f32[2]
  return %0 : f32[2]
}
)");
}

TEST(PrinterTest, ClashingOrInvalidArgumentNamesAreMadeUnique) {
  Function fn("f");
  fn.body().add_argument(f32({}), "x");
  fn.body().add_argument(f32({}), "x");
  fn.body().add_argument(f32({}), "7");
  fn.body().add_argument(f32({}), "arg2");
  Builder(&fn.body()).create_return({});
  EXPECT_EQ(print(fn),
            "func @f(%x: f32[], %x_1: f32[], %arg2: f32[], %arg2_1: f32[]) -> () {\n"
            "  return\n"
            "}\n");
}

TEST(PrinterTest, AttributesPrintSortedWithTheirKinds) {
  Function fn("f");
  Value* x = fn.body().add_argument(f32({2}), "x");
  Builder b(&fn.body());
  Attrs attrs = {{"zeta", std::string("a\"b\\c\n")},
                 {"alpha", int64_t{-1}},
                 {"list", std::vector<int64_t>{0, 1}},
                 {"empty", std::vector<int64_t>{}},
                 {"flag", true},
                 {"scale", 0.5},
                 {"whole", 2.0}};
  b.create_return({create(b, OpKind::kNeg, {x}, attrs)});
  EXPECT_EQ(print(fn),
            "func @f(%x: f32[2]) -> f32[2] {\n"
            "  %0 = neg %x {alpha = -1, empty = [], flag = true, list = [0, 1], scale = 0.5, "
            "whole = 2.0, zeta = \"a\\\"b\\\\c\\n\"} : f32[2]\n"
            "  return %0 : f32[2]\n"
            "}\n");
}

TEST(PrinterTest, ConstantsPrintFlatRowMajor) {
  Function fn("c");
  Builder b(&fn.body());
  Value* f = b.constant(Literal::from_doubles(f32({2, 2}), {1, 2.5, -0.0, 1e-7}));
  Value* i = b.constant(Literal::from_doubles(Type{DType::kInt32, Shape{3}}, {-1, 0, 7}));
  Value* t = b.constant(Literal::from_doubles(Type{DType::kBool, Shape{2}}, {1, 0}));
  Value* s = b.scalar_constant(DType::kInt32, 42);
  Value* inf = b.constant(Literal::from_doubles(
      f32({3}), {INFINITY, -INFINITY, std::numeric_limits<double>::quiet_NaN()}));
  b.create_return({f, i, t, s, inf});
  EXPECT_EQ(print(fn),
            "func @c() -> (f32[2,2], i32[3], bool[2], i32[], f32[3]) {\n"
            "  %0 = const [1.0, 2.5, -0.0, 1e-07] : f32[2,2]\n"
            "  %1 = const [-1, 0, 7] : i32[3]\n"
            "  %2 = const [true, false] : bool[2]\n"
            "  %3 = const 42 : i32[]\n"
            "  %4 = const [inf, -inf, nan] : f32[3]\n"
            "  return %0, %1, %2, %3, %4 : f32[2,2], i32[3], bool[2], i32[], f32[3]\n"
            "}\n");
}

// A two-result fusion: `%0:2`, uses `%0#0`/`%0#1`, its region numbered after it.
Function& build_fusion(Module& m) {
  Function& fn = m.add_function("fused");
  Value* a = fn.body().add_argument(f32({4}), "a");
  Value* c = fn.body().add_argument(f32({4}), "b");
  Builder b(&fn.body());
  Op* fusion =
      b.create_op(OpKind::kFusion, {a, c}, {f32({4}), f32({4})}, {{"kind", std::string("loop")}});
  Block& region = fusion->create_region();
  Value* x = region.add_argument(f32({4}));
  Value* y = region.add_argument(f32({4}));
  Builder rb(&region);
  Value* sum = create(rb, OpKind::kAdd, {x, y});
  Value* prod = create(rb, OpKind::kMul, {sum, x});
  rb.create_op(OpKind::kYield, {sum, prod}, {});
  Value* r = create(b, OpKind::kSub, {fusion->result(1), fusion->result(0)});
  b.create_return({r, fusion->result(0)});
  return fn;
}

TEST(PrinterTest, FusionWithTwoResults) {
  Module m;
  EXPECT_EQ(print(build_fusion(m)),
            R"(func @fused(%a: f32[4], %b: f32[4]) -> (f32[4], f32[4]) {
  %0:2 = fusion (%a, %b) {kind = "loop"} : (f32[4], f32[4]) -> (f32[4], f32[4]) {
  ^bb0(%arg0: f32[4], %arg1: f32[4]):
    %1 = add %arg0, %arg1 : f32[4]
    %2 = mul %1, %arg0 : f32[4]
    yield %1, %2 : f32[4], f32[4]
  }
  %3 = sub %0#1, %0#0 : f32[4]
  return %3, %0#0 : f32[4], f32[4]
}
)");
}

TEST(PrinterTest, ModuleSeparatesFunctionsWithOneBlankLine) {
  Module m;
  for (const char* name : {"a", "b"}) {
    Function& fn = m.add_function(name);
    Builder b(&fn.body());
    b.create_return({b.scalar_constant(DType::kFloat32, 1)});
  }
  EXPECT_EQ(print(m),
            "func @a() -> f32[] {\n  %0 = const 1.0 : f32[]\n  return %0 : f32[]\n}\n\n"
            "func @b() -> f32[] {\n  %0 = const 1.0 : f32[]\n  return %0 : f32[]\n}\n");
}

TEST(PrinterTest, PrintsLocationsOnRequest) {
  Function fn("f");
  Value* x = fn.body().add_argument(f32({}), "x");
  Builder b(&fn.body());
  Value* n = *b.create(OpKind::kNeg, {x}, {}, Location{"losses.cc", 12, 16});
  b.create_return({n}, Location{"", 3, 3});
  EXPECT_EQ(print(fn, {.print_locations = true}),
            "func @f(%x: f32[]) -> f32[] {\n"
            "  %0 = neg %x : f32[] loc(\"losses.cc\":12:16)\n"
            "  return %0 : f32[] loc(3:3)\n"
            "}\n");
  EXPECT_EQ(print(fn).find("loc("), std::string::npos);
}

TEST(PrinterTest, PrintOpGivesOneLineWithFunctionNumbering) {
  Module m;
  Function& fn = build_fusion(m);
  const Op& fusion = *fn.body().ops().front();
  const Op& mul = *std::next(fusion.region()->ops().begin())->get();
  EXPECT_EQ(print_op(fn, fusion),
            "%0:2 = fusion (%a, %b) {kind = \"loop\"} : (f32[4], f32[4]) -> (f32[4], f32[4])");
  EXPECT_EQ(print_op(fn, mul), "%2 = mul %1, %arg0 : f32[4]");
}

TEST(PrinterTest, ValuesFromElsewhereDoNotCrash) {
  Function other("other");
  Value* stranger = other.body().add_argument(f32({}), "s");
  Function fn("f");
  Builder b(&fn.body());
  b.create_return({stranger});
  EXPECT_EQ(print(fn), "func @f() -> f32[] {\n  return %<unknown> : f32[]\n}\n");
}

TEST(FormatFloatTest, ShortestTextWithADotOrExponent) {
  EXPECT_EQ(format_float(1.0f), "1.0");
  EXPECT_EQ(format_float(0.5f), "0.5");
  EXPECT_EQ(format_float(0.1f), "0.1");
  EXPECT_EQ(format_float(-2.0f), "-2.0");
  EXPECT_EQ(format_float(1e-7f), "1e-07");
  EXPECT_EQ(format_float(1e10f), "1e+10");
  // float16 / bfloat16: the fewest digits that read back to the same 16-bit value.
  EXPECT_EQ(format_half(Half(0.1f).to_float(), DType::kFloat16), "0.1");
  EXPECT_EQ(format_half(Half(0.2998f).to_float(), DType::kFloat16), "0.2998");
  EXPECT_EQ(format_half(65504.f, DType::kFloat16), "65504.0");
  EXPECT_EQ(format_half(Half(6e-8f).to_float(), DType::kFloat16), "6e-08");
  EXPECT_EQ(format_half(BFloat16(0.1f).to_float(), DType::kBFloat16), "0.1");
  EXPECT_EQ(format_half(BFloat16(3.14159f).to_float(), DType::kBFloat16), "3.14");
  EXPECT_EQ(format_half(-std::numeric_limits<float>::infinity(), DType::kBFloat16), "-inf");
  EXPECT_EQ(format_float(16777216.0f), "16777216.0");
  EXPECT_EQ(format_float(-0.0f), "-0.0");
  EXPECT_EQ(format_float(std::numeric_limits<float>::max()), "3.4028235e+38");
  EXPECT_EQ(format_float(std::numeric_limits<float>::denorm_min()), "1e-45");
  EXPECT_EQ(format_float(INFINITY), "inf");
  EXPECT_EQ(format_float(-INFINITY), "-inf");
  EXPECT_EQ(format_float(std::numeric_limits<float>::quiet_NaN()), "nan");
}

TEST(FormatFloatTest, ReadsBackToTheSameFloat) {
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    const float v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isnan(v)) continue;
    const std::string s = format_float(v);
    EXPECT_NE(s.find_first_of(".ei"), std::string::npos) << s;
    float back = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), back);
    ASSERT_EQ(r.ec, std::errc()) << s;
    EXPECT_EQ(std::bit_cast<uint32_t>(back), std::bit_cast<uint32_t>(v)) << s;
  }
}

}  // namespace
}  // namespace kiln::ir
