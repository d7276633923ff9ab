// kiln — shape and dtype inference for the array ops (class kArray), with TF-style messages.
#include "ir/array_ops.h"

#include <algorithm>

#include "support/str.h"

namespace kiln::ir {
namespace {

absl::Status invalid(std::string_view op, auto&&... parts) {
  return absl::InvalidArgumentError(cat(op, ": ", parts...));
}

absl::Status dtype_mismatch(std::string_view op, int index, DType expected, DType got) {
  return dtype_mismatch_error(op, index, expected, got);
}

absl::Status unsupported(std::string_view op, int index, DType got, std::string_view allowed) {
  return unsupported_dtype_error(op, index, got, allowed);
}

std::vector<int64_t> list_attr(const Attrs& attrs, std::string_view name) {
  return attr_or<std::vector<int64_t>>(attrs, name, {});
}

bool has_attr(const Attrs& attrs, std::string_view name) { return attrs.find(name) != attrs.end(); }

int64_t mul_dims(int64_t a, int64_t b) { return a < 0 || b < 0 ? Shape::kUnknownDim : a * b; }

absl::StatusOr<Type> infer_reduction(OpKind kind, std::string_view op, const Type& in,
                                     const Attrs& attrs) {
  const bool logical = kind == OpKind::kReduceAll || kind == OpKind::kReduceAny;
  if (logical && in.dtype != DType::kBool) return unsupported(op, 0, in.dtype, "bool");
  if (!logical && in.dtype == DType::kBool) return unsupported(op, 0, in.dtype, kNumericDTypes);
  auto axes = reduction_axes(op, attrs, in.shape.rank());
  if (!axes.ok()) return axes.status();
  const bool keepdims = attr_or<bool>(attrs, "keepdims", false);
  std::vector<int64_t> dims;
  for (int i = 0; i < in.shape.rank(); ++i) {
    if (!std::binary_search(axes->begin(), axes->end(), i)) {
      dims.push_back(in.shape[i]);
    } else if (keepdims) {
      dims.push_back(1);
    }
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_reshape(const Type& in, const Attrs& attrs) {
  auto it = attrs.find("shape");
  const auto* req = it == attrs.end() ? nullptr : std::get_if<std::vector<int64_t>>(&it->second);
  if (!req) return invalid("reshape", "missing list attribute 'shape'");
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < req->size(); ++i) {
    const int64_t d = (*req)[i];
    if (d == -1) {
      if (unknown >= 0) {
        return invalid("reshape", "Only one input size may be -1, not both ", unknown, " and ", i);
      }
      unknown = static_cast<int>(i);
    } else if (d < 0) {
      return invalid("reshape", "Size ", i, " must be non-negative, not ", d);
    } else {
      known *= d;
    }
  }
  std::vector<int64_t> dims = *req;
  const int64_t n = in.shape.num_elements();
  if (n < 0) return Type{in.dtype, Shape(std::move(dims))};  // unknown input: -1 stays unknown
  if (unknown >= 0) {
    if (known == 0 || n % known != 0) {
      return invalid("reshape", "Input to reshape is a tensor with ", n,
                     " values, but the requested shape requires a multiple of ", known);
    }
    dims[unknown] = n / known;
  } else if (known != n) {
    return invalid("reshape", "Input to reshape is a tensor with ", n,
                   " values, but the requested shape has ", known);
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_squeeze(const Type& in, const Attrs& attrs) {
  const int rank = in.shape.rank();
  std::vector<bool> drop(rank, false);
  if (has_attr(attrs, "axes")) {
    for (int64_t a : list_attr(attrs, "axes")) {
      if (a < -rank || a >= rank) {
        return invalid("squeeze", "Tried to squeeze dim index ", a, " for tensor with ", rank,
                       " dimensions.");
      }
      const int d = static_cast<int>(a < 0 ? a + rank : a);
      if (in.shape[d] != 1 && in.shape[d] >= 0) {
        return invalid("squeeze", "Can not squeeze dim[", d, "], expected a dimension of 1, got ",
                       in.shape[d]);
      }
      drop[d] = true;
    }
  } else {
    for (int d = 0; d < rank; ++d) drop[d] = in.shape[d] == 1;
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < rank; ++d) {
    if (!drop[d]) dims.push_back(in.shape[d]);
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_concat(std::span<const Type> t, const Attrs& attrs) {
  constexpr std::string_view op = "concat";
  if (t.empty()) return invalid(op, "expected at least 1 input");
  const int rank = t[0].shape.rank();
  if (rank == 0) return invalid(op, "Can't concatenate scalars (use stack instead)");
  const int64_t a = attr_or<int64_t>(attrs, "axis", 0);
  if (a < -rank || a >= rank) {
    return invalid(op, "Expected concatenating dimensions in the range [", -rank, ", ", rank,
                   "), but got ", a);
  }
  const int axis = static_cast<int>(a < 0 ? a + rank : a);
  std::vector<int64_t> dims = t[0].shape.dims();
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i].dtype != t[0].dtype) {
      return dtype_mismatch(op, static_cast<int>(i), t[0].dtype, t[i].dtype);
    }
    if (t[i].shape.rank() != rank) {
      return invalid(op, "Ranks of all input tensors should match: shape[0] = ", t[0].shape,
                     " vs. shape[", i, "] = ", t[i].shape);
    }
    for (int d = 0; d < rank; ++d) {
      const int64_t x = t[i].shape[d];
      if (d == axis) {
        dims[d] = dims[d] < 0 || x < 0 ? Shape::kUnknownDim : dims[d] + x;
      } else if (x >= 0 && dims[d] >= 0 && x != dims[d]) {
        return invalid(op, "Dimension ", d,
                       " in both shapes must be equal: shape[0] = ", t[0].shape, " vs. shape[", i,
                       "] = ", t[i].shape);
      } else if (dims[d] < 0) {
        dims[d] = x;
      }
    }
  }
  return Type{t[0].dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_tile(const Type& in, const Attrs& attrs) {
  const std::vector<int64_t> m = list_attr(attrs, "multiples");
  const int rank = in.shape.rank();
  if (static_cast<int>(m.size()) != rank) {
    return invalid("tile", "Expected multiples argument to be a vector of length ", rank,
                   " but got length ", m.size());
  }
  std::vector<int64_t> dims(rank);
  for (int d = 0; d < rank; ++d) {
    if (m[d] < 0) return invalid("tile", "Expected multiples[", d, "] >= 0, but got ", m[d]);
    dims[d] = mul_dims(in.shape[d], m[d]);
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_pad(const Type& in, const Attrs& attrs) {
  const std::vector<int64_t> p = list_attr(attrs, "paddings");
  const int rank = in.shape.rank();
  if (static_cast<int>(p.size()) != 2 * rank) {
    return invalid("pad", "paddings must have 2 entries per dimension of the input ", in.shape,
                   " (", 2 * rank, ") but has ", p.size());
  }
  std::vector<int64_t> dims(rank);
  for (int d = 0; d < rank; ++d) {
    if (p[2 * d] < 0 || p[2 * d + 1] < 0) {
      return invalid("pad", "Paddings must be non-negative: ", p[2 * d], " ", p[2 * d + 1]);
    }
    dims[d] = in.shape[d] < 0 ? Shape::kUnknownDim : in.shape[d] + p[2 * d] + p[2 * d + 1];
  }
  return Type{in.dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_gather(std::span<const Type> t, const Attrs& attrs) {
  if (!is_integer(t[1].dtype)) return unsupported("gather", 1, t[1].dtype, "int32 or int64");
  const int rank = t[0].shape.rank();
  if (rank == 0) return invalid("gather", "params must be at least 1 dimensional");
  auto axis = single_axis("gather", attrs, "axis", 0, rank);
  if (!axis.ok()) return axis.status();
  std::vector<int64_t> dims(t[0].shape.begin(), t[0].shape.begin() + *axis);
  for (int64_t d : t[1].shape.dims()) dims.push_back(d);
  for (int d = *axis + 1; d < rank; ++d) dims.push_back(t[0].shape[d]);
  return Type{t[0].dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_one_hot(const Type& in, const Attrs& attrs) {
  if (!is_integer(in.dtype)) return unsupported("one_hot", 0, in.dtype, "int32 or int64");
  const std::string dtype_attr = attr_or<std::string>(attrs, "dtype", "f32");
  const auto out_dtype = dtype_from_ir_name(dtype_attr);
  if (!out_dtype || *out_dtype == DType::kBool) {
    return invalid("one_hot", "attribute 'dtype' must name a numeric dtype, got \"", dtype_attr,
                   "\"");
  }
  const int64_t depth = attr_or<int64_t>(attrs, "depth", -1);
  if (depth < 0) return invalid("one_hot", "depth must be non-negative, got: ", depth);
  const int rank = in.shape.rank() + 1;
  const int64_t a = attr_or<int64_t>(attrs, "axis", -1);
  if (a < -1 || a >= rank) {
    return invalid("one_hot", "Expected axis to be -1 or between [0, ", rank,
                   ").  But received: ", a);
  }
  std::vector<int64_t> dims = in.shape.dims();
  dims.insert(dims.begin() + (a == -1 ? rank - 1 : a), depth);
  return Type{*out_dtype, Shape(std::move(dims))};
}

absl::StatusOr<Type> infer_add_n(std::span<const Type> t) {
  if (t.empty()) return invalid("add_n", "expected at least 1 input");
  if (t[0].dtype == DType::kBool) return unsupported("add_n", 0, t[0].dtype, kNumericDTypes);
  for (size_t i = 1; i < t.size(); ++i) {
    if (t[i].dtype != t[0].dtype) {
      return dtype_mismatch("add_n", static_cast<int>(i), t[0].dtype, t[i].dtype);
    }
    if (!(t[i].shape == t[0].shape)) {
      return invalid("add_n", "Shapes of all inputs must match: values[0].shape = ", t[0].shape,
                     " != values[", i, "].shape = ", t[i].shape);
    }
  }
  return t[0];
}

// unsorted_segment_sum(data, segment_ids) {num_segments}: [num_segments] + data.shape[r:] where
// segment_ids (int32, rank r) is a prefix of data.shape.
absl::StatusOr<Type> infer_unsorted_segment_sum(std::span<const Type> t, const Attrs& attrs) {
  constexpr std::string_view op = "unsorted_segment_sum";
  if (t[0].dtype == DType::kBool) return unsupported(op, 0, t[0].dtype, kNumericDTypes);
  if (t[1].dtype != DType::kInt32) return dtype_mismatch(op, 1, DType::kInt32, t[1].dtype);
  const int64_t num = attr_or<int64_t>(attrs, "num_segments", -1);
  if (num < 0) return invalid(op, "num_segments must be non-negative, got: ", num);
  const Shape& data = t[0].shape;
  const Shape& ids = t[1].shape;
  bool prefix = ids.rank() <= data.rank();
  for (int d = 0; prefix && d < ids.rank(); ++d) {
    prefix = ids[d] < 0 || data[d] < 0 || ids[d] == data[d];
  }
  if (!prefix) {
    return invalid(op, "data.shape = ", data, " does not start with segment_ids.shape = ", ids);
  }
  std::vector<int64_t> dims{num};
  for (int d = ids.rank(); d < data.rank(); ++d) dims.push_back(data[d]);
  return Type{t[0].dtype, Shape(std::move(dims))};
}

}  // namespace

absl::StatusOr<int> single_axis(std::string_view op, const Attrs& attrs, std::string_view name,
                                int64_t fallback, int rank) {
  const int64_t a = attr_or<int64_t>(attrs, name, fallback);
  if (a < -rank || a >= rank) {
    return invalid(op, "Expected ", name, " in the range [", -rank, ", ", rank, "), but got ", a);
  }
  return static_cast<int>(a < 0 ? a + rank : a);
}

absl::StatusOr<std::vector<int64_t>> transpose_perm(const Attrs& attrs, int rank) {
  std::vector<int64_t> perm;
  if (!has_attr(attrs, "perm")) {
    for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
    return perm;
  }
  perm = list_attr(attrs, "perm");
  if (static_cast<int>(perm.size()) != rank) {
    return invalid("transpose", "transpose expects a vector of size ", rank,
                   ". But input(1) is a vector of size ", perm.size());
  }
  std::vector<bool> seen(rank, false);
  for (int64_t& p : perm) {
    if (p < -rank || p >= rank) {
      return invalid("transpose", p, " is out of range [", -rank, " .. ", rank, ")");
    }
    if (p < 0) p += rank;
    if (seen[p]) return invalid("transpose", p, " is duplicated in the permutation");
    seen[p] = true;
  }
  return perm;
}

double number_attr(const Attrs& attrs, std::string_view name, double fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const auto* d = std::get_if<double>(&it->second)) return *d;
  if (const auto* i = std::get_if<int64_t>(&it->second)) return static_cast<double>(*i);
  if (const auto* b = std::get_if<bool>(&it->second)) return *b ? 1.0 : 0.0;
  return fallback;
}

absl::StatusOr<std::vector<int64_t>> split_sizes(const Attrs& attrs, int64_t dim) {
  std::vector<int64_t> sizes;
  if (has_attr(attrs, "sizes")) {
    sizes = list_attr(attrs, "sizes");
    if (sizes.empty()) return invalid("split", "sizes must not be empty");
    int unknown = -1;
    int64_t known = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] == -1 && unknown < 0) {
        unknown = static_cast<int>(i);
      } else if (sizes[i] < 0) {
        return invalid("split", "sizes may hold non-negative sizes and one -1, got ", sizes[i],
                       " at ", i);
      } else {
        known += sizes[i];
      }
    }
    if (dim < 0) return sizes;
    if ((unknown < 0 && known != dim) || (unknown >= 0 && known > dim)) {
      return invalid("split", "Determined shape must either match input shape along split_dim ",
                     "exactly if fully specified, or be less than the size of the input along ",
                     "split_dim if not fully specified.  Got: ", known);
    }
    if (unknown >= 0) sizes[unknown] = dim - known;
    return sizes;
  }
  const int64_t n = attr_or<int64_t>(attrs, "num_split", 0);
  if (n <= 0) return invalid("split", "num_split must be a positive integer, got ", n);
  if (dim >= 0 && dim % n != 0) {
    return invalid("split", "Number of ways to split should evenly divide the split dimension, ",
                   "but got split_dim ", dim, " and num_split ", n);
  }
  return std::vector<int64_t>(n, dim < 0 ? Shape::kUnknownDim : dim / n);
}

absl::StatusOr<std::vector<Type>> infer_array_types(OpKind kind, std::span<const Type> t,
                                                    const Attrs& attrs) {
  const std::string_view op = mnemonic(kind);
  const Type& in = t[0];
  const int rank = in.shape.rank();
  std::vector<Type> out;
  if (kind == OpKind::kSplit) {
    if (rank == 0) return invalid(op, "input must be at least rank 1");
    auto axis = single_axis(op, attrs, "axis", 0, rank);
    if (!axis.ok()) return axis.status();
    auto sizes = split_sizes(attrs, in.shape[*axis]);
    if (!sizes.ok()) return sizes.status();
    for (int64_t s : *sizes) {
      std::vector<int64_t> dims = in.shape.dims();
      dims[*axis] = s;
      out.push_back(Type{in.dtype, Shape(std::move(dims))});
    }
    return out;
  }
  if (kind == OpKind::kGrad) {
    // grad(target, seed, sources...): one result per source, of the source's type.
    if (t.size() < 2) return invalid(op, "expected a target and a seed operand");
    if (!is_floating(in.dtype)) return unsupported(op, 0, in.dtype, "a floating dtype");
    if (!(t[1] == in)) {
      return invalid(op, "the seed is ", t[1].to_string(), " but the target is ", in.to_string());
    }
    for (size_t i = 2; i < t.size(); ++i) {
      if (!is_floating(t[i].dtype)) {
        return unsupported(op, static_cast<int>(i), t[i].dtype, "a floating dtype");
      }
      out.push_back(t[i]);
    }
    return out;
  }
  if (kind == OpKind::kTopK) {
    if (in.dtype == DType::kBool) return unsupported(op, 0, in.dtype, kNumericDTypes);
    if (rank == 0) return invalid(op, "input must be at least rank 1");
    const int64_t k = attr_or<int64_t>(attrs, "k", 1);
    if (k < 0) return invalid(op, "Need k >= 0, got ", k);
    const int64_t n = in.shape[rank - 1];
    if (n >= 0 && n < k) {
      return invalid(op, "input must have at least k columns. Had ", n, ", needed ", k);
    }
    std::vector<int64_t> dims = in.shape.dims();
    dims[rank - 1] = k;
    out.push_back(Type{in.dtype, Shape(dims)});
    out.push_back(Type{DType::kInt32, Shape(std::move(dims))});
    return out;
  }
  return absl::InternalError(cat(op, ": not an op with several results"));
}

absl::StatusOr<Type> infer_array_type(OpKind kind, std::span<const Type> t, const Attrs& attrs) {
  const std::string_view op = mnemonic(kind);
  switch (kind) {
    case OpKind::kReduceMax:
    case OpKind::kReduceMin:
    case OpKind::kReduceProd:
    case OpKind::kReduceAll:
    case OpKind::kReduceAny:
      return infer_reduction(kind, op, t[0], attrs);
    case OpKind::kArgmax:
    case OpKind::kArgmin: {
      if (t[0].dtype == DType::kBool) return unsupported(op, 0, t[0].dtype, kNumericDTypes);
      const int rank = t[0].shape.rank();
      if (rank == 0) return invalid(op, "input must be at least rank 1");
      auto axis = single_axis(op, attrs, "axis", 0, rank);
      if (!axis.ok()) return axis.status();
      if (t[0].shape[*axis] == 0) {
        return invalid(op, "Reduction axis ", *axis, " is empty in shape ", t[0].shape);
      }
      const std::string out_attr = attr_or<std::string>(attrs, "output_type", "i32");
      const auto out_dtype = dtype_from_ir_name(out_attr);
      if (!out_dtype || !is_integer(*out_dtype)) {
        return invalid(op, "attribute 'output_type' must be \"i32\" or \"i64\", got \"", out_attr,
                       "\"");
      }
      std::vector<int64_t> dims = t[0].shape.dims();
      dims.erase(dims.begin() + *axis);
      return Type{*out_dtype, Shape(std::move(dims))};
    }
    case OpKind::kCumsum: {
      if (t[0].dtype == DType::kBool) return unsupported(op, 0, t[0].dtype, kNumericDTypes);
      auto axis = single_axis(op, attrs, "axis", 0, std::max(t[0].shape.rank(), 1));
      if (!axis.ok()) return axis.status();
      return t[0];
    }
    case OpKind::kTranspose: {
      auto perm = transpose_perm(attrs, t[0].shape.rank());
      if (!perm.ok()) return perm.status();
      std::vector<int64_t> dims;
      for (int64_t p : *perm) dims.push_back(t[0].shape[static_cast<int>(p)]);
      return Type{t[0].dtype, Shape(std::move(dims))};
    }
    case OpKind::kReshape:
      return infer_reshape(t[0], attrs);
    case OpKind::kExpandDims: {
      const int rank = t[0].shape.rank();
      const int64_t a = attr_or<int64_t>(attrs, "axis", 0);
      if (a < -rank - 1 || a > rank) {
        return invalid(op, "Tried to expand dim index ", a, " for tensor with ", rank,
                       " dimensions.");
      }
      std::vector<int64_t> dims = t[0].shape.dims();
      dims.insert(dims.begin() + (a < 0 ? a + rank + 1 : a), 1);
      return Type{t[0].dtype, Shape(std::move(dims))};
    }
    case OpKind::kSqueeze:
      return infer_squeeze(t[0], attrs);
    case OpKind::kConcat:
      return infer_concat(t, attrs);
    case OpKind::kTile:
      return infer_tile(t[0], attrs);
    case OpKind::kPad:
      return infer_pad(t[0], attrs);
    case OpKind::kGather:
      return infer_gather(t, attrs);
    case OpKind::kOneHot:
      return infer_one_hot(t[0], attrs);
    case OpKind::kAddN:
      return infer_add_n(t);
    case OpKind::kUnsortedSegmentSum:
      return infer_unsorted_segment_sum(t, attrs);
    case OpKind::kStopGradient:
      return t[0];
    case OpKind::kCustomGrad:
      // custom_grad(forward, inputs..., captures...): the forward value; the region is checked
      // by the verifier.
      if (t.empty()) return invalid(op, "expected the forward value as operand #0");
      return t[0];
    case OpKind::kSplit:
    case OpKind::kTopK:
    case OpKind::kGrad:
      return invalid(op, "the op has several results; their types come from infer_types");
    default:
      break;
  }
  return absl::InternalError(cat(op, ": not an array op"));
}

}  // namespace kiln::ir
