// kiln — tests for the IR parser: exact round trips of canonical text and located errors.
#include "ir/parser.h"

#include <gtest/gtest.h>

#include "ir/printer.h"
#include "ir/verifier.h"

namespace kiln::ir {
namespace {

std::string round_trip(std::string_view text) {
  auto module = parse_module(text);
  if (!module.ok()) return std::string(module.status().message());
  return print(**module);
}

std::string parse_error(std::string_view text, const ParseOptions& options = {}) {
  auto module = parse_module(text, options);
  if (module.ok()) return "parsed:\n" + print(**module);
  EXPECT_EQ(module.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(module.status().message());
}

// clang-format off
const char* const kCanonical[] = {
// The format spec's example.
R"(func @huber(%y: f32[32,1], %p: f32[32,1]) -> f32[32,1] {
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
)",
// The same after fusion.
R"(func @huber(%y: f32[32,1], %p: f32[32,1]) -> f32[32,1] {
  %0 = fusion (%y, %p) {kind = "loop"} : (f32[32,1], f32[32,1]) -> f32[32,1] {
  ^bb0(%arg0: f32[32,1], %arg1: f32[32,1]):
    %1 = sub %arg0, %arg1 : f32[32,1]
    %2 = abs %1 : f32[32,1]
    %3 = const 1.0 : f32[]
    %4 = less %2, %3 : bool[32,1]
    %5 = square %1 : f32[32,1]
    %6 = const 0.5 : f32[]
    %7 = mul %5, %6 : f32[32,1]
    %8 = sub %2, %6 : f32[32,1]
    %9 = select %4, %7, %8 : f32[32,1]
    yield %9 : f32[32,1]
  }
  return %0 : f32[32,1]
}
)",
// Two results, multi-value return, attributes of every kind (sorted).
R"(func @two(%a: f32[4], %b: f32[4]) -> (f32[4], f32[4]) {
  %0:2 = fusion (%a, %b) {dims = [], flag = false, kind = "lo\"op", scale = 0.5, tag = -3} : (f32[4], f32[4]) -> (f32[4], f32[4]) {
  ^bb0(%x: f32[4], %y: f32[4]):
    %1 = add %x, %y : f32[4]
    %2 = mul %1, %x : f32[4]
    yield %1, %2 : f32[4], f32[4]
  }
  %3 = sub %0#1, %0#0 : f32[4]
  return %3, %0#0 : f32[4], f32[4]
}
)",
// The other op classes, unknown dims.
R"(func @ops(%x: f32[32,8], %w: f32[8,1], %n: i32[?,5]) -> (f32[32,1], f32[], f32[32,4], i32[?,1], bool[?,5]) {
  %0 = matmul %x, %w : f32[32,1]
  %1 = reduce_mean %0 : f32[]
  %2 = broadcast %0 {shape = [32, 4]} : f32[32,4]
  %3 = reduce_sum %n {axes = [1], keepdims = true} : i32[?,1]
  %4 = const 0 : i32[]
  %5 = greater %n, %4 : bool[?,5]
  %6 = exp %2 : f32[32,4]
  %7 = log %6 : f32[32,4]
  %8 = div %7, %1 : f32[32,4]
  %9 = neg %8 : f32[32,4]
  return %0, %1, %9, %3, %5 : f32[32,1], f32[], f32[32,4], i32[?,1], bool[?,5]
}
)",
// Literals of every dtype, special floats, an empty tensor.
R"(func @consts() -> (f32[2,2], i32[3], bool[2], f32[3], f32[0]) {
  %0 = const [1.0, 0.1, -2.5, 1e-07] : f32[2,2]
  %1 = const [-1, 0, 2147483647] : i32[3]
  %2 = const [true, false] : bool[2]
  %3 = const [inf, -inf, nan] : f32[3]
  %4 = const [] : f32[0]
  return %0, %1, %2, %3, %4 : f32[2,2], i32[3], bool[2], f32[3], f32[0]
}
)",
// No results; two functions in one module.
R"(func @nothing() -> () {
  return
}

