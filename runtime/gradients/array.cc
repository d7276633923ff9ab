// kiln — gradient rules of reductions, contractions and shape ops.
#include <numeric>

#include "runtime/array_ops.h"
#include "runtime/dispatch.h"
#include "runtime/gradients/rules.h"
#include "runtime/math_ops.h"
#include "support/error.h"

namespace kiln::gradients {
namespace {

using Dys = std::span<const std::optional<Tensor>>;
using ir::OpKind;

const Tensor& x0(const OpCall& c) { return c.inputs[0]; }

void set(RuleTable& t, OpKind k, Rule r, bool masks = false) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kRule, r, masks};
}
void none(RuleTable& t, OpKind k) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kNotDifferentiable, nullptr, false};
}

// The reduced axes of a reduction call (normalized).
std::vector<int64_t> reduced_axes(const OpCall& c) {
  return value_or_throw(ir::reduction_axes(ir::mnemonic(c.kind), c.attrs, x0(c).rank()));
}

// dy of a reduction, reshaped to keep the reduced dims as 1 (so it broadcasts over the input).
Tensor keepdims_shape(const OpCall& c, const Tensor& dy) {
  if (ir::attr_or<bool>(c.attrs, "keepdims", false)) return dy;
  std::vector<int64_t> dims = x0(c).shape().dims();
  for (int64_t a : reduced_axes(c)) dims[a] = 1;
  return reshape(dy, dims);
}

}  // namespace

void register_array_rules(RuleTable& t) {
  set(t, OpKind::kReduceSum, [](const OpCall& c, Dys d) -> Cotangents {
    return {broadcast_to(keepdims_shape(c, *d[0]), x0(c).shape())};
  });
  set(t, OpKind::kReduceMean, [](const OpCall& c, Dys d) -> Cotangents {
    int64_t n = 1;
    for (int64_t a : reduced_axes(c)) n *= x0(c).shape()[a];
    Tensor g = broadcast_to(keepdims_shape(c, *d[0]), x0(c).shape());
    return {div(g, scalar_of(g, static_cast<double>(n)))};
  });
  // C = op(A) op(B) with op = transpose when flagged: each cotangent is again a matmul.
  set(t, OpKind::kMatmul, [](const OpCall& c, Dys d) -> Cotangents {
    const bool ta = ir::attr_or<bool>(c.attrs, "transpose_a", false);
    const bool tb = ir::attr_or<bool>(c.attrs, "transpose_b", false);
    const Tensor &a = c.inputs[0], &b = c.inputs[1], &g = *d[0];
    Tensor da, db;
    if (!ta && !tb) {
      da = matmul(g, b, false, true);
      db = matmul(a, g, true, false);
    } else if (!ta && tb) {
      da = matmul(g, b, false, false);
      db = matmul(g, a, true, false);
    } else if (ta && !tb) {
      da = matmul(b, g, false, true);
      db = matmul(a, g, false, false);
    } else {
      da = matmul(b, g, true, true);
      db = matmul(g, a, true, true);
    }
    return {unbroadcast(da, a.shape()), unbroadcast(db, b.shape())};
  });
  set(t, OpKind::kTranspose, [](const OpCall& c, Dys d) -> Cotangents {
    const int rank = x0(c).rank();
    std::vector<int64_t> perm = ir::attr_or<std::vector<int64_t>>(c.attrs, "perm", {});
    if (perm.empty()) {
      for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    std::vector<int64_t> inverse(rank);
    for (int i = 0; i < rank; ++i) inverse[perm[i] < 0 ? perm[i] + rank : perm[i]] = i;
    return {transpose(*d[0], inverse)};
  });
  for (OpKind k : {OpKind::kReshape, OpKind::kExpandDims, OpKind::kSqueeze}) {
    set(t, k, [](const OpCall& c, Dys d) -> Cotangents {
      return {reshape(*d[0], x0(c).shape().dims())};
    });
  }
  for (OpKind k : {OpKind::kStopGradient, OpKind::kArgmax, OpKind::kArgmin, OpKind::kReduceAll,
                   OpKind::kReduceAny, OpKind::kOneHot}) {
    none(t, k);
  }
}

}  // namespace kiln::gradients
