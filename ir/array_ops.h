// kiln — the signature face of the array ops (ops.def class kArray): reductions beyond
// sum/mean, argmax/argmin, cumsum, and shape/array ops (transpose reshape expand_dims squeeze
// concat tile pad gather one_hot add_n unsorted_segment_sum). Attributes are documented in
// docs/ir-format.md.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/ops.h"
#include "ir/types.h"

namespace kiln::ir {

// Result type of an array op `kind` (op_info(kind).cls == kArray), TF-style messages.
absl::StatusOr<Type> infer_array_type(OpKind kind, std::span<const Type> operand_types,
                                      const Attrs& attrs);

// Result types of the array ops with several results: split (attr `num_split` or `sizes`,
// `axis`) and top_k (attr `k`, `sorted`: values and int32 indices).
absl::StatusOr<std::vector<Type>> infer_array_types(OpKind kind,
                                                    std::span<const Type> operand_types,
                                                    const Attrs& attrs);

// Split sizes along `axis` for split with attrs num_split or sizes, checked against `dim`.
absl::StatusOr<std::vector<int64_t>> split_sizes(const Attrs& attrs, int64_t dim);

// A single axis attribute `name` (default `fallback`) checked against `rank` and made
// non-negative. Message: "<op>: Expected axis in the range [-r, r), but got a".
absl::StatusOr<int> single_axis(std::string_view op, const Attrs& attrs, std::string_view name,
                                int64_t fallback, int rank);

// transpose's permutation: attr `perm`, or the reversed dims if absent.
absl::StatusOr<std::vector<int64_t>> transpose_perm(const Attrs& attrs, int rank);

// A numeric attribute read as double whether written as integer or float.
double number_attr(const Attrs& attrs, std::string_view name, double fallback);

}  // namespace kiln::ir
