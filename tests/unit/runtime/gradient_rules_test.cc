// Gradient rules: every op in the table is either not differentiable, not user-differentiable
// (listed below), or has a rule that passes a finite-difference check on representative cases;
// plus the edge cases (kinks, ties, zeros, huge logits, masked branches).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/evaluator.h"
#include "runtime/array_ops.h"
#include "runtime/dispatch.h"
#include "runtime/evaluator.h"
#include "runtime/gradient_check.h"
#include "runtime/gradient_tape.h"
#include "runtime/gradients/rules.h"
#include "runtime/indexing.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using ir::OpKind;
using testing::check_gradients;
using testing::GradientCheckOptions;
using testing::GradientFunction;

// Deterministic values in [lo, hi).
Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed) {
  std::vector<float> v(shape.num_elements());
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (float& x : v) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const double u = static_cast<double>(s >> 11) * 0x1.0p-53;
    x = static_cast<float>(lo + (hi - lo) * u);
  }
  return constant(v, shape);
}
// Values with lo <= |x| < hi and both signs: away from a kink at 0.
Tensor away_from_zero(const Shape& shape, double lo, double hi, uint64_t seed) {
  Tensor m = uniform(shape, lo, hi, seed);
  Tensor s = uniform(shape, -1, 1, seed + 100);
  return where(less(s, constant(0.f)), neg(m), m);
}

// Distinct values at least 0.25 apart (a shuffled grid), for ops with ties (max, top_k): the
// finite-difference steps never reorder them.
Tensor separated(const Shape& shape, uint64_t seed) {
  const int64_t n = shape.num_elements();
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(0.25 * (i - n / 2));
  uint64_t s = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (int64_t i = n - 1; i > 0; --i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    std::swap(v[i], v[(s >> 33) % (i + 1)]);
  }
  return constant(v, shape);
}

struct Case {
  std::string name;
  std::vector<Tensor> inputs;
  GradientFunction fn;
  GradientCheckOptions options = {};
};

using Fn1 = std::function<Tensor(const Tensor&)>;
using Fn2 = std::function<Tensor(const Tensor&, const Tensor&)>;
Case unary(std::string name, Tensor x, Fn1 f) {
  return Case{
      std::move(name), {std::move(x)}, [f](std::span<const Tensor> in) { return f(in[0]); }};
}
Case binary(std::string name, Tensor a, Tensor b, Fn2 f) {
  return Case{std::move(name), {std::move(a), std::move(b)}, [f](std::span<const Tensor> in) {
                return f(in[0], in[1]);
              }};
}

// The ops that exist only inside the compiler's IR and are never applied to user tensors, so
// they need no rule: constants have no inputs, fusion/yield/return are the fused-region and
// function structure, `grad` is expanded by the autodiff pass before anything runs, and
// `custom_grad` is differentiated by its own region (the autodiff pass inlines it).
// cond/while are never taped eagerly (the ops of the branch or body that ran are); the autodiff
// pass differentiates a traced cond through runtime/gradients/control_flow.h, checked in
// tests/unit/compiler/control_flow_test.cc.
const std::set<OpKind> kNotUserDifferentiable = {
    OpKind::kConst, OpKind::kFusion,     OpKind::kYield, OpKind::kReturn,
    OpKind::kGrad,  OpKind::kCustomGrad, OpKind::kCond,  OpKind::kWhile};

