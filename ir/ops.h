// kiln — op kinds, attributes and the signature face of every op (ops.def).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/types.h"

namespace kiln::ir {

enum class OpKind : uint16_t {
#define KILN_OP(name, mnemonic, cls, arity) k##name,
#include "ir/ops.def"
#undef KILN_OP
};
inline constexpr int kNumOpKinds = 0
#define KILN_OP(name, mnemonic, cls, arity) +1
#include "ir/ops.def"
#undef KILN_OP
    ;

// What kind of computation an op is; drives inference, fusion and lowering.
enum class OpClass : uint8_t {
  kConstant,    // no operands; value in Op::literal()
  kUnary,       // elementwise, numeric in, same type out
  kUnaryFloat,  // elementwise, floating in, same type out
  kBinary,      // elementwise arithmetic with NumPy broadcasting
  kCompare,     // elementwise comparison, bool out
  kEquality,    // equal / not_equal: any one dtype (bool too), bool out
  kLogical,     // logical_and / logical_or / logical_not: bool in, bool out
  kCast,        // elementwise conversion to attr `dtype` ("f32", "i32", "bool")
  kSelect,      // select(cond, a, b), all three broadcast
  kBroadcast,   // broadcast to attr `shape`
  kReduce,      // attrs `axes` (list; absent = all axes) and `keepdims` (bool)
  kMatmul,      // [...,m,k] x [...,k,n], batch dims broadcast; attrs transpose_a/transpose_b
  kArray,       // reductions beyond sum/mean, shape/array ops: ir/array_ops.h, kernels/array_*
  // strided_slice: attrs begin/end/strides (normalized), shrink_axis, new_axis; strided_update
  // (input, value) the same box of input replaced by value
  kStridedSlice,
  kFusion,      // a region of ops computed as one loop
  kControl,     // cond / while: regions run conditionally or repeatedly (ir/function.h)
  kTerminator,  // return / yield
};

// Attribute values: integers, floats, bools, integer lists, strings.
using Attribute = std::variant<int64_t, double, bool, std::vector<int64_t>, std::string>;
// Sorted by name, so printing is deterministic.
using Attrs = std::map<std::string, Attribute, std::less<>>;

struct OpInfo {
  std::string_view mnemonic;
  OpClass cls;
  int arity;  // -1 = variadic
};

const OpInfo& op_info(OpKind kind);
inline std::string_view mnemonic(OpKind kind) { return op_info(kind).mnemonic; }
std::optional<OpKind> op_from_mnemonic(std::string_view mnemonic);
// Elementwise ops (unary, binary, compare, select) and broadcast: the ones `fuse` may group.
bool is_elementwise(OpKind kind);
// True for ops that do more than compute their results from their operands (write a Variable,
// draw seeded random numbers): cse never merges them and dce never removes them. False for
// every op today.
bool has_side_effects(OpKind kind);

// The signature face: the result type of `kind` applied to operands of `operand_types`.
// Uses NumPy broadcasting for elementwise ops (the IR verifier is stricter, see verifier.h).
// Errors are InvalidArgument with TF-style messages naming the op, e.g.
//   "add: input #1 (zero-based) was expected to be a float32 tensor but is a int32 tensor"
//   "add: Incompatible shapes: [2, 3] vs. [4]"
// Not for const/fusion/terminators (their types come from a literal or a region).
absl::StatusOr<Type> infer_type(OpKind kind, std::span<const Type> operand_types,
                                const Attrs& attrs);

// Ops whose results form a list (split, top_k): their result types come from infer_types.
bool has_multiple_results(OpKind kind);
// The result types of `kind`: several for split/top_k, else the one of infer_type.
absl::StatusOr<std::vector<Type>> infer_types(OpKind kind, std::span<const Type> operand_types,
                                              const Attrs& attrs);

// The two dtype messages every layer uses (signature checks here, kernels in runtime/):
//   "<op>: input #<i> (zero-based) was expected to be a <want> tensor but is a <got> tensor"
//   "<op>: input #<i> (zero-based) is a <got> tensor; expected <allowed>"
absl::Status dtype_mismatch_error(std::string_view op, int index, DType expected, DType got);
// The <allowed> lists of unsupported_dtype_error.
inline constexpr std::string_view kFloatDTypes = "float16, bfloat16, float32 or float64";
inline constexpr std::string_view kNumericDTypes =
    "float16, bfloat16, float32, float64, int32 or int64";
absl::Status unsupported_dtype_error(std::string_view op, int index, DType got,
                                     std::string_view allowed);

// Reads attribute `name` as T, or `fallback` if absent or of another type.
template <typename T>
T attr_or(const Attrs& attrs, std::string_view name, T fallback) {
  auto it = attrs.find(name);
  if (it == attrs.end()) return fallback;
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return fallback;
}

// strided_slice's attributes read and checked against input shape `in` (docs/ir-format.md):
// begin/end/strides per input dim (stride != 0, bounds already resolved and clamped),
// shrink_axis (input dims removed, each of size 1 in the slice), new_axis (output positions of
// inserted size-1 dims). `out` is the result shape.
struct StridedSliceSpec {
  std::vector<int64_t> begin, end, strides, shrink_axis, new_axis;
  Shape out;
};
absl::StatusOr<StridedSliceSpec> strided_slice_spec(const Attrs& attrs, const Shape& in);

// Normalized reduction axes: sorted, unique, non-negative; all axes if `axes` is absent.
absl::StatusOr<std::vector<int64_t>> reduction_axes(std::string_view op, const Attrs& attrs,
                                                    int rank);

}  // namespace kiln::ir
