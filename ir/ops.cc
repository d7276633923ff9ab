// kiln — the op table and its signature face (shape and dtype inference).
#include "ir/ops.h"

#include <algorithm>
#include <array>

#include "support/str.h"

namespace kiln::ir {
namespace {

constexpr std::array<OpInfo, kNumOpKinds> kOpInfos = {{
#define KILN_OP(name, mnemonic, cls, arity) {mnemonic, OpClass::cls, arity},
#include "ir/ops.def"
#undef KILN_OP
}};

absl::Status dtype_mismatch(OpKind kind, int index, DType expected, DType got) {
  return absl::InvalidArgumentError(cat(mnemonic(kind), ": input #", index,
                                        " (zero-based) was expected to be a ", dtype_name(expected),
                                        " tensor but is a ", dtype_name(got), " tensor"));
}

absl::Status unsupported_dtype(OpKind kind, int index, DType got, std::string_view allowed) {
  return absl::InvalidArgumentError(cat(mnemonic(kind), ": input #", index, " (zero-based) is a ",
                                        dtype_name(got), " tensor; expected ", allowed));
}

absl::StatusOr<Shape> broadcast_all(OpKind kind, std::span<const Type> types) {
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
  if (t[0].dtype == DType::kBool) return unsupported_dtype(kind, 0, t[0].dtype, "float32 or int32");
  return broadcast_all(kind, t);
}

absl::StatusOr<Type> infer_reduce(OpKind kind, const Type& in, const Attrs& attrs) {
  if (in.dtype == DType::kBool) return unsupported_dtype(kind, 0, in.dtype, "float32 or int32");
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

absl::StatusOr<Type> infer_matmul(OpKind kind, std::span<const Type> t) {
  if (t[1].dtype != t[0].dtype) return dtype_mismatch(kind, 1, t[0].dtype, t[1].dtype);
  if (t[0].dtype == DType::kBool) return unsupported_dtype(kind, 0, t[0].dtype, "float32 or int32");
  for (int i = 0; i < 2; ++i) {
    if (t[i].shape.rank() != 2) {
      return absl::InvalidArgumentError(cat("matmul: input #", i,
                                            " (zero-based) must be rank 2 but has shape ",
                                            t[i].shape.to_string()));
    }
  }
  const int64_t k0 = t[0].shape[1], k1 = t[1].shape[0];
  if (k0 >= 0 && k1 >= 0 && k0 != k1) {
    return absl::InvalidArgumentError(
        cat("matmul: Matrix size-incompatible: In[0]: ", t[0].shape.to_string(),
            ", In[1]: ", t[1].shape.to_string()));
  }
  return Type{t[0].dtype, Shape{t[0].shape[0], t[1].shape[1]}};
}

}  // namespace

const OpInfo& op_info(OpKind kind) { return kOpInfos[static_cast<size_t>(kind)]; }

std::optional<OpKind> op_from_mnemonic(std::string_view name) {
  for (int i = 0; i < kNumOpKinds; ++i) {
    if (kOpInfos[i].mnemonic == name) return static_cast<OpKind>(i);
  }
  return std::nullopt;
}

bool is_elementwise(OpKind kind) {
  switch (op_info(kind).cls) {
    case OpClass::kUnary:
    case OpClass::kUnaryFloat:
    case OpClass::kBinary:
    case OpClass::kCompare:
    case OpClass::kSelect:
    case OpClass::kBroadcast:
      return true;
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

absl::StatusOr<Type> infer_type(OpKind kind, std::span<const Type> t, const Attrs& attrs) {
  const OpInfo& info = op_info(kind);
  if (info.arity >= 0 && static_cast<int>(t.size()) != info.arity) {
    return absl::InvalidArgumentError(
        cat(info.mnemonic, ": expected ", info.arity, " operand(s) but got ", t.size()));
  }
  switch (info.cls) {
    case OpClass::kUnary:
      if (t[0].dtype == DType::kBool) {
        return unsupported_dtype(kind, 0, t[0].dtype, "float32 or int32");
      }
      return t[0];
    case OpClass::kUnaryFloat:
      if (!is_floating(t[0].dtype)) return unsupported_dtype(kind, 0, t[0].dtype, "float32");
      return t[0];
    case OpClass::kBinary: {
      auto shape = check_binary(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{t[0].dtype, *shape};
    }
    case OpClass::kCompare: {
      auto shape = check_binary(kind, t);
      if (!shape.ok()) return shape.status();
      return Type{DType::kBool, *shape};
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
      Shape target(*dims);
      auto b = broadcast_shapes(t[0].shape, target);
      if (!b || !(*b == target)) {
        return absl::InvalidArgumentError(cat("broadcast: cannot broadcast shape ",
                                              t[0].shape.to_string(), " to ", target.to_string()));
      }
      return Type{t[0].dtype, target};
    }
    case OpClass::kReduce:
      return infer_reduce(kind, t[0], attrs);
    case OpClass::kMatmul:
      return infer_matmul(kind, t);
    case OpClass::kConstant:
    case OpClass::kFusion:
    case OpClass::kTerminator:
      break;
  }
  return absl::InternalError(cat(info.mnemonic, ": type is not inferred from operands"));
}

}  // namespace kiln::ir