std::map<OpKind, std::vector<Case>> all_cases() {
  std::map<OpKind, std::vector<Case>> c;
  const Shape s23{2, 3};
  auto x23 = [&](uint64_t seed) { return uniform(s23, -2, 2, seed); };
  auto pos23 = [&](uint64_t seed) { return uniform(s23, 0.3, 3, seed); };

  // ---- elementwise ----
  c[OpKind::kNeg] = {unary("neg", x23(1), [](auto& x) { return neg(x); })};
  c[OpKind::kAbs] = {unary("abs", away_from_zero(s23, 0.2, 2, 2), [](auto& x) { return abs(x); })};
  c[OpKind::kSquare] = {unary("square", x23(3), [](auto& x) { return square(x); })};
  c[OpKind::kExp] = {unary("exp", x23(4), [](auto& x) { return exp(x); })};
  c[OpKind::kLog] = {unary("log", pos23(5), [](auto& x) { return log(x); })};
  c[OpKind::kSqrt] = {unary("sqrt", pos23(6), [](auto& x) { return sqrt(x); })};
  c[OpKind::kRsqrt] = {unary("rsqrt", pos23(7), [](auto& x) { return rsqrt(x); })};
  c[OpKind::kTanh] = {unary("tanh", x23(8), [](auto& x) { return tanh(x); })};
  c[OpKind::kSigmoid] = {unary("sigmoid", x23(9), [](auto& x) { return sigmoid(x); })};
  c[OpKind::kSoftplus] = {
      unary("softplus", uniform(s23, -6, 6, 10), [](auto& x) { return softplus(x); })};
  c[OpKind::kRelu] = {
      unary("relu", away_from_zero(s23, 0.2, 2, 11), [](auto& x) { return relu(x); })};
  c[OpKind::kSign] = {
      unary("sign", away_from_zero(s23, 0.2, 2, 12), [](auto& x) { return sign(x); })};
  c[OpKind::kRelu6] = {unary("relu6", constant({{-1.f, 0.5f, 2.f}, {5.5f, 6.5f, 9.f}}),
                             [](auto& x) { return relu6(x); })};
  c[OpKind::kExpm1] = {unary("expm1", x23(13), [](auto& x) { return expm1(x); })};
  c[OpKind::kLog1p] = {unary("log1p", uniform(s23, -0.7, 3, 14), [](auto& x) { return log1p(x); })};
  c[OpKind::kSin] = {unary("sin", x23(15), [](auto& x) { return sin(x); })};
  c[OpKind::kCos] = {unary("cos", x23(16), [](auto& x) { return cos(x); })};
  c[OpKind::kElu] = {unary("elu", away_from_zero(s23, 0.2, 3, 17), [](auto& x) { return elu(x); })};
  c[OpKind::kSelu] = {
      unary("selu", away_from_zero(s23, 0.2, 3, 18), [](auto& x) { return selu(x); })};
  c[OpKind::kGelu] = {unary("gelu", uniform(s23, -3, 3, 19), [](auto& x) { return gelu(x); }),
                      unary("gelu near 0", constant({{-1e-4f, 0.f, 2e-4f}, {-5.f, 5.f, 0.05f}}),
                            [](auto& x) { return gelu(x); })};
  c[OpKind::kLeakyRelu] = {unary("leaky_relu", away_from_zero(s23, 0.2, 2, 20),
                                 [](auto& x) { return leaky_relu(x, 0.3); })};
  c[OpKind::kAdd] = {binary("add broadcast", x23(21), uniform(Shape{3}, -1, 1, 22),
                            [](auto& a, auto& b) { return add(a, b); })};
  c[OpKind::kSub] = {binary("sub broadcast", uniform(Shape{2, 1}, -1, 1, 23),
                            uniform(Shape{1, 3}, -1, 1, 24),
                            [](auto& a, auto& b) { return sub(a, b); })};
  c[OpKind::kMul] = {binary("mul broadcast", x23(25), uniform(Shape{2, 1}, -1, 1, 26),
                            [](auto& a, auto& b) { return mul(a, b); })};
  c[OpKind::kDiv] = {binary("div broadcast", x23(27), away_from_zero(Shape{3}, 0.5, 2, 28),
                            [](auto& a, auto& b) { return div(a, b); })};
  c[OpKind::kPow] = {
      binary("pow", pos23(29), uniform(s23, -2, 2, 30), [](auto& a, auto& b) { return pow(a, b); }),
      binary("pow broadcast exponent", pos23(31), uniform(Shape{1}, 0.5, 2.5, 32),
             [](auto& a, auto& b) { return pow(a, b); })};
  c[OpKind::kMinimum] = {
      binary("minimum", x23(33), x23(34) + 0.05f, [](auto& a, auto& b) { return minimum(a, b); }),
      binary("minimum broadcast", x23(35), constant({0.1f, -0.3f, 0.7f}),
             [](auto& a, auto& b) { return minimum(a, b); })};
  c[OpKind::kMaximum] = {
      binary("maximum", x23(36), x23(37) + 0.05f, [](auto& a, auto& b) { return maximum(a, b); }),
      binary("maximum broadcast", x23(38), constant({0.1f, -0.3f, 0.7f}),
             [](auto& a, auto& b) { return maximum(a, b); })};
  // x / y kept away from integers (the jumps of floormod).
  c[OpKind::kMod] = {binary("mod", constant({{2.5f, -3.7f, 7.2f}, {-0.6f, 5.3f, -8.4f}}),
                            constant({1.5f, 2.f, -3.f}),
                            [](auto& a, auto& b) { return mod(a, b); })};
  c[OpKind::kSelect] = {Case{
      "select broadcast", {x23(39), uniform(Shape{3}, -1, 1, 40)}, [](std::span<const Tensor> in) {
        const Tensor cond =
            constant(std::vector<bool>{true, false, true, false, false, true}, Shape{2, 3});
        return where(cond, in[0], in[1]);
      }}};
  c[OpKind::kBroadcast] = {unary("broadcast_to", uniform(Shape{3, 1}, -1, 1, 41), [](auto& x) {
    return broadcast_to(x, Shape{2, 3, 4});
  })};
  // Through float32 the function is only float32-accurate: float32 steps and tolerances.
  Case to_f32 =
      unary("cast to float32", x23(42), [](auto& x) { return square(cast(x, DType::kFloat32)); });
  to_f32.options.step = 1e-2;
  to_f32.options.atol = 2e-3;
  to_f32.options.rtol = 2e-2;
  c[OpKind::kCast] = {to_f32, unary("cast to float16 and back", x23(43), [](auto& x) {
                        return cast(cast(x, DType::kFloat16), x.dtype()) * 3.0;
                      })};
  c[OpKind::kCast].back().options.step = 1e-1;
  c[OpKind::kCast].back().options.atol = 2e-2;
  c[OpKind::kCast].back().options.rtol = 5e-2;

  // ---- reductions and array ops ----
  const Shape s234{2, 3, 4};
  auto x234 = [&](uint64_t seed) { return uniform(s234, -2, 2, seed); };
  c[OpKind::kReduceSum] = {
      unary("reduce_sum all", x234(50), [](auto& x) { return reduce_sum(x); }),
      unary("reduce_sum axes", x234(51),
            [](auto& x) {
              return reduce_sum(x, {{0, 2}});
            }),
      unary("reduce_sum keepdims", x234(52), [](auto& x) { return reduce_sum(x, {{-1}}, true); })};
  c[OpKind::kReduceMean] = {
      unary("reduce_mean axis", x234(53), [](auto& x) { return reduce_mean(x, {{1}}); }),
      unary("reduce_mean keepdims", x234(54), [](auto& x) {
        return reduce_mean(x, {{0, 1}}, true);
      })};
  c[OpKind::kReduceMax] = {
      unary("reduce_max axis", separated(s234, 55), [](auto& x) { return reduce_max(x, {{1}}); }),
      unary("reduce_max all keepdims", separated(s234, 56),
            [](auto& x) { return reduce_max(x, {}, true); })};
  c[OpKind::kReduceMin] = {unary("reduce_min axes", separated(s234, 57), [](auto& x) {
    return reduce_min(x, {{0, 2}});
  })};
  c[OpKind::kReduceProd] = {unary("reduce_prod axis", away_from_zero(s234, 0.5, 1.5, 58),
                                  [](auto& x) { return reduce_prod(x, {{1}}); }),
                            unary("reduce_prod axes keepdims", away_from_zero(s234, 0.5, 1.5, 59),
                                  [](auto& x) {
                                    return reduce_prod(x, {{0, 2}}, true);
                                  }),
                            unary("reduce_prod all", away_from_zero(Shape{5}, 0.5, 1.5, 60),
                                  [](auto& x) { return reduce_prod(x); })};
  c[OpKind::kMatmul] = {
      binary("matmul", uniform(Shape{2, 3}, -1, 1, 61), uniform(Shape{3, 4}, -1, 1, 62),
             [](auto& a, auto& b) { return matmul(a, b); }),
      binary("matmul transpose_a", uniform(Shape{3, 2}, -1, 1, 63), uniform(Shape{3, 4}, -1, 1, 64),
             [](auto& a, auto& b) { return matmul(a, b, true); }),
      binary("matmul transpose_b", uniform(Shape{2, 3}, -1, 1, 65), uniform(Shape{4, 3}, -1, 1, 66),
             [](auto& a, auto& b) { return matmul(a, b, false, true); }),
      binary("matmul both transposed", uniform(Shape{3, 2}, -1, 1, 67),
             uniform(Shape{4, 3}, -1, 1, 68),
             [](auto& a, auto& b) { return matmul(a, b, true, true); }),
      binary("matmul batch broadcast", uniform(Shape{2, 2, 3}, -1, 1, 69),
             uniform(Shape{3, 2}, -1, 1, 70), [](auto& a, auto& b) { return matmul(a, b); })};
  c[OpKind::kCumsum] = {
      unary("cumsum", x234(71), [](auto& x) { return cumsum(x, 1); }),
      unary("cumsum exclusive", x234(72), [](auto& x) { return cumsum(x, 2, true); }),
      unary("cumsum reverse", x234(73), [](auto& x) { return cumsum(x, -1, false, true); }),
      unary("cumsum exclusive reverse", x234(74),
            [](auto& x) { return cumsum(x, 0, true, true); })};
  c[OpKind::kTranspose] = {unary("transpose", x234(75), [](auto& x) { return transpose(x); }),
                           unary("transpose perm", x234(76), [](auto& x) {
                             return transpose(x, {{1, 2, 0}});
                           })};
  c[OpKind::kReshape] = {unary("reshape", x234(77), [](auto& x) { return reshape(x, {4, -1}); })};
  c[OpKind::kExpandDims] = {
      unary("expand_dims", x23(78), [](auto& x) { return expand_dims(x, -1); })};
  c[OpKind::kSqueeze] = {
      unary("squeeze", uniform(Shape{2, 1, 3}, -1, 1, 79), [](auto& x) { return squeeze(x); })};
  c[OpKind::kConcat] = {Case{"concat axis 1",
                             {x23(80), uniform(Shape{2, 1}, -1, 1, 81), x23(82)},
                             [](std::span<const Tensor> in) {
                               return concat({in[0], in[1], in[2]}, 1);
                             }},
                        Case{"concat axis -1 of one", {x23(83)}, [](std::span<const Tensor> in) {
                               return concat({in[0]}, -1);
                             }}};
  c[OpKind::kSplit] = {unary("split num_split, one part unused", uniform(Shape{2, 6}, -1, 1, 84),
                             [](auto& x) {
                               auto p = split(x, 3, 1);
                               return concat({p[2], mul(p[0], p[0])}, 1);
                             }),
                       unary("split sizes", uniform(Shape{5, 2}, -1, 1, 85), [](auto& x) {
                         auto p = split(x, {2, -1}, 0);
                         return add(reduce_sum(p[0], {{0}}), reduce_sum(square(p[1]), {{0}}));
                       })};
  c[OpKind::kTile] = {unary("tile", x23(86),
                            [](auto& x) {
                              return tile(x, {2, 3});
                            }),
                      unary("tile rank 3", uniform(Shape{1, 2, 2}, -1, 1, 87), [](auto& x) {
                        return tile(x, {3, 1, 2});
                      })};
  c[OpKind::kPad] = {unary("pad", x23(88), [](auto& x) { return pad(x, {{1, 0}, {2, 1}}, 0.5); })};
  c[OpKind::kGather] = {
      Case{"gather axis 0, repeated indices",
           {uniform(Shape{4, 3}, -1, 1, 89), constant({2, 0, 2, 3, 2})},
           [](std::span<const Tensor> in) { return gather(in[0], in[1], 0); }},
      Case{"gather axis 1, 2-D indices",
           {uniform(Shape{2, 4, 3}, -1, 1, 90), constant({{1, 1}, {3, 0}, {2, 1}})},
           [](std::span<const Tensor> in) { return gather(in[0], in[1], 1); }},
      Case{"gather last axis", {x23(91), constant({2, 2, 0})}, [](std::span<const Tensor> in) {
             return gather(in[0], in[1], -1);
           }}};
  c[OpKind::kUnsortedSegmentSum] = {
      Case{"unsorted_segment_sum, repeated and dropped ids",
           {uniform(Shape{5, 3}, -1, 1, 92), constant({1, -1, 3, 1, 0})},
           [](std::span<const Tensor> in) { return unsorted_segment_sum(in[0], in[1], 4); }},
      Case{"unsorted_segment_sum, 2-D ids",
           {uniform(Shape{2, 3, 2}, -1, 1, 93), constant({{0, 2, 0}, {1, 1, 2}})},
           [](std::span<const Tensor> in) { return unsorted_segment_sum(in[0], in[1], 3); }}};
  c[OpKind::kAddN] = {Case{"add_n", {x23(94), x23(95), x23(96)}, [](std::span<const Tensor> in) {
                             return add_n({in[0], in[1], in[2], in[0]});
                           }}};
  c[OpKind::kTopK] = {
      unary("top_k", separated(Shape{3, 5}, 97), [](auto& x) { return top_k(x, 2).values; }),
      unary("top_k rank 3 unsorted", separated(Shape{2, 2, 4}, 98),
            [](auto& x) { return top_k(x, 3, false).values; })};
  c[OpKind::kStridedSlice] = {
      unary("slice", uniform(Shape{4, 5}, -1, 1, 99), [](auto& x) { return x["1:3, 2:"]; }),
      unary("reversed, strided", uniform(Shape{4, 5}, -1, 1, 100),
            [](auto& x) { return x["::-1, 1::2"]; }),
      unary("negative stride 2, shrink, newaxis", uniform(Shape{3, 4, 6}, -1, 1, 101),
            [](auto& x) { return x["newaxis, 1, -1:0:-2, ..."]; }),
      unary("ellipsis and index", uniform(Shape{2, 3, 4}, -1, 1, 102),
            [](auto& x) { return x["..., 2"]; })};
  // strided_update: what a traced sliced assignment of a Variable emits.
  const auto update = [](const Tensor& x, const Tensor& v, std::string_view index) {
    const std::vector<Index> indices = parse_index(index);
    const NormalizedIndex n = normalize_index(indices, x.shape());
    ir::Attrs attrs{{"begin", n.begin}, {"end", n.end}, {"strides", n.strides}};
    if (!n.shrink_axis.empty()) attrs["shrink_axis"] = n.shrink_axis;
    if (!n.new_axis.empty()) attrs["new_axis"] = n.new_axis;
    const Tensor in[] = {x, v};
    return dispatch(OpKind::kStridedUpdate, in, attrs);
  };
  c[OpKind::kStridedUpdate] = {
      binary("update a box", uniform(Shape{4, 5}, -1, 1, 103), uniform(Shape{2, 3}, -1, 1, 104),
             [=](auto& x, auto& v) { return update(x, v, "1:3, 2:"); }),
      binary("update reversed, strided, broadcast value", uniform(Shape{4, 5}, -1, 1, 105),
             uniform(Shape{2}, -1, 1, 106),
             [=](auto& x, auto& v) { return update(x, v, "::-1, 1::2"); }),
      binary("update with shrink and newaxis", uniform(Shape{3, 4, 6}, -1, 1, 107),
             uniform(Shape{2, 1}, -1, 1, 108),
             [=](auto& x, auto& v) { return update(x, v, "newaxis, 1, -1:0:-2, ..."); })};
  return c;
}

