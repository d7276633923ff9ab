// kiln — check_numerics names the user's C++ call site of the op that made a NaN or Inf:
// eagerly from a stack walk at the error, in kiln::function from the IR location recorded at
// trace time (in that mode only).
#include <gtest/gtest.h>

#include <string>

#include "compiler/function.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/numerics.h"
#include "runtime/ops.h"
#include "support/call_site.h"
#include "support/str.h"
#include "tests/unit/compiler/test_util.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using compiler::testing::CheckNumerics;

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// A user function between the test and kiln: the call site is its line, in it.
[[gnu::noinline]] Tensor user_log(const Tensor& x) {
  return log(x);  // USER_LOG_LINE
}
constexpr int kUserLogLine = __LINE__ - 2;

// A toolchain without libbacktrace builds kiln without call sites ("(call site unknown)",
// tested in autodiff_function_test.cc); these tests need them.
#define REQUIRE_CALL_SITES()                                                \
  if (!call_sites_supported()) {                                            \
    GTEST_SKIP() << "built without libbacktrace: call sites are not known"; \
  }

TEST(CheckNumericsCallSiteTest, EagerNamesTheTestLine) {
  REQUIRE_CALL_SITES();
  CheckNumerics on;
  Tensor x = constant({1.f, -1.f});
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    exp(log(x));
  });
  const std::string prefix = cat("check_numerics: 'log' produced nan at element 1 of its result ",
                                 "f32[2] (called from ", __FILE__, ":", line, " in ");
  EXPECT_TRUE(starts_with(msg, prefix)) << msg << "\nexpected to start with\n" << prefix;
  // The lambda's name as the debug info has it: "operator()" with -g1, qualified with -g.
  EXPECT_NE(msg.find("operator()", prefix.size()), std::string::npos) << msg;
  EXPECT_EQ(msg.back(), ')') << msg;
}

TEST(CheckNumericsCallSiteTest, EagerThroughAnOperatorOnTheFastPath) {
  REQUIRE_CALL_SITES();
  CheckNumerics on;
  Tensor a = constant({{1.f, 0.f}, {2.f, 3.f}});
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    Tensor q = a / a;
  });
  EXPECT_TRUE(starts_with(msg, cat("check_numerics: 'div' produced nan at element 1 of its result "
                                   "f32[2,2] (called from ",
                                   __FILE__, ":", line, " in ")))
      << msg;
}

TEST(CheckNumericsCallSiteTest, EagerNamesTheInnermostUserFunction) {
  REQUIRE_CALL_SITES();
  CheckNumerics on;
  const std::string msg = error_of([] { user_log(constant({0.f})); });
  EXPECT_TRUE(starts_with(msg, cat("check_numerics: 'log' produced -inf at element 0 of its "
                                   "result f32[1] (called from ",
                                   __FILE__, ":", kUserLogLine, " in ")))
      << msg;
  EXPECT_NE(msg.find("user_log", msg.find(" in ")), std::string::npos) << msg;
}

TEST(CheckNumericsCallSiteTest, GradientOpsNameTheLineThatAskedForTheGradient) {
  REQUIRE_CALL_SITES();
  // d sqrt(x)/dx = 0.5 / sqrt(x): inf at 0, computed inside kiln's gradient rules.
  Tensor x = constant({4.f, 0.f});
  GradientTape tape;
  tape.watch(x);
  Tensor y = sqrt(x);
  CheckNumerics on;
  int line = 0;
  const std::string msg = error_of([&] {
    line = __LINE__ + 1;
    tape.gradient(y, x);
  });
  EXPECT_NE(msg.find("inf at element 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find(cat("(called from ", __FILE__, ":", line, " in ")), std::string::npos) << msg;
}

TEST(CheckNumericsCallSiteTest, CompiledNamesTheIrOpAndTheTracedLine) {
  REQUIRE_CALL_SITES();
  CheckNumerics on;  // on while tracing: every op records its caller's file:line
  int line = 0;
  auto fn = function(
      [&line](const Tensor& x) {
        line = __LINE__ + 1;
        Tensor l = log(x);
        return exp(l * 2.f);
      },
      {.name = "traced_on"});
  Tensor x = constant({1.f, 0.f});
  const std::string msg = error_of([&] { fn(x); });
  EXPECT_TRUE(starts_with(msg,
                          "traced_on: check_numerics: 'log' produced -inf at element 1 of "
                          "its result f32[2] in @traced_on: "))
      << msg;
  EXPECT_NE(msg.find("= log %"), std::string::npos) << msg;
  const std::string where = cat(" at ", __FILE__, ":", line);
  ASSERT_GE(msg.size(), where.size());
  EXPECT_EQ(msg.substr(msg.size() - where.size()), where) << msg;
  const std::string ir = fn.get_concrete_function(TensorSpec({2})).ir();
  const size_t log_op = ir.find("= log %");
  ASSERT_NE(log_op, std::string::npos) << ir;
  const std::string log_line = ir.substr(log_op, ir.find('\n', log_op) - log_op);
  EXPECT_NE(log_line.find(cat(" loc(\"", __FILE__, "\":", line, ":0)")), std::string::npos) << ir;
}

TEST(CheckNumericsCallSiteTest, ModeOffRecordsNothing) {
  REQUIRE_CALL_SITES();
  auto body = [](const Tensor& x) { return exp(log(x) * 2.f); };
  auto off = function(body, {.name = "same"});
  const std::string ir_off = off.get_concrete_function(TensorSpec({2})).ir();
  EXPECT_EQ(ir_off.find("loc("), std::string::npos) << ir_off;

  std::string ir_on;
  {
    CheckNumerics on;
    auto traced_on = function(body, {.name = "same"});
    ir_on = traced_on.get_concrete_function(TensorSpec({2})).ir();
    // Already traced with the mode off: the cached trace is used as it is.
    EXPECT_EQ(off.get_concrete_function(TensorSpec({2})).ir(), ir_off);
  }
  EXPECT_NE(ir_on.find(cat("loc(\"", __FILE__, "\":")), std::string::npos) << ir_on;
  // Without the locations, the two traces are the same IR.
  std::string stripped = ir_on;
  for (size_t at; (at = stripped.find(" loc(")) != std::string::npos;) {
    stripped.erase(at, stripped.find(')', at) - at + 1);
  }
  EXPECT_EQ(stripped, ir_off);

  // A function first traced with the mode off and run with it on names the IR op only.
  Tensor x = constant({1.f, 0.f});
  CheckNumerics on;
  const std::string msg = error_of([&] { off(x); });
  EXPECT_NE(msg.find("'log' produced -inf at element 1"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(" at /"), std::string::npos) << msg;
}

}  // namespace
}  // namespace kiln
