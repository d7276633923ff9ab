// kiln — gradient rules of the elementwise ops.
#include "runtime/array_ops.h"
#include "runtime/gradients/rules.h"
#include "runtime/math_ops.h"

namespace kiln::gradients {
namespace {

using Dys = std::span<const std::optional<Tensor>>;
using ir::OpKind;

const Tensor& x0(const OpCall& c) { return c.inputs[0]; }
const Tensor& y0(const OpCall& c) { return c.outputs[0]; }

// dy / d, keeping masked zeros exact.
Tensor scaled_div(const OpCall& c, const Tensor& dy, const Tensor& d) {
  return c.masked ? scale(c, dy, div(scalar_of(d, 1.0), d)) : div(dy, d);
}

// Cotangents of a binary op whose local partials are dy_a and dy_b (full result shape).
Cotangents binary(const OpCall& c, std::optional<Tensor> da, std::optional<Tensor> db) {
  Cotangents out(2);
  if (da) out[0] = unbroadcast(*da, c.inputs[0].shape());
  if (db) out[1] = unbroadcast(*db, c.inputs[1].shape());
  return out;
}

void set(RuleTable& t, OpKind k, Rule r, bool masks = false) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kRule, r, masks};
}
void none(RuleTable& t, OpKind k) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kNotDifferentiable, nullptr, false};
}

}  // namespace

void register_elementwise_rules(RuleTable& t) {
  set(t, OpKind::kNeg, [](const OpCall&, Dys d) -> Cotangents { return {neg(*d[0])}; });
  set(
      t, OpKind::kAbs,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], sign(x0(c)))}; },
      /*masks=*/true);
  set(t, OpKind::kSquare, [](const OpCall& c, Dys d) -> Cotangents {
    return {scale(c, *d[0], mul(x0(c), scalar_of(x0(c), 2.0)))};
  });
  set(t, OpKind::kExp,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], y0(c))}; });
  set(t, OpKind::kLog,
      [](const OpCall& c, Dys d) -> Cotangents { return {scaled_div(c, *d[0], x0(c))}; });
  set(t, OpKind::kSqrt, [](const OpCall& c, Dys d) -> Cotangents {
    return {scaled_div(c, *d[0], mul(y0(c), scalar_of(y0(c), 2.0)))};
  });
  set(t, OpKind::kRsqrt, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& y = y0(c);
    return {scale(c, *d[0], mul(mul(y, mul(y, y)), scalar_of(y, -0.5)))};
  });
  set(t, OpKind::kTanh, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& y = y0(c);
    return {scale(c, *d[0], sub(scalar_of(y, 1.0), square(y)))};
  });
  set(t, OpKind::kSigmoid, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& y = y0(c);
    return {scale(c, *d[0], mul(y, sub(scalar_of(y, 1.0), y)))};
  });
  // softplus'(x) = sigmoid(x): finite for every x (no exp overflow).
  set(t, OpKind::kSoftplus,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], sigmoid(x0(c)))}; });
  set(
      t, OpKind::kRelu,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor& y = y0(c);
        return {where(greater(y, scalar_of(y, 0.0)), *d[0], scalar_of(y, 0.0))};
      },
      /*masks=*/true);

  set(t, OpKind::kAdd,
      [](const OpCall& c, Dys d) -> Cotangents { return binary(c, *d[0], *d[0]); });
  set(t, OpKind::kSub,
      [](const OpCall& c, Dys d) -> Cotangents { return binary(c, *d[0], neg(*d[0])); });
  set(t, OpKind::kMul, [](const OpCall& c, Dys d) -> Cotangents {
    return binary(c, scale(c, *d[0], c.inputs[1]), scale(c, *d[0], c.inputs[0]));
  });
  // d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b.
  set(t, OpKind::kDiv, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& b = c.inputs[1];
    Tensor da = scaled_div(c, *d[0], b);
    Tensor db = neg(scaled_div(c, scale(c, *d[0], y0(c)), b));
    return binary(c, da, db);
  });
  // select(cond, a, b): the cotangent goes to the chosen branch; the other gets exact zeros.
  set(
      t, OpKind::kSelect,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor& cond = c.inputs[0];
        const Tensor zero = scalar_of(*d[0], 0.0);
        Cotangents out(3);
        out[1] = unbroadcast(where(cond, *d[0], zero), c.inputs[1].shape());
        out[2] = unbroadcast(where(cond, zero, *d[0]), c.inputs[2].shape());
        return out;
      },
      /*masks=*/true);
  set(t, OpKind::kBroadcast,
      [](const OpCall& c, Dys d) -> Cotangents { return {unbroadcast(*d[0], x0(c).shape())}; });
  // Between floating dtypes the cotangent casts back; to or from integers and bool nothing flows.
  set(t, OpKind::kCast, [](const OpCall& c, Dys d) -> Cotangents {
    if (!is_floating(x0(c).dtype()) || !is_floating(y0(c).dtype())) return {std::nullopt};
    return {cast(*d[0], x0(c).dtype())};
  });

  for (OpKind k :
       {OpKind::kLess, OpKind::kGreater, OpKind::kLessEqual, OpKind::kGreaterEqual, OpKind::kEqual,
        OpKind::kNotEqual, OpKind::kLogicalAnd, OpKind::kLogicalOr, OpKind::kLogicalNot,
        OpKind::kFloor, OpKind::kCeil, OpKind::kRound, OpKind::kFloorDiv}) {
    none(t, k);
  }
}

}  // namespace kiln::gradients