TEST(GradientRulesTest, EveryOpHasARuleCheckedByFiniteDifferences) {
  const auto cases = all_cases();
  int checked = 0;
  for (int k = 0; k < ir::kNumOpKinds; ++k) {
    const auto kind = static_cast<OpKind>(k);
    const std::string op(ir::mnemonic(kind));
    const gradients::RuleEntry& entry = gradients::rule_entry(kind);
    if (kNotUserDifferentiable.count(kind)) {
      EXPECT_EQ(entry.kind, gradients::Differentiability::kMissing) << op;
      EXPECT_EQ(cases.count(kind), 0u) << op;
      continue;
    }
    if (entry.kind == gradients::Differentiability::kNotDifferentiable) {
      EXPECT_EQ(cases.count(kind), 0u) << op << " is not differentiable but has a check case";
      continue;
    }
    ASSERT_EQ(entry.kind, gradients::Differentiability::kRule)
        << "op '" << op << "' has no gradient rule: add one (runtime/gradients) or mark it";
    auto it = cases.find(kind);
    ASSERT_TRUE(it != cases.end() && !it->second.empty())
        << "op '" << op << "' has a gradient rule but no gradient-check case";
    for (const Case& c : it->second) {
      SCOPED_TRACE(c.name);
      const testing::GradientCheckReport r = check_gradients(c.fn, c.inputs, c.options);
      EXPECT_TRUE(r.passed) << op << " / " << c.name << ": " << r.to_string();
      ++checked;
    }
  }
  EXPECT_GE(checked, 80);
}

