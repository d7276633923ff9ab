// kiln — eager kernels for the ops with several results: split (any dtype, by element size;
// memcpy of row blocks) and top_k (values and int32 indices along the last axis, largest first,
// lower index first on ties, NaN counted as the largest value).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <numeric>
#include <vector>

#include "ir/array_ops.h"
#include "runtime/kernels/kernels_internal.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels {
namespace {

absl::Status split(const ir::Attrs& attrs, const View& in, std::span<const MutableView> out) {
  const Shape& s = *in.shape;
  KILN_ASSIGN_OR_RETURN(int axis, ir::single_axis("split", attrs, "axis", 0, s.rank()));
  const int64_t esize = dtype_size(in.dtype);
  int64_t outer = 1, inner = esize;
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < s.rank(); ++d) inner *= s[d];
  const int64_t row = s[axis] * inner;  // bytes of one outer row of the input
  int64_t offset = 0;
  for (const MutableView& o : out) {
    const int64_t chunk = (*o.shape)[axis] * inner;
    if (chunk > 0) {
      for (int64_t r = 0; r < outer; ++r) {
        std::memcpy(static_cast<char*>(o.data) + r * chunk,
                    static_cast<const char*>(in.data) + r * row + offset, chunk);
      }
    }
    offset += chunk;
  }
  return absl::OkStatus();
}

template <typename T>
bool greater(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return !std::isnan(b);
    if (std::isnan(b)) return false;
  }
  return a > b;
}

template <typename T>
void top_k(const T* x, T* values, int32_t* indices, int64_t rows, int64_t n, int64_t k) {
  std::vector<int32_t> order(n);
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t i, int32_t j) {
      return greater(row[i], row[j]) || (!greater(row[j], row[i]) && i < j);
    });
    for (int64_t i = 0; i < k; ++i) {
      values[r * k + i] = row[order[i]];
      indices[r * k + i] = order[i];
    }
  }
}

absl::Status check_data(std::string_view op, std::string_view what, int i, const void* data,
                        const Shape* shape) {
  if (shape == nullptr || shape->num_elements() < 0) {
    return absl::InvalidArgumentError(cat(op, ": ", what, " #", i, " has no defined shape"));
  }
  if (shape->num_elements() > 0 && data == nullptr) {
    return absl::InvalidArgumentError(cat(op, ": ", what, " #", i, " has no data"));
  }
  return absl::OkStatus();
}

absl::Status run_multi_checked(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                               std::span<const MutableView> out) {
  const std::string_view op = ir::mnemonic(kind);
  if (!ir::has_multiple_results(kind)) {
    return absl::InvalidArgumentError(cat(op, ": not an op with several results; use run"));
  }
  if (kind == ir::OpKind::kGrad) {
    return absl::UnimplementedError(
        "grad: the op has no kernel; the autodiff pass expands it into the backward computation");
  }
  std::vector<ir::Type> types;
  for (size_t i = 0; i < in.size(); ++i) {
    KILN_RETURN_IF_ERROR(check_data(op, "input", static_cast<int>(i), in[i].data, in[i].shape));
    types.push_back(ir::Type{in[i].dtype, *in[i].shape});
  }
  KILN_ASSIGN_OR_RETURN(std::vector<ir::Type> want, ir::infer_types(kind, types, attrs));
  if (want.size() != out.size()) {
    return absl::InvalidArgumentError(
        cat(op, ": expected ", want.size(), " outputs but got ", out.size()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    KILN_RETURN_IF_ERROR(check_data(op, "output", static_cast<int>(i), out[i].data, out[i].shape));
    if (!(ir::Type{out[i].dtype, *out[i].shape} == want[i])) {
      return absl::InvalidArgumentError(cat(op, ": output #", i, " is ",
                                            ir::Type{out[i].dtype, *out[i].shape},
                                            " but should be ", want[i]));
    }
  }
  if (kind == ir::OpKind::kSplit) return split(attrs, in[0], out);
  // top_k
  const Shape& s = *in[0].shape;
  const int64_t n = s[s.rank() - 1], k = (*out[0].shape)[s.rank() - 1];
  const int64_t rows = n == 0 ? 0 : s.num_elements() / n;
  if (k == 0 || rows == 0) return absl::OkStatus();
  internal::visit_dtype(in[0].dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      top_k(static_cast<const T*>(in[0].data), static_cast<T*>(out[0].data),
            static_cast<int32_t*>(out[1].data), rows, n, k);
    }
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status run_multi(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> inputs,
                       std::span<const MutableView> outputs) {
  try {
    if (internal::needs_float32(kind, inputs, outputs)) {
      return internal::run_in_float32(
          kind, attrs, inputs, outputs,
          [&](const ir::Attrs& a, std::span<const View> in32, std::span<const MutableView> out32) {
            return run_multi_checked(kind, a, in32, out32);
          });
    }
    return run_multi_checked(kind, attrs, inputs, outputs);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(cat(ir::mnemonic(kind), ": out of memory"));
  } catch (const std::exception& e) {
    return absl::InternalError(cat(ir::mnemonic(kind), ": ", e.what()));
  }
}

}  // namespace kiln::kernels
