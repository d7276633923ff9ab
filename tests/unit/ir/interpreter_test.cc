// kiln — tests for the reference interpreter (ir::interpret) over a tiny fake Evaluator.
#include <gtest/gtest.h>

#include "ir/evaluator.h"
#include "ir/parser.h"

namespace kiln::ir {

// Readable failure messages: "f32[2] [16, 30]".
void PrintTo(const Literal& lit, std::ostream* os) {
  *os << lit.type().to_string() << " [";
  for (int64_t i = 0; i < lit.num_elements(); ++i) *os << (i ? ", " : "") << lit.get(i);
  *os << "]";
}

namespace {

Type f32(Shape s) { return Type{DType::kFloat32, std::move(s)}; }

// Elementwise add/mul on f32 literals of one shape or with a rank-0 side; counts its calls.
class FakeEvaluator : public Evaluator {
 public:
  absl::StatusOr<std::vector<Literal>> evaluate(const Op& op,
                                                std::span<const Literal* const> operands) override {
    ++calls;
    if (op.kind() != OpKind::kAdd && op.kind() != OpKind::kMul) {
      return absl::UnimplementedError(std::string("fake evaluator: no kernel for ") +
                                      std::string(op.mnemonic()));
    }
    const Literal& a = *operands[0];
    const Literal& b = *operands[1];
    Literal out(a.num_elements() >= b.num_elements() ? a.type() : b.type());
    for (int64_t i = 0; i < out.num_elements(); ++i) {
      const double x = a.get(a.num_elements() == 1 ? 0 : i);
      const double y = b.get(b.num_elements() == 1 ? 0 : i);
      out.set(i, op.kind() == OpKind::kAdd ? x + y : x * y);
    }
    return std::vector<Literal>{out};
  }
  int calls = 0;
};

std::unique_ptr<Module> parse(std::string_view text) {
  auto m = parse_module(text);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? std::move(*m) : std::make_unique<Module>();
}

Literal vec(std::vector<double> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return Literal::from_doubles(f32({n}), v);
}

TEST(InterpreterTest, RunsOpsInOrder) {
  auto m = parse(R"(func @f(%x: f32[3], %y: f32[3]) -> f32[3] {
  %0 = add %x, %y : f32[3]
  %1 = const 2.0 : f32[]
  %2 = mul %0, %1 : f32[3]
  return %2 : f32[3]
})");
  FakeEvaluator ev;
  std::vector<Literal> args = {vec({1, 2, 3}), vec({10, 20, 30})};
  auto out = interpret(*m->functions()[0], args, ev);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0], vec({22, 44, 66}));
  EXPECT_EQ(ev.calls, 2);  // const and return are the interpreter's own
}

TEST(InterpreterTest, InterpretsFusionRegionsWithSeveralResults) {
  auto m = parse(R"(func @f(%x: f32[2], %y: f32[2]) -> (f32[2], f32[2]) {
  %0:2 = fusion (%x, %y) {kind = "loop"} : (f32[2], f32[2]) -> (f32[2], f32[2]) {
  ^bb0(%arg0: f32[2], %arg1: f32[2]):
    %1 = add %arg0, %arg1 : f32[2]
    %2 = const [3.0, 4.0] : f32[2]
    %3 = mul %1, %2 : f32[2]
    yield %3, %1 : f32[2], f32[2]
  }
  %4 = add %0#0, %0#1 : f32[2]
  return %4, %0#1 : f32[2], f32[2]
})");
  FakeEvaluator ev;
  std::vector<Literal> args = {vec({1, 2}), vec({3, 4})};
  auto out = interpret(*m->functions()[0], args, ev);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[0], vec({16, 30}));
  EXPECT_EQ((*out)[1], vec({4, 6}));
}

TEST(InterpreterTest, UnknownDimsAcceptConcreteArguments) {
  auto m = parse(R"(func @f(%x: f32[?]) -> f32[?] {
  %0 = add %x, %x : f32[?]
  return %0 : f32[?]
})");
  FakeEvaluator ev;
  std::vector<Literal> args = {vec({1, 2, 3, 4})};
  auto out = interpret(*m->functions()[0], args, ev);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ((*out)[0], vec({2, 4, 6, 8}));
}

TEST(InterpreterTest, RejectsWrongArgumentCount) {
  auto m = parse("func @f(%x: f32[2]) -> f32[2] {\n  return %x : f32[2]\n}");
  FakeEvaluator ev;
  auto out = interpret(*m->functions()[0], {}, ev);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "interpret @f: expected 1 argument(s) but got 0");
}

TEST(InterpreterTest, RejectsWrongArgumentType) {
  auto m = parse("func @f(%x: f32[2]) -> f32[2] {\n  return %x : f32[2]\n}");
  FakeEvaluator ev;
  std::vector<Literal> args = {vec({1, 2, 3})};
  auto out = interpret(*m->functions()[0], args, ev);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "interpret @f: argument #0 is f32[3], expected f32[2]");
  std::vector<Literal> ints = {Literal::from_doubles(Type{DType::kInt32, Shape{2}}, {1, 2})};
  EXPECT_EQ(interpret(*m->functions()[0], ints, ev).status().message(),
            "interpret @f: argument #0 is i32[2], expected f32[2]");
}

TEST(InterpreterTest, PropagatesEvaluatorErrors) {
  auto m =
      parse("func @f(%x: f32[2]) -> f32[2] {\n  %0 = neg %x : f32[2]\n  return %0 : f32[2]\n}");
  FakeEvaluator ev;
  std::vector<Literal> args = {vec({1, 2})};
  auto out = interpret(*m->functions()[0], args, ev);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(out.status().message(), "fake evaluator: no kernel for neg");
}

}  // namespace
}  // namespace kiln::ir
