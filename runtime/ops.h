// kiln — the public ops on Tensors. Each one goes through dispatch (runtime/dispatch.h): eager
// execution on concrete tensors, or IR emission while tracing.
#pragma once

#include <concepts>
#include <optional>
#include <vector>

#include "runtime/tensor.h"

namespace kiln {

// A C++ number used as an operand takes the tensor's dtype, as in TF (`t + 10` is float32 when
// t is). It must be representable: 0.5 with an int32 tensor is an InvalidArgumentError.
template <typename T>
concept Scalar = std::integral<T> || std::floating_point<T>;

// Unary, elementwise.
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);

// Binary, elementwise, NumPy broadcasting; both operands must have the same dtype.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);

// where(cond, a, b): a where cond is true, else b; all three broadcast.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Reductions over `axis` (all axes if omitted; negative axes count from the end).
Tensor reduce_sum(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                  bool keepdims = false);
Tensor reduce_mean(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                   bool keepdims = false);

// [m,k] x [k,n]; batched and with transpose flags: runtime/array_ops.h.
Tensor matmul(const Tensor& a, const Tensor& b);

// Broadcasts `x` to `shape` (NumPy rules).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

// A rank-0 tensor of `like`'s dtype holding `value`; throws if the dtype cannot represent it
// (a non-integral or out-of-range value for an integer dtype, any number for bool). Float
// dtypes round to nearest (a value beyond float16's range becomes inf, as NumPy's conversion).
Tensor scalar_like(const Tensor& like, double value, const char* op);
// The same for an integer value, exact for int64.
Tensor integer_scalar_like(const Tensor& like, int64_t value, const char* op);
// C++ number `s` as a scalar operand of `like`'s dtype: integers exactly, floats as double.
template <Scalar S>
Tensor scalar_operand(const Tensor& like, S s, const char* op) {
  if constexpr (std::integral<S> && !std::same_as<S, bool>) {
    return integer_scalar_like(like, static_cast<int64_t>(s), op);
  } else {
    return scalar_like(like, static_cast<double>(s), op);
  }
}

// Operators.
inline Tensor operator-(const Tensor& x) { return neg(x); }
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator<(const Tensor& a, const Tensor& b) { return less(a, b); }
inline Tensor operator>(const Tensor& a, const Tensor& b) { return greater(a, b); }

#define KILN_SCALAR_OPERATOR(op, fn, name)    \
  template <Scalar S>                         \
  Tensor operator op(const Tensor& a, S s) {  \
    return fn(a, scalar_operand(a, s, name)); \
  }                                           \
  template <Scalar S>                         \
  Tensor operator op(S s, const Tensor& b) {  \
    return fn(scalar_operand(b, s, name), b); \
  }
KILN_SCALAR_OPERATOR(+, add, "add")
KILN_SCALAR_OPERATOR(-, sub, "sub")
KILN_SCALAR_OPERATOR(*, mul, "mul")
KILN_SCALAR_OPERATOR(/, div, "div")
KILN_SCALAR_OPERATOR(<, less, "less")
KILN_SCALAR_OPERATOR(>, greater, "greater")
#undef KILN_SCALAR_OPERATOR

}  // namespace kiln
