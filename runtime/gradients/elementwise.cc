// kiln — gradient rules of the elementwise ops.
#include "runtime/array_ops.h"
#include "runtime/gradients/rules.h"
#include "runtime/kernels/math_functions.h"
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

  // TF's SignGrad: zeros (sign is flat wherever it is differentiable).
  set(
      t, OpKind::kSign,
      [](const OpCall& c, Dys) -> Cotangents {
        return {broadcast_to(scalar_of(x0(c), 0.0), x0(c).shape())};
      },
      /*masks=*/true);
  set(t, OpKind::kExpm1,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], exp(x0(c)))}; });
  set(t, OpKind::kLog1p, [](const OpCall& c, Dys d) -> Cotangents {
    return {scaled_div(c, *d[0], add(scalar_of(x0(c), 1.0), x0(c)))};
  });
  set(t, OpKind::kSin,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], cos(x0(c)))}; });
  set(t, OpKind::kCos,
      [](const OpCall& c, Dys d) -> Cotangents { return {scale(c, *d[0], neg(sin(x0(c))))}; });
  // relu6: the cotangent passes where 0 < x < 6 (TF's Relu6Grad; 0 at both kinks).
  set(
      t, OpKind::kRelu6,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor& x = x0(c);
        const Tensor inside =
            logical_and(greater(x, scalar_of(x, 0.0)), less(x, scalar_of(x, 6.0)));
        return {where(inside, *d[0], scalar_of(x, 0.0))};
      },
      /*masks=*/true);
  // leaky_relu: slope 1 where x > 0, else alpha (TF's LeakyReluGrad).
  set(t, OpKind::kLeakyRelu, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    const double alpha = ir::attr_or<double>(c.attrs, "alpha", 0.2);
    return {where(greater(x, scalar_of(x, 0.0)), *d[0], mul(*d[0], scalar_of(x, alpha)))};
  });
  // elu'(x) = exp(x) = y + 1 for x < 0 (TF's EluGrad uses the output), 1 elsewhere.
  set(t, OpKind::kElu, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& y = y0(c);
    return {where(less(y, scalar_of(y, 0.0)), scale(c, *d[0], add(y, scalar_of(y, 1.0))), *d[0])};
  });
  // selu'(x) = y + scale * alpha for x < 0, scale elsewhere (TF's SeluGrad).
  set(t, OpKind::kSelu, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& y = y0(c);
    const Tensor neg_part = scale(
        c, *d[0], add(y, scalar_of(y, kernels::math::kSeluScale * kernels::math::kSeluAlpha)));
    return {where(less(y, scalar_of(y, 0.0)), neg_part,
                  mul(*d[0], scalar_of(y, kernels::math::kSeluScale)))};
  });
  // gelu(x) = x Phi(x), gelu'(x) = Phi(x) + x phi(x). Phi comes from the op itself as
  // gelu(x) / x (kiln has no public erf), and from its Taylor series 1/2 + x phi(0) near 0 where
  // the quotient is inexact (the series' error there is below float precision).
  set(t, OpKind::kGelu, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    const Tensor& y = y0(c);
    const double inv_sqrt_2pi = 0.39894228040143267794;
    const Tensor near0 = less(abs(x), scalar_of(x, 1e-3));
    const Tensor safe_x = where(near0, scalar_of(x, 1.0), x);
    const Tensor cdf =
        where(near0, add(scalar_of(x, 0.5), mul(x, scalar_of(x, inv_sqrt_2pi))), div(y, safe_x));
    const Tensor pdf = mul(exp(mul(square(x), scalar_of(x, -0.5))), scalar_of(x, inv_sqrt_2pi));
    return {scale(c, *d[0], add(cdf, mul(x, pdf)))};
  });

  // pow(x, p): d/dx = p x^(p-1); d/dp = z log(x) where x > 0 and 0 elsewhere (TF's PowGrad).
  set(t, OpKind::kPow, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor &x = c.inputs[0], &p = c.inputs[1], &z = y0(c);
    const Tensor& dy = *d[0];
    Tensor dx = scale(c, dy, mul(p, pow(x, sub(p, scalar_of(p, 1.0)))));
    const Tensor positive = greater(x, scalar_of(x, 0.0));
    const Tensor log_x =
        where(positive, log(where(positive, x, scalar_of(x, 1.0))), scalar_of(x, 0.0));
    Tensor dp = scale(c, dy, mul(z, log_x));
    return binary(c, dx, dp);
  });
  // minimum/maximum: the cotangent goes to x where x wins or ties (x <= y for minimum, x >= y
  // for maximum, as TF), to y elsewhere.
  set(
      t, OpKind::kMaximum,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor to_x = greater_equal(c.inputs[0], c.inputs[1]);
        const Tensor zero = scalar_of(*d[0], 0.0);
        return binary(c, where(to_x, *d[0], zero), where(to_x, zero, *d[0]));
      },
      /*masks=*/true);
  set(
      t, OpKind::kMinimum,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor to_x = less_equal(c.inputs[0], c.inputs[1]);
        const Tensor zero = scalar_of(*d[0], 0.0);
        return binary(c, where(to_x, *d[0], zero), where(to_x, zero, *d[0]));
      },
      /*masks=*/true);
  // floormod: x - floor(x / y) y, so (dy, -dy floor(x / y)) (TF's FloorModGrad).
  set(t, OpKind::kMod, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor &x = c.inputs[0], &y = c.inputs[1];
    return binary(c, *d[0], neg(scale(c, *d[0], floordiv(x, y))));
  });

  for (OpKind k :
       {OpKind::kLess, OpKind::kGreater, OpKind::kLessEqual, OpKind::kGreaterEqual, OpKind::kEqual,
        OpKind::kNotEqual, OpKind::kLogicalAnd, OpKind::kLogicalOr, OpKind::kLogicalNot,
        OpKind::kFloor, OpKind::kCeil, OpKind::kRound, OpKind::kFloorDiv}) {
    none(t, k);
  }
}

}  // namespace kiln::gradients
