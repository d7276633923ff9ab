// kiln — the public elementwise math ops: thin wrappers naming the op-table row.
#include "runtime/math_ops.h"

#include <string>

#include "runtime/dispatch.h"

namespace kiln {

using ir::OpKind;

Tensor sign(const Tensor& x) { return dispatch(OpKind::kSign, {x}); }
Tensor sqrt(const Tensor& x) { return dispatch(OpKind::kSqrt, {x}); }
Tensor rsqrt(const Tensor& x) { return dispatch(OpKind::kRsqrt, {x}); }
Tensor expm1(const Tensor& x) { return dispatch(OpKind::kExpm1, {x}); }
Tensor log1p(const Tensor& x) { return dispatch(OpKind::kLog1p, {x}); }
Tensor sin(const Tensor& x) { return dispatch(OpKind::kSin, {x}); }
Tensor cos(const Tensor& x) { return dispatch(OpKind::kCos, {x}); }
Tensor tanh(const Tensor& x) { return dispatch(OpKind::kTanh, {x}); }
Tensor sigmoid(const Tensor& x) { return dispatch(OpKind::kSigmoid, {x}); }
Tensor softplus(const Tensor& x) { return dispatch(OpKind::kSoftplus, {x}); }
Tensor relu(const Tensor& x) { return dispatch(OpKind::kRelu, {x}); }
Tensor relu6(const Tensor& x) { return dispatch(OpKind::kRelu6, {x}); }
Tensor elu(const Tensor& x) { return dispatch(OpKind::kElu, {x}); }
Tensor selu(const Tensor& x) { return dispatch(OpKind::kSelu, {x}); }
Tensor gelu(const Tensor& x) { return dispatch(OpKind::kGelu, {x}); }
Tensor leaky_relu(const Tensor& x, double alpha) {
  return dispatch(OpKind::kLeakyRelu, {x}, ir::Attrs{{"alpha", alpha}});
}
Tensor floor(const Tensor& x) { return dispatch(OpKind::kFloor, {x}); }
Tensor ceil(const Tensor& x) { return dispatch(OpKind::kCeil, {x}); }
Tensor round(const Tensor& x) { return dispatch(OpKind::kRound, {x}); }

Tensor pow(const Tensor& x, const Tensor& y) { return dispatch(OpKind::kPow, {x, y}); }
Tensor minimum(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kMinimum, {a, b}); }
Tensor maximum(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kMaximum, {a, b}); }
Tensor mod(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kMod, {a, b}); }
Tensor floordiv(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kFloorDiv, {a, b}); }
Tensor equal(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kEqual, {a, b}); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kNotEqual, {a, b}); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kLessEqual, {a, b}); }
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return dispatch(OpKind::kGreaterEqual, {a, b});
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return dispatch(OpKind::kLogicalAnd, {a, b});
}
Tensor logical_or(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kLogicalOr, {a, b}); }
Tensor logical_not(const Tensor& x) { return dispatch(OpKind::kLogicalNot, {x}); }

Tensor cast(const Tensor& x, DType dtype) {
  return dispatch(OpKind::kCast, {x}, ir::Attrs{{"dtype", std::string(dtype_ir_name(dtype))}});
}

Tensor clip_by_value(const Tensor& x, const Tensor& lo, const Tensor& hi) {
  return minimum(maximum(x, lo), hi);
}

}  // namespace kiln