// Evaluates ops with the eager kernels and keeps the operands and attributes of the first op of
// `kind` it sees.
class CapturingEvaluator : public ir::Evaluator {
 public:
  explicit CapturingEvaluator(OpKind kind) : kind_(kind) {}
  absl::StatusOr<std::vector<ir::Literal>> evaluate(
      const ir::Op& op, std::span<const ir::Literal* const> operands) override {
    if (op.kind() == kind_ && !found) {
      found = true;
      attrs = op.attrs();
      for (const ir::Literal* l : operands) inputs.push_back(*l);
    }
    return kernels_.evaluate(op, operands);
  }
  bool found = false;
  ir::Attrs attrs;
  std::vector<ir::Literal> inputs;

 private:
  OpKind kind_;
  KernelEvaluator kernels_;
};

Tensor tensor_of(const ir::Literal& l) {
  return from_buffer(l.data(), l.type().dtype, l.type().shape);
}
ir::Literal literal_of(const Tensor& t) {
  ir::Literal l(ir::Type{t.dtype(), t.shape()});
  std::memcpy(l.data(), t.raw_data(), l.size_bytes());
  return l;
}
std::vector<Tensor> apply(OpKind kind, std::span<const Tensor> in, const ir::Attrs& attrs) {
  if (ir::has_multiple_results(kind)) return dispatch_multi(kind, in, attrs);
  return {dispatch(kind, in, attrs)};
}

