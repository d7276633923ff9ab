// kiln — the public array ops: op-table wrappers, composites and creation functions.
#include "runtime/array_ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/dispatch.h"
#include "runtime/gradient_tape.h"
#include "runtime/kernels/kernels_internal.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {

using ir::OpKind;

namespace {

void require_floating(const Tensor& x, const char* op) {
  if (!is_floating(x.dtype())) {
    throw InvalidArgumentError(cat(op, ": input #0 (zero-based) is a ", dtype_name(x.dtype()),
                                   " tensor; expected ", ir::kFloatDTypes));
  }
}

// The reduced dims of a rank-`rank` tensor, non-negative, for composites that squeeze them.
std::vector<int64_t> resolved_axes(const std::optional<std::vector<int64_t>>& axis, int rank,
                                   const char* op) {
  std::vector<int64_t> out;
  if (!axis) {
    for (int i = 0; i < rank; ++i) out.push_back(i);
    return out;
  }
  for (int64_t a : *axis) {
    if (a < -rank || a >= rank) {
      throw InvalidArgumentError(
          cat(op, ": Invalid reduction dimension (", a, " for input with ", rank, " dimension(s)"));
    }
    const int64_t d = a < 0 ? a + rank : a;
    if (std::find(out.begin(), out.end(), d) == out.end()) out.push_back(d);
  }
  return out;
}

Tensor filled(const Shape& shape, DType dtype, auto&& value_at) {
  if (!shape.is_fully_defined()) {
    throw InvalidArgumentError(
        cat("cannot create a tensor of shape ", shape, ", which is not fully defined"));
  }
  Tensor t = Tensor::empty(dtype, shape);
  const int64_t n = shape.num_elements();
  auto fill_as = [&]<typename T>(T) {
    T* p = static_cast<T*>(t.mutable_raw_data());
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(static_cast<float>(value_at(i)));
  };
  if (dtype == DType::kFloat16) {
    fill_as(Half{});
  } else if (dtype == DType::kBFloat16) {
    fill_as(BFloat16{});
  } else {
    kernels::internal::visit_dtype(dtype, [&]<typename T>(T) {
      T* p = static_cast<T*>(t.mutable_raw_data());
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(value_at(i));
    });
  }
  return t;
}

}  // namespace

Tensor reduce_max(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceMax, {x}, reduction_attrs(axis, keepdims));
}
Tensor reduce_min(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceMin, {x}, reduction_attrs(axis, keepdims));
}
Tensor reduce_prod(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceProd, {x}, reduction_attrs(axis, keepdims));
}
Tensor reduce_all(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceAll, {x}, reduction_attrs(axis, keepdims));
}
Tensor reduce_any(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  return dispatch(OpKind::kReduceAny, {x}, reduction_attrs(axis, keepdims));
}

Tensor reduce_logsumexp(const Tensor& x, std::optional<std::vector<int64_t>> axis, bool keepdims) {
  require_floating(x, "reduce_logsumexp");
  const std::vector<int64_t> axes = resolved_axes(axis, x.rank(), "reduce_logsumexp");
  // The shift is a constant for differentiation (the result does not depend on it), so the
  // gradient is exactly softmax(x) and never sees the max's tie-breaking or the where below.
  Tensor m = stop_gradient(reduce_max(x, axes, /*keepdims=*/true));
  // A non-finite max (all -inf, or inf/nan) is replaced by 0 so x - m stays meaningful, as TF.
  const Tensor inf = scalar_like(m, std::numeric_limits<double>::infinity(), "reduce_logsumexp");
  m = where(less(abs(m), inf), m, scalar_like(m, 0.0, "reduce_logsumexp"));
  Tensor r = add(log(reduce_sum(exp(sub(x, m)), axes, /*keepdims=*/true)), m);
  if (keepdims || axes.empty()) return r;
  return squeeze(r, axes);
}

namespace {
ir::Attrs arg_attrs(int axis, DType output_type) {
  ir::Attrs attrs{{"axis", int64_t{axis}}};
  if (output_type != DType::kInt32) attrs["output_type"] = std::string(dtype_ir_name(output_type));
  return attrs;
}
}  // namespace

Tensor argmax(const Tensor& x, int axis, DType output_type) {
  return dispatch(OpKind::kArgmax, {x}, arg_attrs(axis, output_type));
}
Tensor argmin(const Tensor& x, int axis, DType output_type) {
  return dispatch(OpKind::kArgmin, {x}, arg_attrs(axis, output_type));
}

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  ir::Attrs attrs;
  if (transpose_a) attrs["transpose_a"] = true;
  if (transpose_b) attrs["transpose_b"] = true;
  return dispatch(OpKind::kMatmul, {a, b}, attrs);
}

