// kiln — eager kernels for the data-movement array ops: transpose reshape expand_dims squeeze
// concat tile pad gather (any dtype, by element size), one_hot, add_n, unsorted_segment_sum;
// and run_array, the kernel face of every kArray op.
//
// transpose and tile are one strided copy: the output is walked in row-major order over
// (merged) dims with per-dim input strides; a contiguous innermost run is memcpy'd, otherwise
// the two innermost dims are copied in 32x32 tiles. concat, pad and gather memcpy rows.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "ir/array_ops.h"
#include "runtime/kernels/array_kernels.h"
#include "runtime/kernels/kernels_internal.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

// Output dims (row-major, contiguous) with the input stride (elements) of each.
struct StridedDims {
  std::vector<int64_t> size, stride;
  void add(int64_t s, int64_t st) {
    if (s == 1) return;
    if (!size.empty() && stride.back() == st * s) {  // contiguous with the previous dim: merge
      size.back() *= s;
      stride.back() = st;
      return;
    }
    size.push_back(s);
    stride.push_back(st);
  }
};

template <typename E>
void tile_copy(const E* in, E* out, int64_t a, int64_t sa, int64_t b, int64_t sb) {
  constexpr int64_t kBlock = 32;
  for (int64_t i0 = 0; i0 < a; i0 += kBlock) {
    const int64_t i1 = std::min(a, i0 + kBlock);
    for (int64_t j0 = 0; j0 < b; j0 += kBlock) {
      const int64_t j1 = std::min(b, j0 + kBlock);
      for (int64_t i = i0; i < i1; ++i) {
        for (int64_t j = j0; j < j1; ++j) out[i * b + j] = in[i * sa + j * sb];
      }
    }
  }
}

template <typename E>
void strided_copy_typed(const E* in, E* out, const StridedDims& d) {
  const int r = static_cast<int>(d.size.size());
  if (r == 0) {
    out[0] = in[0];
    return;
  }
  const bool inner_contiguous = d.stride[r - 1] == 1;
  // Inner block: the last dim if contiguous (memcpy), else the last two dims (tiles).
  const int inner_dims = inner_contiguous || r == 1 ? 1 : 2;
  int64_t block = 1;
  for (int i = r - inner_dims; i < r; ++i) block *= d.size[i];
  const int outer_rank = r - inner_dims;
  int64_t outer = 1;
  for (int i = 0; i < outer_rank; ++i) outer *= d.size[i];
  std::vector<int64_t> idx(std::max(outer_rank, 1), 0);
  int64_t off = 0;
  for (int64_t t = 0; t < outer; ++t) {
    E* o = out + t * block;
    const E* x = in + off;
    if (inner_contiguous) {
      std::memcpy(o, x, block * sizeof(E));
    } else if (inner_dims == 1) {
      for (int64_t j = 0; j < block; ++j) o[j] = x[j * d.stride[r - 1]];
    } else {
      tile_copy(x, o, d.size[r - 2], d.stride[r - 2], d.size[r - 1], d.stride[r - 1]);
    }
    for (int i = outer_rank - 1; i >= 0; --i) {
      off += d.stride[i];
      if (++idx[i] < d.size[i]) break;
      off -= d.stride[i] * d.size[i];
      idx[i] = 0;
    }
  }
}

// Calls f(E{}) with an unsigned integer type of `bytes` bytes.
template <typename F>
void visit_size(int64_t bytes, F&& f) {
  switch (bytes) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    default:
      return f(uint64_t{});
  }
}

void strided_copy(const void* in, void* out, const StridedDims& d, int64_t esize) {
  visit_size(esize, [&]<typename E>(E) {
    strided_copy_typed(static_cast<const E*>(in), static_cast<E*>(out), d);
  });
}

std::vector<int64_t> strides_of(const Shape& s) {
  std::vector<int64_t> st(s.rank());
  for (int64_t i = s.rank() - 1, acc = 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[static_cast<int>(i)];
  }
  return st;
}