// Each rule traced into IR (as the autodiff pass uses it) computes what it computes eagerly.
// The op's operands and attributes come from tracing and running the op's first check case,
// which also shows that the case really applies the op.
TEST(GradientRulesTest, RulesTraceToTheSameValues) {
  int traced_rules = 0;
  for (const auto& [kind, cases] : all_cases()) {
    const std::string op(ir::mnemonic(kind));
    SCOPED_TRACE(op);
    const Case& c = cases.front();
    ir::Function fn("check_case");
    std::vector<ir::Literal> args;
    {
      TraceContext trace(&fn);
      std::vector<Tensor> xs;
      for (const Tensor& x : c.inputs) {
        xs.push_back(trace.add_argument(ir::Type{x.dtype(), x.shape()}));
        args.push_back(literal_of(x));
      }
      trace.set_results(std::vector<Tensor>{c.fn(xs)});
    }
    CapturingEvaluator capture(kind);
    ASSERT_TRUE(ir::interpret(fn, args, capture).ok()) << op;
    ASSERT_TRUE(capture.found) << "the check case of '" << op << "' does not apply it";

    // Eagerly.
    std::vector<Tensor> inputs;
    for (const ir::Literal& l : capture.inputs) inputs.push_back(tensor_of(l));
    const std::vector<Tensor> outputs = apply(kind, inputs, capture.attrs);
    std::vector<std::optional<Tensor>> dys;
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (is_floating(outputs[i].dtype())) {
        dys.emplace_back(uniform(outputs[i].shape(), -1, 1, 500 + i));
      } else {
        dys.emplace_back();
      }
    }
    const gradients::Rule rule = gradients::rule_for(kind);
    const gradients::OpCall call{kind, capture.attrs, inputs, outputs};
    const gradients::Cotangents eager = rule(call, dys);

    // Traced, then interpreted.
    ir::Function g("rule");
    std::vector<ir::Literal> g_args;
    std::vector<size_t> present;
    {
      TraceContext trace(&g);
      std::vector<Tensor> sym_inputs;
      for (const Tensor& x : inputs) {
        sym_inputs.push_back(trace.add_argument(ir::Type{x.dtype(), x.shape()}));
        g_args.push_back(literal_of(x));
      }
      std::vector<std::optional<Tensor>> sym_dys;
      for (const auto& dy : dys) {
        if (!dy) {
          sym_dys.emplace_back();
          continue;
        }
        sym_dys.emplace_back(trace.add_argument(ir::Type{dy->dtype(), dy->shape()}));
        g_args.push_back(literal_of(*dy));
      }
      const std::vector<Tensor> sym_outputs = apply(kind, sym_inputs, capture.attrs);
      const gradients::OpCall sym_call{kind, capture.attrs, sym_inputs, sym_outputs};
      const gradients::Cotangents traced = rule(sym_call, sym_dys);
      ASSERT_EQ(traced.size(), eager.size());
      std::vector<Tensor> results;
      for (size_t i = 0; i < traced.size(); ++i) {
        ASSERT_EQ(traced[i].has_value(), eager[i].has_value()) << "input " << i;
        if (!traced[i]) continue;
        present.push_back(i);
        results.push_back(*traced[i]);
      }
      trace.set_results(results);
    }
    KernelEvaluator kernels;
    auto values = ir::interpret(g, g_args, kernels);
    ASSERT_TRUE(values.ok()) << values.status();
    ASSERT_EQ(values->size(), present.size());
    for (size_t r = 0; r < present.size(); ++r) {
      const Tensor& want = *eager[present[r]];
      const Tensor got = tensor_of((*values)[r]);
      ASSERT_EQ(got.shape(), want.shape()) << "input " << present[r];
      const std::vector<float> a = got.to_vector<float>(), b = want.to_vector<float>();
      for (size_t e = 0; e < a.size(); ++e) {
        EXPECT_NEAR(a[e], b[e], 1e-6 * std::max(1.f, std::abs(b[e])))
            << "input " << present[r] << " element " << e;
      }
    }
    ++traced_rules;
  }
  int with_rules = 0;
  for (int k = 0; k < ir::kNumOpKinds; ++k) {
    with_rules +=
        gradients::rule_entry(static_cast<OpKind>(k)).kind == gradients::Differentiability::kRule;
  }
  EXPECT_EQ(traced_rules, with_rules);
}

// Ops marked not differentiable: the tape connects nothing through them.
TEST(GradientRulesTest, NotDifferentiableOpsGiveNoGradient) {
  const Tensor x = constant({0.5f, 1.5f, -2.5f});
  GradientTape tape({.persistent = true});
  tape.watch(x);
  const Tensor outs[] = {floor(x),
                         ceil(x),
                         round(x),
                         floordiv(x, constant(2.f)),
                         cast(greater(x, constant(0.f)), DType::kFloat32),
                         stop_gradient(x),
                         one_hot(argmax(x), 3)};
  for (const Tensor& y : outs) EXPECT_FALSE(tape.gradient(y, x).has_value());
}

// ---- Targeted edge cases ---------------------------------------------------------------------

std::vector<float> grad_of(const std::function<Tensor(const Tensor&)>& f, const Tensor& x) {
  GradientTape tape;
  tape.watch(x);
  const Tensor y = f(x);
  auto g = tape.gradient(y, x);
  return g ? g->to_vector<float>() : std::vector<float>{};
}

TEST(GradientRulesTest, PowAtZeroAndNegativeBase) {
  const Tensor x = constant({0.f, -2.f, 2.f});
  const Tensor p = constant({2.f, 3.f, 0.5f});
  GradientTape tape;
  tape.watch(x);
  tape.watch(p);
  auto g = tape.gradient(pow(x, p), {x, p});
  // d/dx = p x^(p-1): 0 at x = 0, 12 at x = -2; d/dp = x^p log x only where x > 0 (TF).
  EXPECT_EQ(g[0]->to_vector<float>(), (std::vector<float>{0.f, 12.f, 0.5f / std::sqrt(2.f)}));
  const std::vector<float> dp = g[1]->to_vector<float>();
  EXPECT_EQ(dp[0], 0.f);
  EXPECT_EQ(dp[1], 0.f);
  EXPECT_NEAR(dp[2], std::sqrt(2.f) * std::log(2.f), 1e-6);
}

TEST(GradientRulesTest, MaxAndMinTies) {
  // reduce_max shares the cotangent among tied maxima (TF); maximum/minimum give it to x.
  EXPECT_EQ(grad_of([](auto& x) { return reduce_max(x); }, constant({1.f, 3.f, 3.f})),
            (std::vector<float>{0.f, 0.5f, 0.5f}));
  EXPECT_EQ(grad_of([](auto& x) { return reduce_min(x, {{1}}); },
                    constant({{2.f, 2.f, 2.f}, {1.f, 0.f, 4.f}})),
            (std::vector<float>{1.f / 3, 1.f / 3, 1.f / 3, 0.f, 1.f, 0.f}));
  const Tensor a = constant({1.f, 2.f, 3.f}), b = constant({1.f, 5.f, 0.f});
  GradientTape tape({.persistent = true});
  tape.watch(a);
  tape.watch(b);
  const Tensor mx = maximum(a, b), mn = minimum(a, b);
  auto gmax = tape.gradient(mx, {a, b});
  EXPECT_EQ(gmax[0]->to_vector<float>(), (std::vector<float>{1.f, 0.f, 1.f}));
  EXPECT_EQ(gmax[1]->to_vector<float>(), (std::vector<float>{0.f, 1.f, 0.f}));
  auto gmin = tape.gradient(mn, {a, b});
  EXPECT_EQ(gmin[0]->to_vector<float>(), (std::vector<float>{1.f, 1.f, 0.f}));
  EXPECT_EQ(gmin[1]->to_vector<float>(), (std::vector<float>{0.f, 0.f, 1.f}));
}

