// kiln — the public ops: thin wrappers that name the op-table row and its attributes.
#include "runtime/ops.h"

#include <cmath>
#include <limits>

#include "runtime/dispatch.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {

using ir::OpKind;

Tensor neg(const Tensor& x) { return dispatch(OpKind::kNeg, {x}); }
Tensor abs(const Tensor& x) { return dispatch(OpKind::kAbs, {x}); }
Tensor square(const Tensor& x) { return dispatch(OpKind::kSquare, {x}); }
Tensor exp(const Tensor& x) { return dispatch(OpKind::kExp, {x}); }
Tensor log(const Tensor& x) { return dispatch(OpKind::kLog, {x}); }

Tensor add(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kAdd, {a, b}); }
Tensor sub(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kSub, {a, b}); }
Tensor mul(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kMul, {a, b}); }
Tensor div(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kDiv, {a, b}); }
Tensor less(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kLess, {a, b}); }
Tensor greater(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kGreater, {a, b}); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  return dispatch(OpKind::kSelect, {cond, a, b});
}

namespace {}  // namespace

Tensor reduce_sum(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceSum, {x}, reduction_attrs(axis, keepdims));
}

Tensor reduce_mean(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceMean, {x}, reduction_attrs(axis, keepdims));
}

Tensor matmul(const Tensor& a, const Tensor& b) { return dispatch(OpKind::kMatmul, {a, b}); }

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  return dispatch(OpKind::kBroadcast, {x}, ir::Attrs{{"shape", shape.dims()}});
}

namespace {

[[noreturn]] void not_representable(const char* op, auto value, DType dtype) {
  // Only the integer dtypes reject numbers, and both names start with a vowel.
  throw InvalidArgumentError(cat(op, ": cannot convert ", value, " to an ", dtype_name(dtype),
                                 " operand (the other operand is an ", dtype_name(dtype),
                                 " tensor); use kiln::cast"));
}

[[noreturn]] void bool_operand(const char* op) {
  throw InvalidArgumentError(
      cat(op, ": cannot combine a C++ number with a bool tensor; use kiln::cast"));
}

}  // namespace

Tensor scalar_like(const Tensor& like, double value, const char* op) {
  const DType dtype = like.dtype();
  if (dtype == DType::kBool) bool_operand(op);
  if (dtype == DType::kInt32 &&
      (value != std::trunc(value) || value < std::numeric_limits<int32_t>::min() ||
       value > std::numeric_limits<int32_t>::max())) {
    not_representable(op, value, dtype);
  }
  // [-2^63, 2^63): the double range that converts to int64 exactly.
  if (dtype == DType::kInt64 && (value != std::trunc(value) || value < -9223372036854775808.0 ||
                                 value >= 9223372036854775808.0)) {
    not_representable(op, value, dtype);
  }
  return constant(value, dtype);
}

Tensor integer_scalar_like(const Tensor& like, int64_t value, const char* op) {
  const DType dtype = like.dtype();
  if (dtype == DType::kBool) bool_operand(op);
  if (dtype == DType::kInt32 && (value < std::numeric_limits<int32_t>::min() ||
                                 value > std::numeric_limits<int32_t>::max())) {
    not_representable(op, value, dtype);
  }
  return constant(value, dtype);
}

}  // namespace kiln
