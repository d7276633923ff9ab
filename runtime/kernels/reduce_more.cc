// kiln — eager kernels for reduce_max/min/prod/all/any, argmax/argmin and cumsum.
//
// Reductions group the input's dims into runs of reduced and kept dims (size-1 dims dropped,
// neighbours of one kind merged) and walk the input once in row-major order, combining each
// element into its output slot; the innermost run is a contiguous row (a row fold when it is
// reduced, an elementwise combine into a row of outputs when it is kept). int32 products and
// sums wrap like TF's (int64 too).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "ir/array_ops.h"
#include "runtime/kernels/array_kernels.h"
#include "runtime/kernels/kernels_internal.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

template <typename T>
T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<WrapT<T>>(a) + static_cast<WrapT<T>>(b));
}

template <typename T>
struct MaxOp {
  static T init() {
    if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::lowest();
  }
  T operator()(T a, T b) const { return (b > a || b != b) ? b : a; }  // NaN propagates
};
template <typename T>
struct MinOp {
  static T init() {
    if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
    return std::numeric_limits<T>::max();
  }
  T operator()(T a, T b) const { return (b < a || b != b) ? b : a; }
};
template <typename T>
struct ProdOp {
  static T init() { return T{1}; }
  T operator()(T a, T b) const {
    return static_cast<T>(static_cast<WrapT<T>>(a) * static_cast<WrapT<T>>(b));
  }
};
struct AllOp {
  static bool init() { return true; }
  bool operator()(bool a, bool b) const { return a && b; }
};
struct AnyOp {
  static bool init() { return false; }
  bool operator()(bool a, bool b) const { return a || b; }
};

struct Group {
  int64_t size;
  bool reduced;
};

template <typename T, typename Op>
void reduce_generic(const std::vector<Group>& groups, const T* in, T* out, int64_t num_out, Op op) {
  std::fill_n(out, num_out, Op::init());
  const int g = static_cast<int>(groups.size());
  if (g == 0) {  // every dim has size 1
    out[0] = op(out[0], in[0]);
    return;
  }
  // Output strides per group (0 for reduced groups).
  std::vector<int64_t> ostride(g, 0);
  for (int64_t s = 1, i = g - 1; i >= 0; --i) {
    if (!groups[i].reduced) {
      ostride[i] = s;
      s *= groups[i].size;
    }
  }
  const int64_t n = groups[g - 1].size;
  const bool inner_reduced = groups[g - 1].reduced;
  int64_t outer = 1;
  for (int i = 0; i + 1 < g; ++i) outer *= groups[i].size;
  std::vector<int64_t> idx(std::max(g - 1, 1), 0);
  int64_t o = 0;
  for (int64_t r = 0; r < outer; ++r) {
    const T* row = in + r * n;
    if (inner_reduced) {
      T acc = Op::init();
      for (int64_t j = 0; j < n; ++j) acc = op(acc, row[j]);
      out[o] = op(out[o], acc);
    } else {
      T* orow = out + o;
      for (int64_t j = 0; j < n; ++j) orow[j] = op(orow[j], row[j]);
    }
    for (int d = g - 2; d >= 0; --d) {
      o += ostride[d];
      if (++idx[d] < groups[d].size) break;
      o -= ostride[d] * groups[d].size;
      idx[d] = 0;
    }
  }
}

absl::Status output_dtype(std::string_view op, DType want, const MutableView& out) {
  if (out.dtype == want) return absl::OkStatus();
  return absl::InvalidArgumentError(cat(op, ": output was expected to be a ", dtype_name(want),
                                        " tensor but is a ", dtype_name(out.dtype), " tensor"));
}

// [outer, n, inner] around `axis`.
struct AxisSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
AxisSplit split_at(const Shape& s, int axis) {
  AxisSplit r;
  for (int d = 0; d < s.rank(); ++d) (d < axis ? r.outer : d == axis ? r.n : r.inner) *= s[d];
  return r;
}

template <typename T, bool kMax, typename I>
void arg_reduce(const T* in, I* out, const AxisSplit& sp) {
  auto better = [](T a, T b) { return kMax ? a > b : a < b; };
  std::vector<T> best(sp.inner);
  for (int64_t o = 0; o < sp.outer; ++o) {
    const T* base = in + o * sp.n * sp.inner;
    I* res = out + o * sp.inner;
    if (sp.inner == 1) {
      T b = base[0];
      I bi = 0;
      for (int64_t k = 1; k < sp.n; ++k) {
        if (better(base[k], b)) b = base[k], bi = static_cast<I>(k);
      }
      res[0] = bi;
      continue;
    }
    std::copy_n(base, sp.inner, best.data());
    std::fill_n(res, sp.inner, 0);
    for (int64_t k = 1; k < sp.n; ++k) {
      const T* row = base + k * sp.inner;
      for (int64_t i = 0; i < sp.inner; ++i) {
        if (better(row[i], best[i])) best[i] = row[i], res[i] = static_cast<I>(k);
      }
    }
  }
}