TEST(GradientRulesTest, ReduceProdWithZeros) {
  // One zero: only the zero's position sees the product of the others.
  EXPECT_EQ(grad_of([](auto& x) { return reduce_prod(x); }, constant({2.f, 0.f, 3.f})),
            (std::vector<float>{0.f, 6.f, 0.f}));
  // Two zeros: every partial is zero.
  EXPECT_EQ(grad_of([](auto& x) { return reduce_prod(x); }, constant({0.f, 4.f, 0.f})),
            (std::vector<float>{0.f, 0.f, 0.f}));
  // Per row, keepdims, with and without zeros.
  EXPECT_EQ(grad_of([](auto& x) { return reduce_prod(x, {{1}}, true); },
                    constant({{2.f, 0.f, 5.f, 1.f}, {1.f, 2.f, 3.f, 4.f}})),
            (std::vector<float>{0.f, 10.f, 0.f, 0.f, 24.f, 12.f, 8.f, 6.f}));
  // Underflowing products still give the exact partials of the other elements.
  std::vector<float> tiny(8, 1e-6f);
  tiny[3] = 0.f;
  const std::vector<float> g =
      grad_of([](auto& x) { return reduce_prod(x); }, constant(tiny, Shape{8}));
  EXPECT_FLOAT_EQ(g[3], 1e-42f);
  EXPECT_EQ(g[0], 0.f);
}

TEST(GradientRulesTest, SoftmaxAndLogsumexpWithHugeLogits) {
  const Tensor logits = constant({{1000.f, 0.f, -1000.f}, {1000.f, 1000.f, 999.f}});
  const Tensor w = constant({{1.f, 2.f, 3.f}, {-1.f, 0.5f, 2.f}});
  auto finite = [](const std::vector<float>& v) {
    for (float x : v) {
      if (!std::isfinite(x)) return false;
    }
    return true;
  };
  // d logsumexp / dx = softmax(x).
  const std::vector<float> g = grad_of([](auto& x) { return reduce_logsumexp(x, {{1}}); }, logits);
  ASSERT_TRUE(finite(g));
  const std::vector<float> sm = softmax(logits).to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], sm[i], 1e-6) << i;
  EXPECT_FLOAT_EQ(g[0], 1.f);
  EXPECT_TRUE(finite(grad_of([&](auto& x) { return mul(softmax(x), w); }, logits)));
  EXPECT_TRUE(finite(grad_of([&](auto& x) { return mul(log_softmax(x), w); }, logits)));
  // log_softmax's gradient: w - softmax * sum(w) per row.
  const std::vector<float> gl = grad_of([&](auto& x) { return mul(log_softmax(x), w); }, logits);
  const std::vector<float> wv = w.to_vector<float>();
  for (int r = 0; r < 2; ++r) {
    const float sw = wv[3 * r] + wv[3 * r + 1] + wv[3 * r + 2];
    for (int j = 0; j < 3; ++j) {
      EXPECT_NEAR(gl[3 * r + j], wv[3 * r + j] - sm[3 * r + j] * sw, 1e-5);
    }
  }
  // The composites also pass a finite-difference check on ordinary logits.
  for (auto f : std::vector<GradientFunction>{
           [](std::span<const Tensor> x) { return softmax(x[0]); },
           [](std::span<const Tensor> x) { return log_softmax(x[0], 0); },
           [](std::span<const Tensor> x) { return reduce_logsumexp(x[0], {{1}}); },
           [](std::span<const Tensor> x) { return clip_by_value(x[0], -0.5, 0.8); }}) {
    const testing::GradientCheckReport r = check_gradients(f, {uniform(Shape{3, 4}, -2, 2, 7)});
    EXPECT_TRUE(r.passed) << r.to_string();
  }
}

// where(cond, f(x), 0) with f's derivative Inf/NaN where cond is false: the cotangent stays 0.
TEST(GradientRulesTest, MaskedBranchesKeepExactZeros) {
  const Tensor x = constant({0.f, 4.f});
  const Tensor zero = constant(0.f);
  auto positive = [&](const Tensor& v) { return greater(v, zero); };
  EXPECT_EQ(grad_of([&](auto& v) { return where(positive(v), log(v), zero); }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return where(positive(v), sqrt(v), zero); }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return where(positive(v), div(constant(1.f), v), zero); }, x),
            (std::vector<float>{0.f, -1.f / 16}));
  EXPECT_EQ(grad_of([&](auto& v) { return where(positive(v), pow(v, constant(0.5f)), zero); }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return where(positive(v), rsqrt(v), zero); }, x),
            (std::vector<float>{0.f, -1.f / 16}));
  // Through a mask made by relu/maximum rather than where.
  EXPECT_EQ(grad_of([&](auto& v) { return sqrt(relu(v)); }, constant({-1.f, 4.f})),
            (std::vector<float>{0.f, 0.25f}));
  // Elements a gather, split, slice or top_k leaves out get exact zeros too.
  EXPECT_EQ(grad_of([&](auto& v) { return gather(log(v), constant({1})); }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return split(log(v), 2)[1]; }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return log(v)["1:"]; }, x), (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return top_k(log(v), 1).values; }, x),
            (std::vector<float>{0.f, 0.25f}));
  EXPECT_EQ(grad_of([&](auto& v) { return reduce_max(log(v)); }, x),
            (std::vector<float>{0.f, 0.25f}));
}