Tensor transpose(const Tensor& x, std::optional<std::vector<int64_t>> perm) {
  ir::Attrs attrs;
  if (perm) attrs["perm"] = *perm;
  return dispatch(OpKind::kTranspose, {x}, attrs);
}

Tensor reshape(const Tensor& x, std::vector<int64_t> shape) {
  return dispatch(OpKind::kReshape, {x}, ir::Attrs{{"shape", std::move(shape)}});
}

Tensor expand_dims(const Tensor& x, int axis) {
  return dispatch(OpKind::kExpandDims, {x}, ir::Attrs{{"axis", int64_t{axis}}});
}

Tensor squeeze(const Tensor& x, std::optional<std::vector<int64_t>> axis) {
  ir::Attrs attrs;
  if (axis) attrs["axes"] = *axis;
  return dispatch(OpKind::kSqueeze, {x}, attrs);
}

Tensor concat(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw InvalidArgumentError("concat: expected at least 1 input");
  return dispatch(OpKind::kConcat, std::span<const Tensor>(values),
                  ir::Attrs{{"axis", int64_t{axis}}});
}

Tensor stack(const std::vector<Tensor>& values, int axis) {
  if (values.empty()) throw InvalidArgumentError("stack: expected at least 1 input");
  const int rank = values[0].rank();
  if (axis < -rank - 1 || axis > rank) {
    throw InvalidArgumentError(
        cat("stack: Expected axis in the range [", -rank - 1, ", ", rank + 1, "), but got ", axis));
  }
  for (size_t i = 1; i < values.size(); ++i) {
    if (!(values[i].shape() == values[0].shape())) {
      throw InvalidArgumentError(
          cat("stack: Shapes of all inputs must match: values[0].shape = ", values[0].shape(),
              " != values[", i, "].shape = ", values[i].shape()));
    }
  }
  std::vector<Tensor> expanded;
  expanded.reserve(values.size());
  for (const Tensor& v : values) expanded.push_back(expand_dims(v, axis));
  return concat(expanded, axis);
}

Tensor tile(const Tensor& x, std::vector<int64_t> multiples) {
  return dispatch(OpKind::kTile, {x}, ir::Attrs{{"multiples", std::move(multiples)}});
}

Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& paddings,
           double constant_values) {
  std::vector<int64_t> flat;
  for (const auto& [before, after] : paddings) {
    flat.push_back(before);
    flat.push_back(after);
  }
  ir::Attrs attrs{{"paddings", std::move(flat)}};
  if (constant_values != 0) {
    if (is_integer(x.dtype()) && constant_values != std::trunc(constant_values)) {
      throw InvalidArgumentError(cat("pad: cannot convert ", constant_values, " to an ",
                                     dtype_name(x.dtype()), " constant value"));
    }
    attrs["constant_value"] = constant_values;
  }
  return dispatch(OpKind::kPad, {x}, attrs);
}

Tensor gather(const Tensor& params, const Tensor& indices, int axis) {
  return dispatch(OpKind::kGather, {params, indices}, ir::Attrs{{"axis", int64_t{axis}}});
}

Tensor unsorted_segment_sum(const Tensor& data, const Tensor& segment_ids, int64_t num_segments) {
  return dispatch(OpKind::kUnsortedSegmentSum, {data, segment_ids},
                  ir::Attrs{{"num_segments", num_segments}});
}

Tensor one_hot(const Tensor& indices, int64_t depth, double on_value, double off_value, int axis,
               DType dtype) {
  ir::Attrs attrs{{"depth", depth}};
  if (dtype != DType::kFloat32) attrs["dtype"] = std::string(dtype_ir_name(dtype));
  if (on_value != 1.0) attrs["on_value"] = on_value;
  if (off_value != 0.0) attrs["off_value"] = off_value;
  if (axis != -1) attrs["axis"] = int64_t{axis};
  return dispatch(OpKind::kOneHot, {indices}, attrs);
}

Tensor add_n(const std::vector<Tensor>& inputs) {
  if (inputs.empty()) throw InvalidArgumentError("add_n: expected at least 1 input");
  return dispatch(OpKind::kAddN, std::span<const Tensor>(inputs));
}

