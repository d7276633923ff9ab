// kiln — the gradient rule table and the helpers rules share.
#include <numeric>

#include "runtime/array_ops.h"
#include "runtime/gradients/rules.h"
#include "runtime/math_ops.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln::gradients {

const RuleEntry& rule_entry(ir::OpKind kind) {
  static const RuleTable table = [] {
    RuleTable t(ir::kNumOpKinds);
    register_elementwise_rules(t);
    register_array_rules(t);
    return t;
  }();
  return table[static_cast<size_t>(kind)];
}

Rule rule_for(ir::OpKind kind) {
  const RuleEntry& e = rule_entry(kind);
  if (e.kind != Differentiability::kRule) {
    throw InvalidArgumentError(cat(
        "gradient: op '", ir::mnemonic(kind), "' ",
        e.kind == Differentiability::kMissing ? "has no gradient rule" : "is not differentiable",
        "; cannot differentiate through it"));
  }
  return e.rule;
}

Tensor scalar_of(const Tensor& x, double v) { return scalar_like(x, v, "gradient"); }

Tensor scale(const OpCall& call, const Tensor& dy, const Tensor& d) {
  Tensor p = mul(dy, d);
  if (!call.masked) return p;
  // multiply-no-nan: 0 * Inf and 0 * NaN stay 0 where the cotangent is exactly zero.
  return where(equal(dy, scalar_of(dy, 0.0)), scalar_of(p, 0.0), p);
}

Tensor unbroadcast(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int extra = g.rank() - shape.rank();
  std::vector<int64_t> axes;
  for (int i = 0; i < g.rank(); ++i) {
    if (i < extra || (shape[i - extra] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  }
  Tensor s = axes.empty() ? g : reduce_sum(g, axes, /*keepdims=*/true);
  return reshape(s, shape.dims());
}

}  // namespace kiln::gradients