absl::Status transpose(const ir::Attrs& attrs, const View& in, const MutableView& out) {
  const Shape& s = *in.shape;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ir::transpose_perm(attrs, s.rank()));
  const std::vector<int64_t> st = strides_of(s);
  StridedDims d;
  for (int64_t p : perm) d.add(s[static_cast<int>(p)], st[p]);
  strided_copy(in.data, out.data, d, dtype_size(in.dtype));
  return absl::OkStatus();
}

absl::Status tile(const ir::Attrs& attrs, const View& in, const MutableView& out) {
  const Shape& s = *in.shape;
  const std::vector<int64_t> m = ir::attr_or<std::vector<int64_t>>(attrs, "multiples", {});
  const std::vector<int64_t> st = strides_of(s);
  StridedDims d;
  for (int i = 0; i < s.rank(); ++i) {
    if (m[i] != 1) {  // a repeat dim of stride 0 before each input dim
      d.size.push_back(m[i]);
      d.stride.push_back(0);
    }
    d.add(s[i], st[i]);
  }
  strided_copy(in.data, out.data, d, dtype_size(in.dtype));
  return absl::OkStatus();
}

absl::Status concat(const ir::Attrs& attrs, std::span<const View> in, const MutableView& out) {
  const int rank = out.shape->rank();
  KILN_ASSIGN_OR_RETURN(int axis, ir::single_axis("concat", attrs, "axis", 0, rank));
  const int64_t esize = dtype_size(out.dtype);
  int64_t outer = 1;
  for (int d = 0; d < axis; ++d) outer *= (*out.shape)[d];
  std::vector<int64_t> chunk(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    chunk[i] = esize;
    for (int d = axis; d < rank; ++d) chunk[i] *= (*in[i].shape)[d];
  }
  auto* o = static_cast<char*>(out.data);
  for (int64_t r = 0; r < outer; ++r) {
    for (size_t i = 0; i < in.size(); ++i) {
      if (chunk[i] == 0) continue;
      std::memcpy(o, static_cast<const char*>(in[i].data) + r * chunk[i], chunk[i]);
      o += chunk[i];
    }
  }
  return absl::OkStatus();
}