Tensor cumsum(const Tensor& x, int axis, bool exclusive, bool reverse) {
  ir::Attrs attrs{{"axis", int64_t{axis}}};
  if (exclusive) attrs["exclusive"] = true;
  if (reverse) attrs["reverse"] = true;
  return dispatch(OpKind::kCumsum, {x}, attrs);
}

Tensor softmax(const Tensor& logits, int axis) {
  require_floating(logits, "softmax");
  const std::vector<int64_t> axes{axis};
  // The max shift is invisible to the result, so it carries no gradient (as in reduce_logsumexp).
  const Tensor e = exp(sub(logits, stop_gradient(reduce_max(logits, axes, true))));
  return div(e, reduce_sum(e, axes, true));
}

Tensor log_softmax(const Tensor& logits, int axis) {
  require_floating(logits, "log_softmax");
  const std::vector<int64_t> axes{axis};
  const Tensor s = sub(logits, stop_gradient(reduce_max(logits, axes, true)));
  return sub(s, log(reduce_sum(exp(s), axes, true)));
}

std::vector<Tensor> split(const Tensor& x, int64_t num_split, int axis) {
  return dispatch_multi(OpKind::kSplit, std::span<const Tensor>(&x, 1),
                        ir::Attrs{{"axis", int64_t{axis}}, {"num_split", num_split}});
}

std::vector<Tensor> split(const Tensor& x, std::vector<int64_t> sizes, int axis) {
  return dispatch_multi(OpKind::kSplit, std::span<const Tensor>(&x, 1),
                        ir::Attrs{{"axis", int64_t{axis}}, {"sizes", std::move(sizes)}});
}

TopK top_k(const Tensor& x, int64_t k, bool sorted) {
  ir::Attrs attrs{{"k", k}};
  if (!sorted) attrs["sorted"] = false;
  std::vector<Tensor> r = dispatch_multi(OpKind::kTopK, std::span<const Tensor>(&x, 1), attrs);
  return TopK{r[0], r[1]};
}

// ---- Creation ------------------------------------------------------------------------------

Tensor zeros(const Shape& shape, DType dtype) { return fill(shape, 0.0, dtype); }
Tensor ones(const Shape& shape, DType dtype) { return fill(shape, 1.0, dtype); }

Tensor fill(const Shape& shape, double value, DType dtype) {
  if (is_integer(dtype) && value != std::trunc(value)) {
    throw InvalidArgumentError(cat("fill: cannot convert ", value, " to ", dtype_name(dtype)));
  }
  return filled(shape, dtype, [&](int64_t) { return value; });
}

Tensor zeros_like(const Tensor& x) { return zeros(x.shape(), x.dtype()); }
Tensor ones_like(const Tensor& x) { return ones(x.shape(), x.dtype()); }

Tensor range(double start, double limit, double delta, DType dtype) {
  if (delta == 0) throw InvalidArgumentError(cat("range: Requires delta != 0: ", delta));
  if (delta > 0 && start > limit) {
    throw InvalidArgumentError(
        cat("range: Requires start <= limit when delta > 0: ", start, "/", limit));
  }
  if (delta < 0 && start < limit) {
    throw InvalidArgumentError(
        cat("range: Requires start >= limit when delta < 0: ", start, "/", limit));
  }
  if (dtype == DType::kBool) throw InvalidArgumentError("range: dtype bool is not supported");
  const double size = std::ceil(std::abs((limit - start) / delta));
  return filled(Shape{static_cast<int64_t>(size)}, dtype,
                [&](int64_t i) { return start + static_cast<double>(i) * delta; });
}

Tensor linspace(double start, double stop, int64_t num) {
  if (num <= 0) throw InvalidArgumentError(cat("linspace: Requires num > 0: ", num));
  const double step = num > 1 ? (stop - start) / static_cast<double>(num - 1) : 0.0;
  return filled(Shape{num}, DType::kFloat32, [&](int64_t i) {
    return num > 1 && i == num - 1 ? stop : start + static_cast<double>(i) * step;
  });
}

Tensor eye(int64_t num_rows, int64_t num_columns, DType dtype) {
  if (num_columns < 0) num_columns = num_rows;
  if (num_rows < 0) throw InvalidArgumentError(cat("eye: num_rows must be >= 0, got ", num_rows));
  return filled(Shape{num_rows, num_columns}, dtype,
                [&](int64_t i) { return i / num_columns == i % num_columns ? 1.0 : 0.0; });
}

}  // namespace kiln
