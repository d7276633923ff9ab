// kiln — the public array ops with TF names: reductions beyond sum/mean, argmax/argmin, batched
// matmul with transpose flags, shape ops (transpose reshape expand_dims squeeze concat stack
// tile pad gather one_hot add_n cumsum softmax log_softmax) and creation functions (zeros ones
// fill zeros_like ones_like range linspace eye). Each op goes through dispatch (eager or traced);
// composites (reduce_logsumexp, stack, softmax, log_softmax) are written with other ops.
// Creation functions build concrete tensors; under tracing they become constants.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace kiln {

// Reductions over `axis` (all axes if omitted; negative axes count from the end), as reduce_sum.
Tensor reduce_max(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                  bool keepdims = false);
Tensor reduce_min(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                  bool keepdims = false);
Tensor reduce_prod(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                   bool keepdims = false);
// bool tensors only.
Tensor reduce_all(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                  bool keepdims = false);
Tensor reduce_any(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                  bool keepdims = false);
// log(sum(exp(x))) computed stably as max + log(sum(exp(x - max))); float tensors.
Tensor reduce_logsumexp(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt,
                        bool keepdims = false);

// Index of the largest/smallest element along `axis`; the first one on ties. The result is
// int32 unless `output_type` is int64 (TF's default output_type is int64).
Tensor argmax(const Tensor& x, int axis = 0, DType output_type = DType::kInt32);
Tensor argmin(const Tensor& x, int axis = 0, DType output_type = DType::kInt32);

// [..., m, k] x [..., k, n] with broadcast batch dims; the flags transpose the last two dims of
// an operand first.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b = false);

// Permutes dims (default: reversed).
Tensor transpose(const Tensor& x, std::optional<std::vector<int64_t>> perm = std::nullopt);
// One entry of `shape` may be -1 (inferred).
Tensor reshape(const Tensor& x, std::vector<int64_t> shape);
Tensor expand_dims(const Tensor& x, int axis);
// Removes the size-1 dims listed in `axis` (all size-1 dims if omitted).
Tensor squeeze(const Tensor& x, std::optional<std::vector<int64_t>> axis = std::nullopt);
Tensor concat(const std::vector<Tensor>& values, int axis);
Tensor stack(const std::vector<Tensor>& values, int axis = 0);
Tensor tile(const Tensor& x, std::vector<int64_t> multiples);
// paddings: (before, after) per dim, filled with `constant_values`.
Tensor pad(const Tensor& x, const std::vector<std::pair<int64_t, int64_t>>& paddings,
           double constant_values = 0);
// params[..., indices, ...] along `axis`; indices are int32 or int64.
Tensor gather(const Tensor& params, const Tensor& indices, int axis = 0);
// out[segment_ids[j...], ...] = sum of the rows data[j..., ...] with that id (TF's
// unsorted_segment_sum): segment_ids (int32) is a prefix of data.shape; the result is
// [num_segments] + data.shape[segment_ids.rank:]. Negative ids are dropped; ids >= num_segments
// are an InvalidArgumentError. The gradient of gather is one of these.
Tensor unsorted_segment_sum(const Tensor& data, const Tensor& segment_ids, int64_t num_segments);
// One-hot vectors of `depth` at `axis` (-1: last) of numeric `dtype`; indices are int32 or
// int64, out-of-range ones give off_value.
Tensor one_hot(const Tensor& indices, int64_t depth, double on_value = 1.0, double off_value = 0.0,
               int axis = -1, DType dtype = DType::kFloat32);
// Elementwise sum of tensors of one shape and dtype.
Tensor add_n(const std::vector<Tensor>& inputs);
Tensor cumsum(const Tensor& x, int axis = 0, bool exclusive = false, bool reverse = false);
// Numerically stable (the max along `axis` is subtracted first); float tensors.
Tensor softmax(const Tensor& logits, int axis = -1);
Tensor log_softmax(const Tensor& logits, int axis = -1);

// Splits `x` along `axis` into `num_split` equal parts, or into parts of `sizes` (one may be
// -1: the rest).
std::vector<Tensor> split(const Tensor& x, int64_t num_split, int axis = 0);
std::vector<Tensor> split(const Tensor& x, std::vector<int64_t> sizes, int axis = 0);
// The k largest entries along the last axis, largest first (lower index first on ties), and
// their int32 indices.
struct TopK {
  Tensor values;
  Tensor indices;
};
TopK top_k(const Tensor& x, int64_t k = 1, bool sorted = true);

// ---- Creation ------------------------------------------------------------------------------

Tensor zeros(const Shape& shape, DType dtype = DType::kFloat32);
Tensor ones(const Shape& shape, DType dtype = DType::kFloat32);
// Every element `value`; fill(shape, 7) is int32, fill(shape, 7.5) float32, as tf.fill.
Tensor fill(const Shape& shape, double value, DType dtype);
template <Scalar S>
Tensor fill(const Shape& shape, S value) {
  const DType dtype = std::same_as<S, bool>    ? DType::kBool
                      : std::floating_point<S> ? DType::kFloat32
                                               : DType::kInt32;
  return fill(shape, static_cast<double>(value), dtype);
}
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);

// [start, limit) in steps of delta. int32 if every argument is a C++ integer, else float32
// (TF's inference), or the given dtype.
Tensor range(double start, double limit, double delta, DType dtype);
template <Scalar A, Scalar B, Scalar C = int>
Tensor range(A start, B limit, C delta = 1) {
  const bool all_int = std::integral<A> && std::integral<B> && std::integral<C>;
  return range(static_cast<double>(start), static_cast<double>(limit), static_cast<double>(delta),
               all_int ? DType::kInt32 : DType::kFloat32);
}
template <Scalar A>
Tensor range(A limit) {
  return range(A{0}, limit, 1);
}
// `num` evenly spaced float32 values from start to stop inclusive.
Tensor linspace(double start, double stop, int64_t num);
// [num_rows, num_columns] identity (num_columns = num_rows if negative).
Tensor eye(int64_t num_rows, int64_t num_columns = -1, DType dtype = DType::kFloat32);

}  // namespace kiln