template <typename T>
void cumsum(const T* in, T* out, const AxisSplit& sp, bool exclusive, bool reverse) {
  std::vector<T> acc(sp.inner);
  for (int64_t o = 0; o < sp.outer; ++o) {
    std::fill(acc.begin(), acc.end(), T{0});
    for (int64_t s = 0; s < sp.n; ++s) {
      const int64_t k = reverse ? sp.n - 1 - s : s;
      const T* x = in + (o * sp.n + k) * sp.inner;
      T* y = out + (o * sp.n + k) * sp.inner;
      for (int64_t i = 0; i < sp.inner; ++i) {
        const T v = x[i];  // read first: out may alias in
        if (exclusive) {
          y[i] = acc[i];
          acc[i] = wrap_add(acc[i], v);
        } else {
          acc[i] = wrap_add(acc[i], v);
          y[i] = acc[i];
        }
      }
    }
  }
}

}  // namespace

absl::Status run_reduce_more(ir::OpKind kind, const ir::Attrs& attrs, const View& in,
                             const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  const ir::Type in_type[] = {{in.dtype, *in.shape}};
  KILN_ASSIGN_OR_RETURN(ir::Type type, ir::infer_type(kind, in_type, attrs));
  KILN_RETURN_IF_ERROR(output_dtype(op, type.dtype, out));
  if (!(*out.shape == type.shape)) {
    return absl::InvalidArgumentError(
        cat(op, ": output shape ", *out.shape, " does not match ", type.shape));
  }
  const Shape& shape = *in.shape;
  const int rank = shape.rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat(op, ": rank ", rank, " is above the supported ", kMaxRank));
  }
  const int64_t num_out = out.shape->num_elements();
  if (num_out == 0) return absl::OkStatus();

  switch (kind) {
    case ir::OpKind::kArgmax:
    case ir::OpKind::kArgmin: {
      KILN_ASSIGN_OR_RETURN(int axis, ir::single_axis(op, attrs, "axis", 0, rank));
      const AxisSplit sp = split_at(shape, axis);
      visit_dtype(in.dtype, [&]<typename T>(T) {
        if constexpr (!std::is_same_v<T, bool>) {
          auto go = [&](auto* y) {
            if (kind == ir::OpKind::kArgmax) {
              arg_reduce<T, true>(static_cast<const T*>(in.data), y, sp);
            } else {
              arg_reduce<T, false>(static_cast<const T*>(in.data), y, sp);
            }
          };
          if (out.dtype == DType::kInt64) {
            go(static_cast<int64_t*>(out.data));
          } else {
            go(static_cast<int32_t*>(out.data));
          }
        }
      });
      return absl::OkStatus();
    }
    case ir::OpKind::kCumsum: {
      const int axis = rank == 0 ? 0 : *ir::single_axis(op, attrs, "axis", 0, rank);
      const AxisSplit sp = split_at(shape, axis);
      const bool exclusive = ir::attr_or<bool>(attrs, "exclusive", false);
      const bool reverse = ir::attr_or<bool>(attrs, "reverse", false);
      visit_dtype(in.dtype, [&]<typename T>(T) {
        if constexpr (!std::is_same_v<T, bool>) {
          cumsum(static_cast<const T*>(in.data), static_cast<T*>(out.data), sp, exclusive, reverse);
        }
      });
      return absl::OkStatus();
    }
    default:
      break;
  }

  KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> axes, ir::reduction_axes(op, attrs, rank));
  std::vector<bool> is_reduced(rank, false);
  for (int64_t a : axes) is_reduced[a] = true;
  std::vector<Group> groups;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (!groups.empty() && groups.back().reduced == is_reduced[d]) {
      groups.back().size *= shape[d];
    } else {
      groups.push_back(Group{shape[d], is_reduced[d]});
    }
  }
  if (shape.num_elements() == 0) groups.clear();  // empty input: every output is the identity
  if (kind == ir::OpKind::kReduceAll || kind == ir::OpKind::kReduceAny) {
    const auto* x = static_cast<const bool*>(in.data);
    auto* y = static_cast<bool*>(out.data);
    if (shape.num_elements() == 0) {
      std::fill_n(y, num_out, kind == ir::OpKind::kReduceAll);
    } else if (kind == ir::OpKind::kReduceAll) {
      reduce_generic(groups, x, y, num_out, AllOp{});
    } else {
      reduce_generic(groups, x, y, num_out, AnyOp{});
    }
    return absl::OkStatus();
  }
  visit_dtype(in.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* x = static_cast<const T*>(in.data);
      T* y = static_cast<T*>(out.data);
      auto go = [&](auto fold) {
        using F = decltype(fold);
        if (shape.num_elements() == 0) {
          std::fill_n(y, num_out, F::init());
        } else {
          reduce_generic(groups, x, y, num_out, fold);
        }
      };
      if (kind == ir::OpKind::kReduceMax) {
        go(MaxOp<T>{});
      } else if (kind == ir::OpKind::kReduceMin) {
        go(MinOp<T>{});
      } else {
        go(ProdOp<T>{});
      }
    }
  });
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
