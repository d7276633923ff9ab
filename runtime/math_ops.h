// kiln — the elementwise math ops of the public API (TF names): activations, rounding, pow,
// minimum/maximum, floormod/floordiv, comparisons, logical ops, cast and clip_by_value.
// Like runtime/ops.h, each goes through dispatch (eager or traced). A C++ number next to a
// Tensor takes the tensor's dtype (scalar_like). Float-only ops reject integer tensors with
// "OP: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 or float64".
#pragma once

#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace kiln {

// Unary. sign relu relu6 round accept every numeric dtype; the rest are float-only.
Tensor sign(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor expm1(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor relu6(const Tensor& x);
Tensor elu(const Tensor& x);
Tensor selu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact (erf) form: tf.nn.gelu(x, approximate=False)
Tensor leaky_relu(const Tensor& x, double alpha = 0.2);
Tensor floor(const Tensor& x);
Tensor ceil(const Tensor& x);
Tensor round(const Tensor& x);  // half to even, as tf.round

// Binary, NumPy broadcasting, one dtype.
Tensor pow(const Tensor& x, const Tensor& y);  // float dtypes only
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor mod(const Tensor& a, const Tensor& b);       // tf.math.floormod: sign of the divisor
Tensor floordiv(const Tensor& a, const Tensor& b);  // tf.math.floordiv
Tensor equal(const Tensor& a, const Tensor& b);     // any dtype, bool out
Tensor not_equal(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);  // bool only
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);

// Converts to `dtype`: float to int truncates toward zero (nan and out-of-range give the
// lowest value, as TF on x86), to bool is x != 0, from bool gives 0/1.
Tensor cast(const Tensor& x, DType dtype);

// minimum(maximum(x, lo), hi).
Tensor clip_by_value(const Tensor& x, const Tensor& lo, const Tensor& hi);

#define KILN_SCALAR_OVERLOADS(fn)            \
  template <Scalar S>                        \
  Tensor fn(const Tensor& a, S s) {          \
    return fn(a, scalar_operand(a, s, #fn)); \
  }                                          \
  template <Scalar S>                        \
  Tensor fn(S s, const Tensor& b) {          \
    return fn(scalar_operand(b, s, #fn), b); \
  }
KILN_SCALAR_OVERLOADS(pow)
KILN_SCALAR_OVERLOADS(minimum)
KILN_SCALAR_OVERLOADS(maximum)
KILN_SCALAR_OVERLOADS(mod)
KILN_SCALAR_OVERLOADS(floordiv)
KILN_SCALAR_OVERLOADS(equal)
KILN_SCALAR_OVERLOADS(not_equal)
KILN_SCALAR_OVERLOADS(less_equal)
KILN_SCALAR_OVERLOADS(greater_equal)
#undef KILN_SCALAR_OVERLOADS

template <Scalar L, Scalar H>
Tensor clip_by_value(const Tensor& x, L lo, H hi) {
  return clip_by_value(x, scalar_operand(x, lo, "clip_by_value"),
                       scalar_operand(x, hi, "clip_by_value"));
}

// Operators <= and >= (== and != stay Tensor identity-free: use equal / not_equal).
inline Tensor operator<=(const Tensor& a, const Tensor& b) { return less_equal(a, b); }
inline Tensor operator>=(const Tensor& a, const Tensor& b) { return greater_equal(a, b); }
template <Scalar S>
Tensor operator<=(const Tensor& a, S s) {
  return less_equal(a, s);
}
template <Scalar S>
Tensor operator<=(S s, const Tensor& b) {
  return less_equal(s, b);
}
template <Scalar S>
Tensor operator>=(const Tensor& a, S s) {
  return greater_equal(a, s);
}
template <Scalar S>
Tensor operator>=(S s, const Tensor& b) {
  return greater_equal(s, b);
}

}  // namespace kiln