absl::Status pad(const ir::Attrs& attrs, const View& in, const MutableView& out) {
  const Shape& s = *in.shape;
  const int rank = s.rank();
  const std::vector<int64_t> p = ir::attr_or<std::vector<int64_t>>(attrs, "paddings", {});
  const double value = ir::number_attr(attrs, "constant_value", 0.0);
  const int64_t total = out.shape->num_elements();
  visit_dtype(out.dtype, [&]<typename T>(T) {
    std::fill_n(static_cast<T*>(out.data), total, static_cast<T>(value));
  });
  if (s.num_elements() == 0) return absl::OkStatus();
  if (rank == 0) {
    std::memcpy(out.data, in.data, dtype_size(in.dtype));
    return absl::OkStatus();
  }
  const int64_t esize = dtype_size(in.dtype);
  const std::vector<int64_t> ost = strides_of(*out.shape);
  int64_t base = 0;
  for (int d = 0; d < rank; ++d) base += p[2 * d] * ost[d];
  const int64_t row = s[rank - 1] * esize;
  int64_t rows = 1;
  for (int d = 0; d + 1 < rank; ++d) rows *= s[d];
  std::vector<int64_t> idx(rank, 0);
  int64_t off = base;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(static_cast<char*>(out.data) + off * esize,
                static_cast<const char*>(in.data) + r * row, row);
    for (int d = rank - 2; d >= 0; --d) {
      off += ost[d];
      if (++idx[d] < s[d]) break;
      off -= ost[d] * s[d];
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

// "[i,j]" coordinates of flat index `flat` in `shape`.
std::string coords(int64_t flat, const Shape& shape) {
  std::vector<int64_t> c(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    c[d] = shape[d] == 0 ? 0 : flat % shape[d];
    flat = shape[d] == 0 ? 0 : flat / shape[d];
  }
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) out += cat(i ? "," : "", c[i]);
  return out;
}

absl::Status gather(const ir::Attrs& attrs, const View& params, const View& indices,
                    const MutableView& out) {
  const Shape& s = *params.shape;
  KILN_ASSIGN_OR_RETURN(int axis, ir::single_axis("gather", attrs, "axis", 0, s.rank()));
  int64_t outer = 1, inner = dtype_size(params.dtype);
  for (int d = 0; d < axis; ++d) outer *= s[d];
  for (int d = axis + 1; d < s.rank(); ++d) inner *= s[d];
  const int64_t n = s[axis], count = indices.shape->num_elements();
  std::vector<int64_t> idx(count);
  if (indices.dtype == DType::kInt64) {
    std::copy_n(static_cast<const int64_t*>(indices.data), count, idx.data());
  } else {
    std::copy_n(static_cast<const int32_t*>(indices.data), count, idx.data());
  }
  for (int64_t j = 0; j < count; ++j) {
    if (idx[j] < 0 || idx[j] >= n) {
      return absl::InvalidArgumentError(cat("gather: indices[", coords(j, *indices.shape),
                                            "] = ", idx[j], " is not in [0, ", n, ")"));
    }
  }
  auto* o = static_cast<char*>(out.data);
  const auto* x = static_cast<const char*>(params.data);
  for (int64_t r = 0; r < outer; ++r) {
    for (int64_t j = 0; j < count; ++j, o += inner) {
      std::memcpy(o, x + (r * n + idx[j]) * inner, inner);
    }
  }
  return absl::OkStatus();
}

absl::Status one_hot(const ir::Attrs& attrs, const View& in, const MutableView& out) {
  const int64_t depth = ir::attr_or<int64_t>(attrs, "depth", 0);
  const double on = ir::number_attr(attrs, "on_value", 1.0);
  const double off = ir::number_attr(attrs, "off_value", 0.0);
  const int rank = in.shape->rank();
  int64_t axis = ir::attr_or<int64_t>(attrs, "axis", -1);
  if (axis == -1) axis = rank;
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < rank; ++d) (d < axis ? outer : inner) *= (*in.shape)[d];
  visit_dtype(in.dtype, [&]<typename I>(I) {
    visit_dtype(out.dtype, [&]<typename T>(T) {
      if constexpr (std::is_integral_v<I> && !std::is_same_v<I, bool>) {
        const auto* x = static_cast<const I*>(in.data);
        auto* y = static_cast<T*>(out.data);
        const T on_t = static_cast<T>(on), off_t = static_cast<T>(off);
        for (int64_t o = 0; o < outer; ++o) {
          for (int64_t k = 0; k < depth; ++k) {
            T* row = y + (o * depth + k) * inner;
            const I* xi = x + o * inner;
            for (int64_t i = 0; i < inner; ++i) row[i] = xi[i] == k ? on_t : off_t;
          }
        }
      }
    });
  });
  return absl::OkStatus();
}

absl::Status add_n(std::span<const View> in, const MutableView& out) {
  const int64_t n = out.shape->num_elements();
  visit_dtype(out.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      using U = WrapT<T>;  // integers wrap
      U* y = static_cast<U*>(out.data);
      const U* x0 = static_cast<const U*>(in[0].data);
      if (in.size() == 1) {
        std::memmove(y, x0, n * sizeof(U));
        return;
      }
      const U* x1 = static_cast<const U*>(in[1].data);
      KILN_IVDEP for (int64_t i = 0; i < n; ++i) y[i] = x0[i] + x1[i];
      for (size_t k = 2; k < in.size(); ++k) {
        const U* xk = static_cast<const U*>(in[k].data);
        KILN_IVDEP for (int64_t i = 0; i < n; ++i) y[i] += xk[i];
      }
    }
  });
  return absl::OkStatus();
}