TEST(GradientRulesTest, Relu6AndClipAtTheKinks) {
  EXPECT_EQ(grad_of([](auto& x) { return relu6(x); }, constant({0.f, 6.f, 3.f, -1.f, 7.f})),
            (std::vector<float>{0.f, 0.f, 1.f, 0.f, 0.f}));
  // clip_by_value = minimum(maximum(x, lo), hi): at the bounds x wins the ties (TF's
  // maximum/minimum), so the gradient there is 1.
  EXPECT_EQ(grad_of([](auto& x) { return clip_by_value(x, -1.f, 1.f); },
                    constant({-1.f, 1.f, 0.f, -2.f, 2.f})),
            (std::vector<float>{1.f, 1.f, 1.f, 0.f, 0.f}));
  EXPECT_EQ(grad_of([](auto& x) { return abs(x); }, constant({-2.f, 0.f, 3.f})),
            (std::vector<float>{-1.f, 0.f, 1.f}));
  EXPECT_EQ(grad_of([](auto& x) { return leaky_relu(x, 0.1); }, constant({-2.f, 0.f, 3.f})),
            (std::vector<float>{0.1f, 0.1f, 1.f}));
}

TEST(GradientRulesTest, GatherAndTopKScatterTheCotangent) {
  const Tensor params = constant({10.f, 20.f, 30.f});
  GradientTape tape;
  tape.watch(params);
  const Tensor y = gather(params, constant({2, 0, 2}));
  auto g = tape.gradient(y, {params}, constant({1.f, 2.f, 4.f}));
  EXPECT_EQ(g[0]->to_vector<float>(), (std::vector<float>{2.f, 0.f, 5.f}));
  EXPECT_EQ(grad_of([](auto& x) { return top_k(x, 2).values; }, constant({3.f, 9.f, 1.f, 5.f})),
            (std::vector<float>{0.f, 1.f, 0.f, 1.f}));
  EXPECT_EQ(grad_of([](auto& x) { return x["::-2"]; }, constant({1.f, 2.f, 3.f, 4.f, 5.f})),
            (std::vector<float>{1.f, 0.f, 1.f, 0.f, 1.f}));
}

// The rules' own ops are differentiable: second derivatives through nested tapes also match
// finite differences (of the first derivative).
TEST(GradientRulesTest, SecondDerivativesMatchFiniteDifferences) {
  const std::vector<std::pair<std::string, Fn1>> fns = {
      {"sin", [](auto& x) { return sin(x); }},
      {"tanh", [](auto& x) { return tanh(x); }},
      {"sigmoid", [](auto& x) { return sigmoid(x); }},
      {"softplus", [](auto& x) { return softplus(x); }},
      {"gelu", [](auto& x) { return gelu(x); }},
      {"elu", [](auto& x) { return elu(x); }},
      {"log1p", [](auto& x) { return log1p(square(x)); }},
      {"pow", [](auto& x) { return pow(abs(x) + 0.5f, x); }},
      {"reduce_prod", [](auto& x) { return reduce_prod(x, {{1}}); }},
      {"log_softmax", [](auto& x) { return log_softmax(x); }},
      {"reduce_logsumexp", [](auto& x) { return reduce_logsumexp(x, {{0}}); }},
      {"matmul", [](auto& x) { return matmul(x, x, false, true); }},
      {"gather",
       [](auto& x) {
         return square(gather(x, constant({2, 0, 2}), 1));
       }},
      {"strided_slice", [](auto& x) { return exp(x["::-1, 1:"]); }},
  };
  for (const auto& [name, f] : fns) {
    SCOPED_TRACE(name);
    const GradientFunction first = [f](std::span<const Tensor> in) {
      GradientTape inner;
      inner.watch(in[0]);
      const Tensor y = f(in[0]);
      return *inner.gradient(y, in[0]);
    };
    const testing::GradientCheckReport r =
        check_gradients(first, {away_from_zero(Shape{2, 3}, 0.2, 1.5, 9)});
    EXPECT_TRUE(r.passed) << name << ": " << r.to_string();
  }
}

TEST(GradientRulesTest, MissingRuleNamesTheOp) {
  EXPECT_EQ(invalid_argument_of([] { gradients::rule_for(OpKind::kFusion); }),
            "gradient: op 'fusion' has no gradient rule; cannot differentiate through it");
  EXPECT_EQ(invalid_argument_of([] { gradients::rule_for(OpKind::kFloor); }),
            "gradient: op 'floor' is not differentiable; cannot differentiate through it");
  EXPECT_NE(gradients::rule_for(OpKind::kGather), nullptr);
}

// ---- check_gradients itself ------------------------------------------------------------------

// x^3 with a deliberately wrong derivative for element 1 onwards (3x^2 + 1).
Tensor wrong_cube(const Tensor& x) {
  auto f = custom_gradient([](const Tensor& v) {
    Tensor y = mul(v, square(v));
    return std::pair{y, [v](const Tensor& dy) {
                       return mul(dy, add(mul(square(v), scalar_like(v, 3.0, "test")),
                                          cast(constant({0.f, 1.f, 1.f}), v.dtype())));
                     }};
  });
  return f(x);
}

