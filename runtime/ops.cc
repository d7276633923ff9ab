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

Tensor scalar_like(const Tensor& like, double value, const char* op) {
  const DType dtype = like.dtype();
  switch (dtype) {
    case DType::kFloat32:
      break;
    case DType::kInt32:
      if (value != std::trunc(value) || value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max()) {
        throw InvalidArgumentError(cat(op, ": cannot convert ", value, " to an int32 operand (the ",
                                       "other operand is an int32 tensor); use kiln::cast"));
      }
      break;
    case DType::kBool:
      throw InvalidArgumentError(
          cat(op, ": cannot combine a C++ number with a bool tensor; use kiln::cast"));
  }
  return constant(value, dtype);
}

}  // namespace kiln
