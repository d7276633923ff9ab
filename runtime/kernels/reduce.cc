// kiln — reduction eager kernels: reduce_sum and reduce_mean over any set of axes.
//
// The input's dims are grouped into alternating runs of reduced and kept dims (size-1 dims
// dropped, adjacent dims of one kind merged). Output elements are produced in order by walking
// the kept runs; the innermost run decides the inner kernel:
//   reduced  each output is a sum of contiguous rows (vectorized, several accumulators);
//   kept     a tile of outputs accumulates whole contiguous rows (vectorized across the tile;
//            narrow rows are added several at a time as one wide row).
// float32 and float64 accumulate in double, int32 in int64 (int64 in wrapping uint64), so
// 16M-element sums stay accurate and int32 means are exact before TF's truncating division; int32
// sums wrap like TF's.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/kernels/kernels_internal.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

template <typename T>
struct AccumulatorOf;
template <>
struct AccumulatorOf<float> {
  using type = double;
};
template <>
struct AccumulatorOf<int32_t> {
  using type = int64_t;
};
template <>
struct AccumulatorOf<double> {
  using type = double;
};
template <>
struct AccumulatorOf<int64_t> {
  using type = uint64_t;  // wraps like TF's int64 sum
};

// A set of dims walked by an odometer: sizes and input strides (elements).
struct Walk {
  int rank = 0;
  int64_t count = 1;
  int64_t size[kMaxRank];
  int64_t stride[kMaxRank];

  void add(int64_t s, int64_t st) {
    size[rank] = s;
    stride[rank] = st;
    ++rank;
    count *= s;
  }
};

// Calls f(offset) for every index of `w`, in row-major order.
template <typename F>
inline void for_each_offset(const Walk& w, F&& f) {
  if (w.rank == 0) {
    f(int64_t{0});
    return;
  }
  if (w.rank == 1) {
    for (int64_t i = 0, off = 0; i < w.count; ++i, off += w.stride[0]) f(off);
    return;
  }
  int64_t idx[kMaxRank] = {};
  int64_t off = 0;
  for (int64_t t = 0; t < w.count; ++t) {
    f(off);
    for (int d = w.rank - 1; d >= 0; --d) {
      if (++idx[d] < w.size[d]) {
        off += w.stride[d];
        break;
      }
      idx[d] = 0;
      off -= w.stride[d] * (w.size[d] - 1);
    }
  }
}

// Sum of x[0, n) with kLanes independent accumulators (vectorizes without reassociation flags).
template <typename Acc, typename T>
inline Acc row_sum(const T* x, int64_t n) {
  constexpr int kLanes = 32;
  int64_t i = 0;
  Acc s = 0;
  if (n >= kLanes) {
    Acc acc[kLanes] = {};
    for (; i + kLanes <= n; i += kLanes) {
      for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<Acc>(x[i + j]);
    }
    for (int w = kLanes / 2; w > 0; w /= 2) {
      for (int j = 0; j < w; ++j) acc[j] += acc[j + w];
    }
    s = acc[0];
  }
  for (; i < n; ++i) s += static_cast<Acc>(x[i]);
  return s;
}

// acc[0, m) += x[0, m).
template <typename Acc, typename T>
inline void add_row(Acc* __restrict acc, const T* __restrict x, int64_t m) {
  for (int64_t j = 0; j < m; ++j) acc[j] += static_cast<Acc>(x[j]);
}

template <typename T>
struct Finisher {
  using Acc = typename AccumulatorOf<T>::type;
  bool mean;
  int64_t count;

  T operator()(Acc s) const {
    if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(mean ? s / static_cast<double>(count) : s);
    } else if constexpr (std::is_same_v<T, int64_t>) {
      const auto v = static_cast<int64_t>(s);
      return !mean ? v : count == 0 ? 0 : v / count;
    } else if (mean) {
      // TF: truncating division; an empty mean gives NumTraits<int>::quiet_NaN(), i.e. 0.
      return count == 0 ? 0 : static_cast<int32_t>(s / count);
    } else {
      return static_cast<int32_t>(static_cast<uint32_t>(s));  // wraps like TF's int32 sum
    }
  }
};

struct Group {
  int64_t size;
  bool reduced;
};

// acc[0, m) += sum over r < rows of x[r * stride + (0, m)).
template <typename Acc, typename T>
void accumulate_rows(Acc* acc, const T* x, int64_t rows, int64_t m, int64_t stride) {
  constexpr int64_t kWide = 64;
  if (m >= kWide || m != stride) {
    for (int64_t r = 0; r < rows; ++r) add_row(acc, x + r * stride, m);
    return;
  }
  // Narrow contiguous rows ([rows, m], m small): add q rows at a time as one row of q * m
  // elements, so the inner loop stays long, then fold the wide accumulator back to m columns.
  const int64_t q = (kWide + m - 1) / m, wide = q * m;
  Acc wide_acc[2 * kWide] = {};
  int64_t r = 0;
  for (; r + q <= rows; r += q) add_row(wide_acc, x + r * m, wide);
  add_row(wide_acc, x + r * m, (rows - r) * m);
  for (int64_t j = 0; j < wide; ++j) acc[j % m] += wide_acc[j];
}