func @nullary() -> f32[] {
  %0 = fusion () : () -> f32[] {
  ^bb0():
    %1 = const 2.0 : f32[]
    yield %1 : f32[]
  }
  return %0 : f32[]
}
)",
// Nested regions: each region names its own arguments.
R"(func @nested(%arg0: f32[2]) -> f32[2] {
  %0 = fusion (%arg0) : (f32[2]) -> f32[2] {
  ^bb0(%arg0: f32[2]):
    %1 = fusion (%arg0) : (f32[2]) -> f32[2] {
    ^bb0(%arg0: f32[2]):
      %2 = neg %arg0 : f32[2]
      yield %2 : f32[2]
    }
    yield %1 : f32[2]
  }
  return %0 : f32[2]
}
)",
};
// clang-format on

TEST(ParserTest, CanonicalTextRoundTripsExactly) {
  for (const char* text : kCanonical) {
    EXPECT_EQ(round_trip(text), text);
    auto module = parse_module(text);
    ASSERT_TRUE(module.ok()) << module.status();
    EXPECT_TRUE(verify(**module).ok()) << verify(**module) << "\n" << text;
  }
}

TEST(ParserTest, NonCanonicalTextPrintsCanonically) {
  const char* text = R"(// a comment
func @f( %a : f32[ 2 ] ) -> ( f32[2] ) {   // trailing comment
  %c = const [1, 2.0] : f32[2]
  %sum = add %a,%c : f32[2] loc("x.py":7:3)
  %t:1 = neg %sum#0 : f32[2]
  return %t : f32[2]
})";
  EXPECT_EQ(round_trip(text), R"(func @f(%a: f32[2]) -> f32[2] {
  %0 = const [1.0, 2.0] : f32[2]
  %1 = add %a, %0 : f32[2]
  %2 = neg %1 : f32[2]
  return %2 : f32[2]
}
)");
}

TEST(ParserTest, EmptyInputIsAnEmptyModule) {
  auto module = parse_module("  // nothing here\n");
  ASSERT_TRUE(module.ok());
  EXPECT_TRUE((*module)->functions().empty());
}

TEST(ParserTest, OpsGetTheLocationOfTheirMnemonic) {
  auto module = parse_module(kCanonical[1], {.filename = "h.kir", .first_line = 10});
  ASSERT_TRUE(module.ok()) << module.status();
  const Op& fusion = *(*module)->functions()[0]->body().ops().front();
  EXPECT_EQ(fusion.loc().to_string(), "h.kir:11:8");
  const Op& sub = *fusion.region()->ops().front();
  EXPECT_EQ(sub.loc().to_string(), "h.kir:13:10");
}

TEST(ParserTest, ExplicitLocationsOverrideAndPrintBack) {
  const char* text = R"(func @f(%x: f32[]) -> f32[] {
  %0 = neg %x : f32[] loc("losses.cc":12:16)
  return %0 : f32[] loc(3:3)
}
)";
  auto module = parse_module(text);
  ASSERT_TRUE(module.ok()) << module.status();
  EXPECT_EQ(print(**module, {.print_locations = true}), text);
}

TEST(ParserTest, ErrorsCarryFileNameAndFirstLine) {
  const char* text = "func @f() -> () {\n  %0 = frob : f32[]\n";
  EXPECT_EQ(parse_error(text, {.filename = "bad.kir"}), "bad.kir:2:8: error: unknown op 'frob'");
  EXPECT_EQ(parse_error(text, {.first_line = 40}), "41:8: error: unknown op 'frob'");
}

struct BadInput {
  const char* text;
  const char* error;
};