// out[ids[j], ...] += data[j, ...] (rows of data after the ids' dims); negative ids are dropped,
// as TF's. The ids are checked before anything is written.
absl::Status unsorted_segment_sum(const ir::Attrs& attrs, const View& data, const View& ids,
                                  const MutableView& out) {
  const int64_t num = ir::attr_or<int64_t>(attrs, "num_segments", 0);
  const int64_t count = ids.shape->num_elements();
  int64_t row = 1;
  for (int d = ids.shape->rank(); d < data.shape->rank(); ++d) row *= (*data.shape)[d];
  const auto* idx = static_cast<const int32_t*>(ids.data);
  for (int64_t j = 0; j < count; ++j) {
    if (idx[j] >= num) {
      return absl::InvalidArgumentError(cat("unsorted_segment_sum: segment_ids[",
                                            coords(j, *ids.shape), "] = ", idx[j],
                                            " is not in [0, ", num, ")"));
    }
  }
  visit_dtype(out.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      using U = std::conditional_t<std::is_same_v<T, int32_t>, uint32_t, T>;  // int32 wraps
      U* y = static_cast<U*>(out.data);
      const U* x = static_cast<const U*>(data.data);
      std::fill(y, y + num * row, U{0});
      for (int64_t j = 0; j < count; ++j, x += row) {
        if (idx[j] < 0) continue;
        U* dst = y + idx[j] * row;
        KILN_IVDEP for (int64_t i = 0; i < row; ++i) dst[i] += x[i];
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status run_shape_op(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                          const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  std::vector<ir::Type> types;
  for (const View& v : in) types.push_back(ir::Type{v.dtype, *v.shape});
  KILN_ASSIGN_OR_RETURN(ir::Type type, ir::infer_type(kind, types, attrs));
  if (!(type == ir::Type{out.dtype, *out.shape})) {
    return absl::InvalidArgumentError(
        cat(op, ": output is ", ir::Type{out.dtype, *out.shape}, " but should be ", type));
  }
  for (const View& v : in) {
    if (v.shape->rank() > kMaxRank) {
      return absl::UnimplementedError(
          cat(op, ": rank ", v.shape->rank(), " is above the ", "supported ", kMaxRank));
    }
  }
  // Its ids are checked even when the result is empty.
  if (kind == ir::OpKind::kUnsortedSegmentSum) {
    return unsorted_segment_sum(attrs, in[0], in[1], out);
  }
  if (out.shape->num_elements() == 0) return absl::OkStatus();
  switch (kind) {
    case ir::OpKind::kReshape:
    case ir::OpKind::kExpandDims:
    case ir::OpKind::kSqueeze:
    case ir::OpKind::kStopGradient:
    case ir::OpKind::kCustomGrad:  // forward: the identity of operand #0
      if (out.data != in[0].data) {
        std::memcpy(out.data, in[0].data, out.shape->num_elements() * dtype_size(out.dtype));
      }
      return absl::OkStatus();
    case ir::OpKind::kTranspose:
      return transpose(attrs, in[0], out);
    case ir::OpKind::kTile:
      return tile(attrs, in[0], out);
    case ir::OpKind::kConcat:
      return concat(attrs, in, out);
    case ir::OpKind::kPad:
      return pad(attrs, in[0], out);
    case ir::OpKind::kGather:
      return gather(attrs, in[0], in[1], out);
    case ir::OpKind::kOneHot:
      return one_hot(attrs, in[0], out);
    case ir::OpKind::kAddN:
      return add_n(in, out);
    default:
      break;
  }
  return absl::UnimplementedError(cat(op, ": op has no eager kernel"));
}

absl::Status run_array(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                       const MutableView& out) {
  switch (kind) {
    case ir::OpKind::kReduceMax:
    case ir::OpKind::kReduceMin:
    case ir::OpKind::kReduceProd:
    case ir::OpKind::kReduceAll:
    case ir::OpKind::kReduceAny:
    case ir::OpKind::kArgmax:
    case ir::OpKind::kArgmin:
    case ir::OpKind::kCumsum:
      if (in.size() != 1) {
        return absl::InvalidArgumentError(cat(ir::mnemonic(kind), ": expected 1 input"));
      }
      return run_reduce_more(kind, attrs, in[0], out);
    default:
      return run_shape_op(kind, attrs, in, out);
  }
}

}  // namespace kiln::kernels::internal
