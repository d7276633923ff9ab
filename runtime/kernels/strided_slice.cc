// kiln — the eager kernels of strided_slice (copies a strided box of the input) and
// strided_update (replaces that box by a value broadcast to it), any dtype.
#include <algorithm>
#include <cstring>
#include <vector>

#include "runtime/kernels/kernels_internal.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

// Copies `n` elements of `size` bytes from `src` (element stride `step`) to dense `dst`.
template <typename T>
void copy_strided(const T* src, int64_t step, int64_t n, T* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = src[i * step];
}

void copy_row(const char* src, int64_t step, int64_t n, char* dst, int64_t size) {
  switch (size) {
    case 1:
      return copy_strided(reinterpret_cast<const uint8_t*>(src), step, n,
                          reinterpret_cast<uint8_t*>(dst));
    case 2:
      return copy_strided(reinterpret_cast<const uint16_t*>(src), step, n,
                          reinterpret_cast<uint16_t*>(dst));
    case 4:
      return copy_strided(reinterpret_cast<const uint32_t*>(src), step, n,
                          reinterpret_cast<uint32_t*>(dst));
    case 8:
      return copy_strided(reinterpret_cast<const uint64_t*>(src), step, n,
                          reinterpret_cast<uint64_t*>(dst));
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * size, src + i * step * size, size);
  }
}

}  // namespace

absl::Status run_strided_slice(const ir::Attrs& attrs, const View& in, const MutableView& out) {
  auto spec = ir::strided_slice_spec(attrs, *in.shape);
  if (!spec.ok()) return spec.status();
  if (!(spec->out == *out.shape) || in.dtype != out.dtype) {
    return absl::InvalidArgumentError(
        cat("strided_slice: output is ", *out.shape, ", expected ", spec->out));
  }
  const int rank = in.shape->rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat("strided_slice: rank ", rank, " is above ", kMaxRank));
  }
  const int64_t size = dtype_size(in.dtype);
  if (out.shape->num_elements() == 0) return absl::OkStatus();
  // Per input dim: element stride in the input, slice length, start offset.
  int64_t in_stride[kMaxRank], len[kMaxRank];
  int64_t offset = 0, stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t b = spec->begin[d], e = spec->end[d], st = spec->strides[d];
    len[d] = st > 0 ? (e - b + st - 1) / st : (b - e - st - 1) / -st;
    in_stride[d] = stride * st;
    offset += b * stride;
    stride *= (*in.shape)[d];
  }
  const char* src = static_cast<const char*>(in.data) + offset * size;
  char* dst = static_cast<char*>(out.data);
  if (rank == 0) {
    std::memcpy(dst, src, size);
    return absl::OkStatus();
  }
  // Odometer over all dims but the last; each step copies one row of the last dim.
  int64_t idx[kMaxRank] = {};
  const int64_t row = len[rank - 1];
  for (;;) {
    int64_t at = 0;
    for (int d = 0; d + 1 < rank; ++d) at += idx[d] * in_stride[d];
    copy_row(src + at * size, in_stride[rank - 1], row, dst, size);
    dst += row * size;
    int d = rank - 2;
    for (; d >= 0; --d) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
    if (d < 0) break;
  }
  return absl::OkStatus();
}

absl::Status run_strided_update(const ir::Attrs& attrs, const View& in, const View& value,
                                const MutableView& out) {
  auto spec = ir::strided_slice_spec(attrs, *in.shape);
  if (!spec.ok()) return spec.status();
  auto b = broadcast_shapes(*value.shape, spec->out);
  if (!(*in.shape == *out.shape) || in.dtype != out.dtype || value.dtype != in.dtype || !b ||
      !(*b == spec->out)) {
    return absl::InvalidArgumentError(cat("strided_update: input ", *in.shape, ", value ",
                                          *value.shape, " and output ", *out.shape,
                                          " do not match the slice ", spec->out));
  }
  const int rank = in.shape->rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat("strided_update: rank ", rank, " is above ", kMaxRank));
  }
  const int64_t size = dtype_size(in.dtype);
  char* dst = static_cast<char*>(out.data);
  if (dst != in.data) std::memmove(dst, in.data, in.shape->num_elements() * size);
  if (spec->out.num_elements() == 0) return absl::OkStatus();
  // The value's element stride along each slice dim (0 where it broadcasts), then per input
  // dim: the slice dim it becomes (none if shrunk; inserted new axes have size 1).
  const Shape& vs = *value.shape;
  const int out_rank = spec->out.rank();
  std::vector<int64_t> value_stride(out_rank, 0);
  int64_t vstride = 1;
  for (int o = out_rank - 1, v = vs.rank() - 1; v >= 0; --o, --v) {
    if (vs[v] != 1) value_stride[o] = vstride;
    vstride *= vs[v];
  }
  int64_t in_stride[kMaxRank], len[kMaxRank], vstep[kMaxRank];
  int64_t offset = 0, stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t bg = spec->begin[d], e = spec->end[d], st = spec->strides[d];
    len[d] = st > 0 ? (e - bg + st - 1) / st : (bg - e - st - 1) / -st;
    in_stride[d] = stride * st;
    offset += bg * stride;
    stride *= (*in.shape)[d];
  }
  for (int d = 0, o = 0; d < rank; ++d) {
    while (std::find(spec->new_axis.begin(), spec->new_axis.end(), o) != spec->new_axis.end()) ++o;
    const bool shrunk =
        std::find(spec->shrink_axis.begin(), spec->shrink_axis.end(), d) != spec->shrink_axis.end();
    vstep[d] = shrunk ? 0 : value_stride[o++];
  }
  const char* src = static_cast<const char*>(value.data);
  dst += offset * size;
  const int64_t count = spec->out.num_elements();
  int64_t idx[kMaxRank] = {};
  for (int64_t k = 0; k < count; ++k) {
    int64_t at = 0, from = 0;
    for (int d = 0; d < rank; ++d) {
      at += idx[d] * in_stride[d];
      from += idx[d] * vstep[d];
    }
    std::memcpy(dst + at * size, src + from * size, size);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