// clang-format off
const BadInput kBadInputs[] = {
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = frob %a : f32[2]\n  return %0 : f32[2]\n}",
   "2:8: error: unknown op 'frob'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %b : f32[2]\n",
   "2:12: error: use of undefined value '%b'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a : f32[2]\n  %0 = neg %a : f32[2]\n",
   "3:3: error: redefinition of value '%0'"},
  {"func @f(%a: f32[2], %a: f32[2]) -> f32[2] {",
   "1:21: error: redefinition of value '%a'"},
  {"func @f(%a: f8[2]) -> f32[2] {",
   "1:13: error: unknown element type 'f8' (expected f16, bf16, f32, f64, i32, i64 or bool)"},
  {"func @f(%a: f32[-1]) -> f32[2] {",
   "1:17: error: invalid dimension -1 (use '?' for unknown)"},
  {"func @f(%a: f32) -> f32[] {",
   "1:16: error: expected '[' after the element type, found ')'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a : f32[3]\n",
   "2:17: error: 'neg': result type f32[3] does not match inferred type f32[2]"},
  {"func @f(%a: f32[2], %b: i32[2]) -> f32[2] {\n  %0 = add %a, %b : f32[2]\n",
   "2:8: error: add: input #1 (zero-based) was expected to be a float32 tensor but is a int32 tensor"},
  {"func @f(%a: f32[32,1], %b: f32[16,1]) -> f32[32,1] {\n  %0 = sub %a, %b : f32[32,1]\n",
   "2:8: error: 'sub': operand #1 is f32[16,1], expected f32[32,1] or f32[]"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = add %a : f32[2]\n",
   "2:8: error: 'add' expects 2 operand(s) but has 1"},
  {"func @f(%a: f32[2]) -> f32[] {\n  %0 = reduce_sum %a {axes = [2]} : f32[]\n",
   "2:8: error: reduce_sum: Invalid reduction dimension (2 for input with 1 dimension(s)"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a : f32[2]\n}",
   "3:1: error: missing 'return' at the end of the function body"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  return %a : f32[2]\n  %0 = neg %a : f32[2]\n}",
   "3:3: error: expected '}' after the terminator (it must be the block's last op), found '%0'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  yield %a : f32[2]\n}",
   "2:3: error: 'yield' is only valid in a fusion region; a function body ends with 'return'"},
  {"func @f(%a: f32[2]) -> f32[3] {\n  return %a : f32[2]\n}",
   "2:3: error: 'return': operand types (f32[2]) do not match the function's result types (f32[3])"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  return %a : f32[3]\n}",
   "2:15: error: 'return': operand #0 is f32[2] but its type is written as f32[3]"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n  ^bb0(%x: f32[2]):\n"
   "    %1 = add %x, %a : f32[2]\n",
   "4:18: error: '%a' is defined outside the fusion region; regions are isolated from above"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n"
   "  ^bb0(%x: f32[2], %y: f32[2]):\n",
   "3:3: error: the fusion region has 2 argument(s) but the fusion has 1 operand(s)"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n  ^bb0(%x: f32[3]):\n",
   "3:8: error: region argument #0 is f32[3] but fusion operand #0 is f32[2]"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[3]) -> f32[2] {\n",
   "2:23: error: 'fusion': operand #0 is f32[2] but its type is written as f32[3]"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n  ^bb0(%x: f32[2]):\n"
   "    %1 = const 1.0 : f32[]\n    yield %1 : f32[]\n",
   "5:5: error: 'yield': operand types (f32[]) do not match the fusion's result types (f32[2])"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n  ^bb0(%x: f32[2]):\n"
   "    return %x : f32[2]\n",
   "4:5: error: 'return' is only valid in a function body; a fusion region ends with 'yield'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> f32[2] {\n  ^bb0(%x: f32[2]):\n"
   "  }\n",
   "4:3: error: missing 'yield' at the end of the fusion region"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0:2 = fusion (%a) : (f32[2]) -> (f32[2], f32[2]) {\n"
   "  ^bb0(%x: f32[2]):\n    yield %x, %x : f32[2], f32[2]\n  }\n  return %0 : f32[2]\n}",
   "6:10: error: '%0' has 2 results; name one as '%0#0' ... '%0#1'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0:2 = fusion (%a) : (f32[2]) -> (f32[2], f32[2]) {\n"
   "  ^bb0(%x: f32[2]):\n    yield %x, %x : f32[2], f32[2]\n  }\n  return %0#2 : f32[2]\n}",
   "6:10: error: '%0#2' does not exist: '%0' has 2 result(s)"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = fusion (%a) : (f32[2]) -> (f32[2], f32[2]) {\n",
   "2:3: error: 'fusion' defines 2 result(s) but 1 are named"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0:2 = neg %a : f32[2]\n",
   "2:3: error: 'neg' defines 1 result(s) but 2 are named"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  neg %a : f32[2]\n",
   "2:3: error: 'neg' defines 1 result(s) but 0 are named"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = const [1.0, 2.0] : f32[3]\n",
   "2:14: error: 'const': type f32[3] has 3 element(s) but 2 are given"},
  {"func @f() -> bool[2] {\n  %0 = const [true, 2] : bool[2]\n",
   "2:21: error: invalid bool element '2' (expected true or false)"},
  {"func @f() -> i32[] {\n  %0 = const 3000000000 : i32[]\n",
   "2:14: error: integer 3000000000 does not fit in i32"},
  {"func @f() -> i32[] {\n  %0 = const 1.5 : i32[]\n",
   "2:14: error: invalid i32 element '1.5' (expected an integer)"},
  {"func @f() -> f32[] {\n  %0 = const 1e39 : f32[]\n",
   "2:14: error: float 1e39 is out of range for f32"},
  {"func @f() -> f32[] {\n  %0 = const true : f32[]\n",
   "2:14: error: invalid f32 element 'true' (expected a number, inf or nan)"},
  {"func @f() -> i64[] {\n  %0 = const 9223372036854775808 : i64[]\n",
   "2:14: error: integer 9223372036854775808 is out of range"},
  {"func @f() -> i64[] {\n  %0 = const 2.5 : i64[]\n",
   "2:14: error: invalid i64 element '2.5' (expected an integer)"},
  {"func @f() -> f64[] {\n  %0 = const 1e400 : f64[]\n",
   "2:14: error: float 1e400 is out of range for f64"},
  {"func @f() -> bf16[] {\n  %0 = const 1e39 : bf16[]\n",
   "2:14: error: float 1e39 is out of range for bf16"},
  {"func @f() -> bf16[] {\n  %0 = const 3.4e38 : bf16[]\n",
   "2:14: error: float 3.4e38 is out of range for bf16"},
  {"func @f() -> f16[] {\n  %0 = const false : f16[]\n",
   "2:14: error: invalid f16 element 'false' (expected a number, inf or nan)"},
  {"func @f() -> f32[?] {\n  %0 = const [] : f32[?]\n",
   "2:19: error: 'const' needs a fully defined type, got f32[?]"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a {s = \"abc} : f32[2]\n",
   "2:20: error: unterminated string"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg $a : f32[2]\n",
   "2:12: error: unexpected character '$'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a {k = 1, k = 2} : f32[2]\n",
   "2:23: error: duplicate attribute 'k'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a {k = 1.5.2} : f32[2]\n",
   "2:23: error: unexpected character '.'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a {k = [1, 2.0]} : f32[2]\n",
   "2:24: error: expected an integer (attribute lists hold integers), found '2.0'"},
  {"func @f(", "1:9: error: expected an argument ('%name: type'), found end of input"},
  {"fun @f() -> () {", "1:1: error: expected 'func', found 'fun'"},
  {"func f() -> () {", "1:6: error: expected a function name ('@name'), found 'f'"},
  {"func @f() f32[] {", "1:11: error: expected '->' before the function's result types, found 'f32'"},
  {"func @f() -> () {\n  return\n}\n\nfunc @f() -> () {\n  return\n}\n",
   "5:6: error: redefinition of function '@f'"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a : f32[2]\n  return %0 : f32[2]\n",
   "4:1: error: expected '}' after the terminator (it must be the block's last op), found end of input"},
  {"func @f(%a: f32[2]) -> f32[2] {\n  %0 = neg %a : f32[2]\n",
   "3:1: error: expected an op, found end of input"},
  {"func @f(%1x: f32[2]) -> f32[2] {",
   "1:9: error: invalid name '%1x' (expected an identifier or a number after '%')"},
};
// clang-format on

TEST(ParserTest, RejectsBadInputWithPreciseLocation) {
  for (const BadInput& bad : kBadInputs) EXPECT_EQ(parse_error(bad.text), bad.error) << bad.text;
}

}  // namespace
}  // namespace kiln::ir
