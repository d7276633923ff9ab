// kiln — the op table and its signature face (shape and dtype inference).
#include "ir/ops.h"

#include <algorithm>
#include <array>

#include "ir/array_ops.h"
#include "support/str.h"

namespace kiln::ir {
namespace {

constexpr std::array<OpInfo, kNumOpKinds> kOpInfos = {{
#define KILN_OP(name, mnemonic, cls, arity) {mnemonic, OpClass::cls, arity},
#include "ir/ops.def"
#undef KILN_OP
}};

absl::Status dtype_mismatch(OpKind kind, int index, DType expected, DType got) {
  return dtype_mismatch_error(mnemonic(kind), index, expected, got);
}

absl::Status unsupported_dtype(OpKind kind, int index, DType got, std::string_view allowed) {
  return unsupported_dtype_error(mnemonic(kind), index, got, allowed);
}

absl::StatusOr<Shape> broadcast_all(OpKind kind, std::span<const Type> types) {
  if (std::all_of(types.begin() + 1, types.end(),
                  [&](const Type& t) { return t.shape == types[0].shape; })) {
    return types[0].shape;  // the common case: nothing to broadcast
  }
  Shape out = types[0].shape;
  for (size_t i = 1; i < types.size(); ++i) {
    auto b = broadcast_shapes(out, types[i].shape);
    if (!b) {
      return absl::InvalidArgumentError(cat(mnemonic(kind), ": Incompatible shapes: ",
                                            out.to_string(), " vs. ", types[i].shape.to_string()));
    }
    out = *b;
  }
  return out;
}

// Binary ops: both operands share one numeric dtype, shapes broadcast.
absl::StatusOr<Shape> check_binary(OpKind kind, std::span<const Type> t) {
  if (t[1].dtype != t[0].dtype) return dtype_mismatch(kind, 1, t[0].dtype, t[1].dtype);
  if (t[0].dtype == DType::kBool) return unsupported_dtype(kind, 0, t[0].dtype, kNumericDTypes);
  return broadcast_all(kind, t);
}

absl::StatusOr<Type> infer_reduce(OpKind kind, const Type& in, const Attrs& attrs) {
  if (in.dtype == DType::kBool) return unsupported_dtype(kind, 0, in.dtype, kNumericDTypes);
  auto axes = reduction_axes(mnemonic(kind), attrs, in.shape.rank());
  if (!axes.ok()) return axes.status();
  const bool keepdims = attr_or<bool>(attrs, "keepdims", false);
  std::vector<int64_t> dims;
  for (int i = 0; i < in.shape.rank(); ++i) {
    const bool reduced = std::binary_search(axes->begin(), axes->end(), i);
    if (!reduced) {
      dims.push_back(in.shape[i]);
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

// [..., m, k] x [..., k, n] (attrs transpose_a/transpose_b); batch dims broadcast.
absl::StatusOr<Type> infer_matmul(OpKind kind, std::span<const Type> t, const Attrs& attrs) {
  if (t[1].dtype != t[0].dtype) return dtype_mismatch(kind, 1, t[0].dtype, t[1].dtype);
  if (t[0].dtype == DType::kBool) return unsupported_dtype(kind, 0, t[0].dtype, kNumericDTypes);
  for (int i = 0; i < 2; ++i) {
    if (t[i].shape.rank() < 2) {
      return absl::InvalidArgumentError(cat("matmul: input #", i,
                                            " (zero-based) must be rank >= 2 but has shape ",
                                            t[i].shape.to_string()));
    }
  }
  const bool ta = attr_or<bool>(attrs, "transpose_a", false);
  const bool tb = attr_or<bool>(attrs, "transpose_b", false);
  const std::vector<int64_t>& da = t[0].shape.dims();
  const std::vector<int64_t>& db = t[1].shape.dims();
  const size_t ra = da.size(), rb = db.size();
  const int64_t m = da[ra - (ta ? 1 : 2)], k0 = da[ra - (ta ? 2 : 1)];
  const int64_t k1 = db[rb - (tb ? 1 : 2)], n = db[rb - (tb ? 2 : 1)];
  if (k0 >= 0 && k1 >= 0 && k0 != k1) {
    return absl::InvalidArgumentError(
        cat("matmul: Matrix size-incompatible: In[0]: ", t[0].shape.to_string(),
            ", In[1]: ", t[1].shape.to_string()));
  }
  const Shape batch_a(std::vector<int64_t>(da.begin(), da.end() - 2));
  const Shape batch_b(std::vector<int64_t>(db.begin(), db.end() - 2));
  auto batch = broadcast_shapes(batch_a, batch_b);
  if (!batch) {
    return absl::InvalidArgumentError(cat(
        "matmul: In[0] and In[1] must have compatible batch dimensions: ", t[0].shape.to_string(),
        " vs. ", t[1].shape.to_string()));
  }
  std::vector<int64_t> dims = batch->dims();
  dims.push_back(m);
  dims.push_back(n);
  return Type{t[0].dtype, Shape(std::move(dims))};
}

std::vector<int64_t> list_attr(const Attrs& attrs, std::string_view name) {
  return attr_or<std::vector<int64_t>>(attrs, name, {});
}

}  // namespace

absl::Status dtype_mismatch_error(std::string_view op, int index, DType expected, DType got) {
  return absl::InvalidArgumentError(cat(op, ": input #", index,
                                        " (zero-based) was expected to be a ", dtype_name(expected),
                                        " tensor but is a ", dtype_name(got), " tensor"));
}

absl::Status unsupported_dtype_error(std::string_view op, int index, DType got,
                                     std::string_view allowed) {
  return absl::InvalidArgumentError(cat(op, ": input #", index, " (zero-based) is a ",
                                        dtype_name(got), " tensor; expected ", allowed));
}

const OpInfo& op_info(OpKind kind) { return kOpInfos[static_cast<size_t>(kind)]; }

std::optional<OpKind> op_from_mnemonic(std::string_view name) {
  for (int i = 0; i < kNumOpKinds; ++i) {
    if (kOpInfos[i].mnemonic == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

bool has_multiple_results(OpKind kind) {
  return kind == OpKind::kSplit || kind == OpKind::kTopK || kind == OpKind::kGrad;
}

absl::StatusOr<std::vector<Type>> infer_types(OpKind kind, std::span<const Type> t,
                                              const Attrs& attrs) {
  if (!has_multiple_results(kind)) {
    auto type = infer_type(kind, t, attrs);
    if (!type.ok()) return type.status();
    return std::vector<Type>{std::move(*type)};
  }
  const OpInfo& info = op_info(kind);
  if (info.arity >= 0 && static_cast<int>(t.size()) != info.arity) {
    return absl::InvalidArgumentError(
        cat(info.mnemonic, ": expected ", info.arity, " operand(s) but got ", t.size()));
  }
  return infer_array_types(kind, t, attrs);
}

bool is_elementwise(OpKind kind) {
  switch (op_info(kind).cls) {
    case OpClass::kUnary:
    case OpClass::kUnaryFloat:
    case OpClass::kBinary:
    case OpClass::kCompare:
    case OpClass::kEquality:
    case OpClass::kLogical:
    case OpClass::kCast:
    case OpClass::kSelect:
    case OpClass::kBroadcast:
      return true;
    default:
      return false;
  }
}

bool has_side_effects(OpKind kind) {
  // Every op of ops.def so far computes its results from its operands and attributes alone:
  // grad too (its expansion is a pure function of its operands). Ops that write state or draw
  // random numbers list themselves here when they are added.
  switch (kind) {
    default:
      return false;
  }
}

absl::StatusOr<std::vector<int64_t>> reduction_axes(std::string_view op, const Attrs& attrs,
                                                    int rank) {
  std::vector<int64_t> axes;
  auto it = attrs.find("axes");
  if (it == attrs.end()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
    return axes;
  }
  const auto* list = std::get_if<std::vector<int64_t>>(&it->second);
  if (!list) return absl::InvalidArgumentError(cat(op, ": attribute 'axes' must be a list"));
  for (int64_t a : *list) {
    if (a < -rank || a >= rank) {
      return absl::InvalidArgumentError(
          cat(op, ": Invalid reduction dimension (", a, " for input with ", rank, " dimension(s)"));
    }
    axes.push_back(a < 0 ? a + rank : a);
  }
  std::sort(axes.begin(), axes.end());
  axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
  return axes;
}

absl::StatusOr<StridedSliceSpec> strided_slice_spec(const Attrs& attrs, const Shape& in) {
  StridedSliceSpec s;
  s.begin = list_attr(attrs, "begin");
  s.end = list_attr(attrs, "end");
  s.strides = list_attr(attrs, "strides");
  s.shrink_axis = list_attr(attrs, "shrink_axis");
  s.new_axis = list_attr(attrs, "new_axis");
  const size_t rank = in.rank();
  auto fail = [](auto&&... parts) {
    return absl::InvalidArgumentError(cat("strided_slice: ", parts...));
  };
  if (s.begin.size() != rank || s.end.size() != rank || s.strides.size() != rank) {
    return fail("attributes begin, end and strides need ", rank, " entries (the input rank) but ",
                "have ", s.begin.size(), ", ", s.end.size(), " and ", s.strides.size());
  }
  std::vector<int64_t> dims;
  for (size_t d = 0; d < rank; ++d) {
    const int64_t b = s.begin[d], e = s.end[d], st = s.strides[d], n = in[d];
    if (st == 0) return fail("stride of dimension ", d, " is 0");
    const int64_t lo = st > 0 ? 0 : -1, hi = n < 0 ? INT64_MAX : (st > 0 ? n : n - 1);
    if (b < lo || b > hi || e < lo || e > hi) {
      return fail("bounds [", b, ", ", e, ") with stride ", st, " out of range for dimension ", d,
                  " of size ", n);
    }
    const int64_t len =
        st > 0 ? (e > b ? (e - b + st - 1) / st : 0) : (b > e ? (b - e - st - 1) / -st : 0);
    const bool shrink =
        std::find(s.shrink_axis.begin(), s.shrink_axis.end(), d) != s.shrink_axis.end();
    if (shrink && (st != 1 || len != 1)) {
      return fail("shrink_axis dimension ", d, " must be sliced to one element with stride 1");
    }
    if (!shrink) dims.push_back(len);
  }
  for (size_t i = 0; i < s.shrink_axis.size(); ++i) {
    const int64_t a = s.shrink_axis[i];
    if (a < 0 || a >= static_cast<int64_t>(rank) || (i > 0 && a <= s.shrink_axis[i - 1])) {
      return fail("shrink_axis must be sorted, unique input dimensions");
    }
  }
  const int64_t out_rank = static_cast<int64_t>(dims.size() + s.new_axis.size());
  for (size_t i = 0; i < s.new_axis.size(); ++i) {
    const int64_t a = s.new_axis[i];
    if (a < 0 || a >= out_rank || (i > 0 && a <= s.new_axis[i - 1])) {
      return fail("new_axis must be sorted, unique output positions below ", out_rank);
    }
    dims.insert(dims.begin() + a, 1);
  }
  s.out = Shape(std::move(dims));
  return s;
}

absl::StatusOr<Type> infer_type(OpKind kind, std::span<const Type> t, const Attrs& attrs) {
  const OpInfo& info = op_info(kind);
  if (info.arity >= 0 && static_cast<int>(t.size()) != info.arity) {
    return absl::InvalidArgumentError(
        cat(info.mnemonic, ": expected ", info.arity, " operand(s) but got ", t.size()));
  }
  switch (info.cls) {
    case OpClass::kUnary:
      if (t[0].dtype == DType::kBool) {
        return unsupported_dtype(kind, 0, t[0].dtype, kNumericDTypes);
      }
      return t[0];
    case OpClass::kUnaryFloat:
      if (!is_floating(t[0].dtype)) return unsupported_dtype(kind, 0, t[0].dtype, kFloatDTypes);
      return t[0];
    case OpClass::kBinary: {
      auto shape = check_binary(kind, t);
      if (!shape.ok()) return shape.status();
      if (kind == OpKind::kPow && !is_floating(t[0].dtype)) {
        return unsupported_dtype(kind, 0, t[0].dtype, kFloatDTypes);
      }
      return Type{t[0].dtype, *shape};
    }
    case OpClass::kCompare: {
      auto shape = check_binary(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{DType::kBool, *shape};
    }
    case OpClass::kEquality: {
      if (t[1].dtype != t[0].dtype) return dtype_mismatch(kind, 1, t[0].dtype, t[1].dtype);
      auto shape = broadcast_all(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{DType::kBool, *shape};
    }
    case OpClass::kLogical: {
      for (size_t i = 0; i < t.size(); ++i) {
        if (t[i].dtype != DType::kBool) {
          return dtype_mismatch(kind, static_cast<int>(i), DType::kBool, t[i].dtype);
        }
      }
      auto shape = broadcast_all(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{DType::kBool, *shape};
    }
    case OpClass::kCast: {
      const auto to = dtype_from_ir_name(attr_or<std::string>(attrs, "dtype", ""));
      if (!to) {
        return absl::InvalidArgumentError(
            cat(info.mnemonic, ": attribute 'dtype' must be a dtype name such as \"f32\""));
      }
      return Type{*to, t[0].shape};
    }
    case OpClass::kSelect: {
      if (t[0].dtype != DType::kBool) return dtype_mismatch(kind, 0, DType::kBool, t[0].dtype);
      if (t[2].dtype != t[1].dtype) return dtype_mismatch(kind, 2, t[1].dtype, t[2].dtype);
      auto shape = broadcast_all(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{t[1].dtype, *shape};
    }
    case OpClass::kBroadcast: {
      auto it = attrs.find("shape");
      const auto* dims =
          it == attrs.end() ? nullptr : std::get_if<std::vector<int64_t>>(&it->second);
      if (!dims) {
        return absl::InvalidArgumentError("broadcast: missing list attribute 'shape'");
      }
      // A target dim of -1 (unknown) takes the input's size there if that is known and not 1
      // (else it stays unknown: it is whatever the value is broadcast against).
      Shape target(*dims);
      auto b = broadcast_shapes(t[0].shape, target);
      bool ok = b.has_value() && b->rank() == target.rank();
      for (int d = 0; ok && d < target.rank(); ++d) ok = target[d] < 0 || (*b)[d] == target[d];
      if (!ok) {
        return absl::InvalidArgumentError(cat("broadcast: cannot broadcast shape ",
                                              t[0].shape.to_string(), " to ", target.to_string()));
      }
      return Type{t[0].dtype, *b};
    }
    case OpClass::kReduce:
      return infer_reduce(kind, t[0], attrs);
    case OpClass::kMatmul:
      return infer_matmul(kind, t, attrs);
    case OpClass::kArray:
      return infer_array_type(kind, t, attrs);
    case OpClass::kStridedSlice: {
      auto spec = strided_slice_spec(attrs, t[0].shape);
      if (!spec.ok()) return spec.status();
      if (kind == OpKind::kStridedUpdate) {
        if (t[1].dtype != t[0].dtype)
          return dtype_mismatch_error(info.mnemonic, 1, t[0].dtype, t[1].dtype);
        auto b = broadcast_shapes(t[1].shape, spec->out);
        if (!b || !(*b == spec->out)) {
          return absl::InvalidArgumentError(cat("strided_update: the value's shape ", t[1].shape,
                                                " does not broadcast to the slice's shape ",
                                                spec->out));
        }
        return t[0];
      }
      return Type{t[0].dtype, spec->out};
    }
    case OpClass::kConstant:
    case OpClass::kFusion:
    case OpClass::kControl:
    case OpClass::kTerminator:
      break;
  }
  return absl::InternalError(cat(info.mnemonic, ": type is not inferred from operands"));
}

}  // namespace kiln::ir
