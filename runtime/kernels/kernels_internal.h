// kiln — private interface between the eager-kernel families (runtime/kernels/*.cc). No Eigen.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "ir/ops.h"
#include "runtime/kernels/kernels.h"

// Tells the vectorizer that iterations of the next loop are independent. Kernel loops may run
// with the output aliasing an input element-for-element (same shape), which is safe to vectorize.
#if defined(__clang__)
#define KILN_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define KILN_IVDEP _Pragma("GCC ivdep")
#else
#define KILN_IVDEP
#endif

namespace kiln::kernels::internal {

// Ranks above this are rejected with Unimplemented (plans use fixed-size arrays).
inline constexpr int kMaxRank = 16;

// neg abs square exp log.
absl::Status run_unary(ir::OpKind kind, const View& in, const MutableView& out);
// add sub mul div less greater, with NumPy broadcasting of both inputs to out's shape.
absl::Status run_binary(ir::OpKind kind, const View& a, const View& b, const MutableView& out);
// select(cond, a, b), all three broadcast to out's shape.
absl::Status run_select(const View& cond, const View& a, const View& b, const MutableView& out);
// broadcast: copies `in` broadcast to out's shape.
absl::Status run_broadcast(const View& in, const MutableView& out);
// reduce_sum / reduce_mean with attrs `axes` and `keepdims`.
absl::Status run_reduce(ir::OpKind kind, const ir::Attrs& attrs, const View& in,
                        const MutableView& out);
// The elementwise math ops of elementwise_math.cc (sqrt ... cast): is_math_op says which.
bool is_math_op(ir::OpKind kind);
absl::Status run_math(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                      const MutableView& out);
// matmul [..., m,k] x [..., k,n] -> [..., m,n] (batch dims broadcast; attrs transpose_a/_b).
absl::Status run_matmul(const ir::Attrs& attrs, const View& a, const View& b,
                        const MutableView& out);
// The array ops (class kArray: reduce_max..., argmax, cumsum, shape ops); array_kernels.cc.
absl::Status run_array(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                       const MutableView& out);
// strided_slice with normalized attrs (ir::strided_slice_spec); any dtype, by element size.
absl::Status run_strided_slice(const ir::Attrs& attrs, const View& in, const MutableView& out);
absl::Status run_strided_update(const ir::Attrs& attrs, const View& in, const View& value,
                                const MutableView& out);

// Calls `f(T{})` with T the C++ element type of `dtype` (float, double, int32_t, int64_t,
// bool); the one place that maps dtypes to C++ types, so adding a dtype is a change here plus
// new cases where a kernel rejects it. float16 and bfloat16 never reach the kernels: kernels.cc
// runs their ops in float32 (see run_in_float32) and rounds the results, so they are not here.
template <typename F>
decltype(auto) visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f(float{});
    case DType::kFloat64:
      return f(double{});
    case DType::kInt32:
      return f(int32_t{});
    case DType::kInt64:
      return f(int64_t{});
    case DType::kBool:
    case DType::kFloat16:
    case DType::kBFloat16:
      break;
  }
  return f(bool{});
}

// The unsigned type integer arithmetic is done in, so that it wraps like TF's (T itself for
// floats and bool).
template <typename T>
struct Wrap {
  using type = T;
};
template <>
struct Wrap<int32_t> {
  using type = uint32_t;
};
template <>
struct Wrap<int64_t> {
  using type = uint64_t;
};
template <typename T>
using WrapT = typename Wrap<T>::type;

// float16 / bfloat16: true if an input or output has one of these dtypes and `kind` computes
// with element values (ops that only move elements, like transpose or gather, run on the 16-bit
// values directly).
bool needs_float32(ir::OpKind kind, std::span<const View> in, std::span<const MutableView> out);
// Checks the dtypes against the op's signature, then runs `inner` with float32 copies of the
// 16-bit inputs, into float32 temporaries for the 16-bit outputs (attrs naming a 16-bit dtype
// name f32 instead), and rounds those back to nearest even: each op computes in float32 and
// rounds its result once, as TF's CPU kernels do.
absl::Status run_in_float32(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                            std::span<const MutableView> out,
                            absl::FunctionRef<absl::Status(const ir::Attrs&, std::span<const View>,
                                                           std::span<const MutableView>)>
                                inner);

// matmul of float64 or int64 operands (matmul_wide.cc); run_matmul has float32 and int32.
absl::Status run_matmul_wide(const ir::Attrs& attrs, const View& a, const View& b,
                             const MutableView& out);

// InvalidArgument "<op>: Integer division by zero" if the int32 or int64 divisor `b` has a zero
// element.
absl::Status int_divisor_check(std::string_view op, const View& b);

// "<op>: input #<i> (zero-based) was expected to be a <want> tensor but is a <got> tensor".
absl::Status dtype_error(std::string_view op, int index, DType want, DType got);
// "<op>: input #<i> (zero-based) is a <got> tensor; expected <allowed>".
absl::Status unsupported_dtype(std::string_view op, int index, DType got, std::string_view allowed);

}  // namespace kiln::kernels::internal