TEST(GradientCheckTest, ReportsTheFailingElement) {
  const GradientFunction fn = [](std::span<const Tensor> in) {
    return add(wrong_cube(in[1]), in[0]);
  };
  const Tensor a = constant({1.f, 2.f, 3.f}), b = constant({0.5f, 1.f, 2.f});
  const testing::GradientCheckReport r = check_gradients(fn, {a, b});
  EXPECT_FALSE(r.passed);
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_TRUE(r.inputs[0].passed);
  EXPECT_FALSE(r.inputs[1].passed);
  ASSERT_TRUE(r.inputs[1].worst.has_value());
  EXPECT_EQ(r.inputs[1].worst->element, 1);
  EXPECT_EQ(r.inputs[1].worst->coords, "[1]");
  // The analytic value is weighted by w; the numeric one agrees with 3x^2 w.
  EXPECT_NEAR(r.inputs[1].worst->analytic / r.inputs[1].worst->numeric, 4.f / 3.f, 1e-3);
  const std::string message = [&] {
    try {
      testing::expect_gradients_close(fn, {a, b});
    } catch (const testing::GradientCheckError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  }();
  EXPECT_EQ(message.rfind("gradient check failed for input #1 at element 1 [1]: analytic ", 0), 0u)
      << message;
  EXPECT_NE(message.find(", numeric "), std::string::npos) << message;
  EXPECT_NO_THROW(testing::expect_gradients_close(
      [](std::span<const Tensor> in) { return mul(in[0], in[0]); }, {a}));
}

TEST(GradientCheckTest, SkipsNonFloatingInputsAndRejectsBadOnes) {
  const testing::GradientCheckReport r =
      check_gradients([](std::span<const Tensor> in) { return gather(in[0], in[1]); },
                      {constant({1.f, 2.f}), constant({1, 1, 0})});
  EXPECT_TRUE(r.passed) << r.to_string();
  EXPECT_FALSE(r.inputs[1].checked);
  EXPECT_EQ(invalid_argument_of([] {
              check_gradients([](std::span<const Tensor> in) { return argmax(in[0]); },
                              {constant({1.f, 2.f})});
            }),
            "check_gradients: the function returned a int32 tensor; gradients need a floating "
            "result");
  EXPECT_EQ(invalid_argument_of([] {
              check_gradients([](std::span<const Tensor> in) { return in[0]; }, {Tensor()});
            }),
            "check_gradients: input #0 is empty");
  EXPECT_EQ(invalid_argument_of([] {
              check_gradients([](std::span<const Tensor>) { return Tensor(); }, {constant({1.f})});
            }),
            "check_gradients: the function returned no tensor");
  EXPECT_EQ(invalid_argument_of([] {
              check_gradients([](std::span<const Tensor> in) { return in[0]; }, {constant({1.f})},
                              {.dtype = DType::kInt32});
            }),
            "check_gradients: the evaluation dtype must be floating, got int32");
  ir::Function fn("f");
  TraceContext trace(&fn);
  const Tensor symbolic = trace.add_argument(ir::Type{float32, Shape{2}});
  EXPECT_EQ(invalid_argument_of([&] {
              check_gradients([](std::span<const Tensor> in) { return in[0]; }, {symbolic});
            }),
            "check_gradients: input #0 is symbolic; pass concrete tensors");
  EXPECT_EQ(invalid_argument_of([] {
              testing::numeric_gradient([](std::span<const Tensor> in) { return in[0]; },
                                        {constant(1.f), Tensor()}, 1e-2);
            }),
            "numeric_gradient: input #1 is empty");
}

// The chapter's example f(w1, w2) = 3 w1^2 + 2 w1 w2 at (5, 3): the true partials are 36 and
// 10; in float64 the forward difference with eps = 1e-6 gives 36.000003 and 10.000000003.
// The chapter's forward differences, in float64 as Python evaluates them: (36.000003..., 10.0...).
TEST(GradientCheckTest, NumericGradientOfTheChapterExampleInFloat64) {
  const GradientFunction f = [](std::span<const Tensor> w) {
    const Tensor three = constant(3.0, DType::kFloat64), two = constant(2.0, DType::kFloat64);
    return add(mul(three, square(w[0])), mul(mul(two, w[0]), w[1]));
  };
  const Tensor w1 = constant(5.0, DType::kFloat64), w2 = constant(3.0, DType::kFloat64);
  auto fwd = testing::numeric_gradient(f, {w1, w2}, 1e-6, testing::Difference::kForward);
  EXPECT_DOUBLE_EQ(fwd[0].item<double>(), 36.000003007075065);
  EXPECT_DOUBLE_EQ(fwd[1].item<double>(), 10.000000003174137);
}

TEST(GradientCheckTest, NumericGradientOfTheChapterExample) {
  const GradientFunction f = [](std::span<const Tensor> w) {
    return add(mul(constant(3.f), square(w[0])), mul(mul(constant(2.f), w[0]), w[1]));
  };
  const Tensor w1 = constant(5.f), w2 = constant(3.f);
  // float32 has a spacing of 4.8e-7 at 5 and 7.6e-6 at f = 105: eps = 1e-6 moves w1 by 2 ulps
  // and f by a handful of ulps, so the estimates are coarse: central differences give 40 and 8
  // (f changes by a whole number of its ulps), forward ones 38.15 and 7.63 (over eps as written).
  auto fwd = testing::numeric_gradient(f, {w1, w2}, 1e-6, testing::Difference::kForward);
  auto central = testing::numeric_gradient(f, {w1, w2}, 1e-6);
  std::printf("forward, eps 1e-6: %.9g %.9g; central: %.9g %.9g\n", fwd[0].item<float>(),
              fwd[1].item<float>(), central[0].item<float>(), central[1].item<float>());
  EXPECT_NEAR(fwd[0].item<float>(), 36.f, 36.f * 0.25f);
  EXPECT_NEAR(fwd[1].item<float>(), 10.f, 10.f * 0.5f);
  EXPECT_NEAR(central[0].item<float>(), 36.f, 36.f * 0.25f);
  EXPECT_NEAR(central[1].item<float>(), 10.f, 10.f * 0.5f);
  // A step suited to float32: f is quadratic, so central differences are exact up to rounding.
  auto good = testing::numeric_gradient(f, {w1, w2}, 1e-2);
  EXPECT_NEAR(good[0].item<float>(), 36.f, 2e-3);
  EXPECT_NEAR(good[1].item<float>(), 10.f, 2e-3);
  EXPECT_EQ(invalid_argument_of([&] {
              testing::numeric_gradient(f, {w1, w2}, 1e-9);
            }),
            "numeric_gradient: eps = 1e-09 is below the float32 spacing at input #0 element 0 "
            "(value 5)");
  EXPECT_EQ(invalid_argument_of([&] {
              testing::numeric_gradient(f, {w1, w2}, 0);
            }),
            "numeric_gradient: eps must be positive, got 0");
}

}  // namespace
}  // namespace kiln
