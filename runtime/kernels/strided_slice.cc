// kiln — the eager kernel of strided_slice: copies a strided box of the input, any dtype.
#include <cstring>

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

}  // namespace kiln::kernels::internal