template <typename T>
void reduce(const std::vector<Group>& groups, const Finisher<T>& finish, const T* in, T* out) {
  using Acc = typename AccumulatorOf<T>::type;
  // Input strides of the groups (row-major, contiguous).
  std::vector<int64_t> strides(groups.size());
  int64_t stride = 1;
  for (size_t g = groups.size(); g-- > 0;) {
    strides[g] = stride;
    stride *= groups[g].size;
  }
  // Every group but the innermost goes to the kept walk (output order) or the reduced walk.
  Walk kept, reduced;
  for (size_t g = 0; g + 1 < groups.size(); ++g) {
    (groups[g].reduced ? reduced : kept).add(groups[g].size, strides[g]);
  }
  const int64_t n = groups.back().size;

  if (groups.back().reduced) {                  // each output sums rows of n contiguous elements
    if (reduced.rank == 0 && kept.rank <= 1) {  // [K, n]: output k sums row k
      const int64_t rows = kept.count;
      if (n < 32) {
        // Short rows: 8 rows at a time, so 8 independent sums hide the add latency.
        int64_t k = 0;
        for (; k + 8 <= rows; k += 8) {
          Acc s[8] = {};
          const T* x = in + k * n;
          for (int64_t j = 0; j < n; ++j) {
            for (int b = 0; b < 8; ++b) s[b] += static_cast<Acc>(x[b * n + j]);
          }
          for (int b = 0; b < 8; ++b) out[k + b] = finish(s[b]);
        }
        for (; k < rows; ++k) {
          Acc s = 0;
          for (int64_t j = 0; j < n; ++j) s += static_cast<Acc>(in[k * n + j]);
          out[k] = finish(s);
        }
      } else {
        for (int64_t k = 0; k < rows; ++k) out[k] = finish(row_sum<Acc>(in + k * n, n));
      }
      return;
    }
    int64_t o = 0;
    for_each_offset(kept, [&](int64_t base) {
      Acc s = 0;
      for_each_offset(reduced, [&](int64_t off) { s += row_sum<Acc>(in + base + off, n); });
      out[o++] = finish(s);
    });
    return;
  }

  // The innermost group is kept: a tile of up to kTile outputs accumulates whole rows. The
  // group just outside it is reduced, with stride n: its rows form one [rows, n] block per
  // position of the remaining reduced dims.
  int64_t rows = 1;
  if (reduced.rank > 0) rows = reduced.size[--reduced.rank], reduced.count /= rows;
  constexpr int64_t kTile = 8192;
  std::vector<Acc> acc(std::min(n, kTile));
  int64_t o = 0;
  for_each_offset(kept, [&](int64_t base) {
    for (int64_t t = 0; t < n; t += kTile) {
      const int64_t m = std::min(kTile, n - t);
      std::fill_n(acc.data(), m, Acc{0});
      const T* block = in + base + t;
      for_each_offset(reduced,
                      [&](int64_t off) { accumulate_rows(acc.data(), block + off, rows, m, n); });
      for (int64_t j = 0; j < m; ++j) out[o + t + j] = finish(acc[j]);
    }
    o += n;
  });
}

}  // namespace

absl::Status run_reduce(ir::OpKind kind, const ir::Attrs& attrs, const View& in,
                        const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  if (in.dtype == DType::kBool) return unsupported_dtype(op, 0, in.dtype, ir::kNumericDTypes);
  if (out.dtype != in.dtype) {
    return absl::InvalidArgumentError(cat(op, ": output was expected to be a ",
                                          dtype_name(in.dtype), " tensor but is a ",
                                          dtype_name(out.dtype), " tensor"));
  }
  const Shape& shape = *in.shape;
  const int rank = shape.rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat(op, ": rank ", rank, " is above the supported ", kMaxRank));
  }
  KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, ir::reduction_axes(op, attrs, rank));
  std::vector<bool> is_reduced(rank, false);
  for (int64_t a : axes) is_reduced[a] = true;

  int64_t num_out = 1, count = 1;
  std::vector<Group> groups;
  for (int d = 0; d < rank; ++d) {
    const int64_t size = shape[d];
    (is_reduced[d] ? count : num_out) *= size;
    if (size == 1) continue;
    if (!groups.empty() && groups.back().reduced == is_reduced[d]) {
      groups.back().size *= size;
    } else {
      groups.push_back(Group{size, is_reduced[d]});
    }
  }
  if (out.shape->num_elements() != num_out) {
    return absl::InvalidArgumentError(
        cat(op, ": output shape ", *out.shape, " does not match the reduction of ", shape));
  }
  if (num_out == 0) return absl::OkStatus();
  const bool mean = kind == ir::OpKind::kReduceMean;

  auto run_typed = [&]<typename T>(const T* x, T* y) {
    const Finisher<T> finish{mean, count};
    if (count == 0) {  // reducing an empty dim: every output is the empty sum/mean
      std::fill_n(y, num_out, finish(0));
      return;
    }
    if (groups.empty()) groups.push_back(Group{1, false});
    reduce<T>(groups, finish, x, y);
  };
  visit_dtype(in.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      run_typed(static_cast<const T*>(in.data), static_cast<T*>(out.data));
    }
  });
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
