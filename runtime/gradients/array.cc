// kiln — gradient rules of reductions, contractions and shape ops.
#include <algorithm>
#include <numeric>
#include <utility>

#include "ir/array_ops.h"
#include "runtime/array_ops.h"
#include "runtime/dispatch.h"
#include "runtime/gradients/rules.h"
#include "runtime/math_ops.h"
#include "support/error.h"

namespace kiln::gradients {
namespace {

using Dys = std::span<const std::optional<Tensor>>;
using ir::OpKind;

const Tensor& x0(const OpCall& c) { return c.inputs[0]; }

void set(RuleTable& t, OpKind k, Rule r, bool masks = false) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kRule, r, masks};
}
void none(RuleTable& t, OpKind k) {
  t[static_cast<size_t>(k)] = RuleEntry{Differentiability::kNotDifferentiable, nullptr, false};
}

// The reduced axes of a reduction call (normalized).
std::vector<int64_t> reduced_axes(const OpCall& c) {
  return value_or_throw(ir::reduction_axes(ir::mnemonic(c.kind), c.attrs, x0(c).rank()));
}

// dy of a reduction, reshaped to keep the reduced dims as 1 (so it broadcasts over the input).
Tensor keepdims_shape(const OpCall& c, const Tensor& dy) {
  if (ir::attr_or<bool>(c.attrs, "keepdims", false)) return dy;
  std::vector<int64_t> dims = x0(c).shape().dims();
  for (int64_t a : reduced_axes(c)) dims[a] = 1;
  return reshape(dy, dims);
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& perm) {
  std::vector<int64_t> inverse(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inverse[perm[i]] = static_cast<int64_t>(i);
  return inverse;
}

bool is_identity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

Tensor permuted(const Tensor& x, const std::vector<int64_t>& perm) {
  return is_identity(perm) ? x : transpose(x, perm);
}

// `x` with rows `begin` to `end` (stride 1) of every dim: a strided_slice.
Tensor box(const Tensor& x, std::vector<int64_t> begin, std::vector<int64_t> end) {
  std::vector<int64_t> strides(begin.size(), 1);
  return dispatch(
      OpKind::kStridedSlice, {x},
      ir::Attrs{
          {"begin", std::move(begin)}, {"end", std::move(end)}, {"strides", std::move(strides)}});
}

// Exclusive cumulative product along dim 1 of an [m, n] tensor (from the end if `reverse`):
// the shifted input, then a log-step (Hillis-Steele) scan. No division, so zeros are exact.
Tensor exclusive_cumprod(const Tensor& x, bool reverse) {
  const int64_t m = x.shape()[0], n = x.shape()[1];
  auto shift = [&](const Tensor& v, int64_t s) {
    if (s >= n) return broadcast_to(scalar_of(v, 1.0), v.shape());
    Tensor kept = reverse ? box(v, {0, s}, {m, n}) : box(v, {0, 0}, {m, n - s});
    return pad(kept,
               {{0, 0}, reverse ? std::pair<int64_t, int64_t>{0, s} : std::pair{s, int64_t{0}}},
               1.0);
  };
  Tensor c = shift(x, 1);
  for (int64_t s = 1; s < n; s *= 2) c = mul(c, shift(c, s));
  return c;
}

// Sums the slices of `g` along `axis` into `size` rows at positions `ids` (one per slice).
Tensor scatter_rows(const Tensor& g, int axis, const std::vector<int32_t>& ids, int64_t size) {
  std::vector<int64_t> perm{axis};
  for (int d = 0; d < g.rank(); ++d) {
    if (d != axis) perm.push_back(d);
  }
  const Tensor ids_t = constant(ids, Shape{static_cast<int64_t>(ids.size())});
  Tensor r = unsorted_segment_sum(permuted(g, perm), ids_t, size);
  return permuted(r, inverse_permutation(perm));
}

// reduce_max/reduce_min: the cotangent is shared equally by the elements equal to the result
// (TF's _MinOrMaxGrad).
Cotangents min_max_grad(const OpCall& c, Dys d) {
  const Tensor& x = x0(c);
  const Tensor y = keepdims_shape(c, c.outputs[0]);
  const Tensor chosen = cast(equal(y, x), x.dtype());
  const Tensor count = reduce_sum(chosen, reduced_axes(c), /*keepdims=*/true);
  return {mul(keepdims_shape(c, *d[0]), div(chosen, count))};
}

// The axis attribute of `c`, made non-negative against `rank`.
int axis_of(const OpCall& c, int rank, int64_t fallback = 0) {
  return value_or_throw(ir::single_axis(ir::mnemonic(c.kind), c.attrs, "axis", fallback, rank));
}

// `g` broadcast to the shape of `x`. A dim of x unknown when traced takes x's size at run time:
// a select over x (all false, NaN included) gives the result x's shape whatever x holds.
Tensor broadcast_like(const Tensor& g, const Tensor& x) {
  if (x.shape().is_fully_defined()) return broadcast_to(g, x.shape());
  return where(less(x, x), g, g);
}

}  // namespace

void register_array_rules(RuleTable& t) {
  set(t, OpKind::kReduceSum, [](const OpCall& c, Dys d) -> Cotangents {
    return {broadcast_like(keepdims_shape(c, *d[0]), x0(c))};
  });
  set(t, OpKind::kReduceMean, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    int64_t n = 1;
    bool unknown = false;  // a reduced dim unknown when traced (its size is known at run time)
    for (int64_t a : reduced_axes(c)) {
      unknown |= x.shape()[a] < 0;
      n *= x.shape()[a];
    }
    Tensor g = broadcast_like(keepdims_shape(c, *d[0]), x);
    if (!unknown) return {div(g, scalar_of(g, static_cast<double>(n)))};
    // Count the reduced elements at run time: ones of x's shape (whatever x holds), summed.
    const Tensor one = scalar_of(x, 1.0);
    const Tensor count = reduce_sum(where(less(x, x), one, one), reduced_axes(c), true);
    return {div(g, count)};
  });
  // C = op(A) op(B) with op = transpose when flagged: each cotangent is again a matmul.
  set(t, OpKind::kMatmul, [](const OpCall& c, Dys d) -> Cotangents {
    const bool ta = ir::attr_or<bool>(c.attrs, "transpose_a", false);
    const bool tb = ir::attr_or<bool>(c.attrs, "transpose_b", false);
    const Tensor &a = c.inputs[0], &b = c.inputs[1], &g = *d[0];
    Tensor da, db;
    if (!ta && !tb) {
      da = matmul(g, b, false, true);
      db = matmul(a, g, true, false);
    } else if (!ta && tb) {
      da = matmul(g, b, false, false);
      db = matmul(g, a, true, false);
    } else if (ta && !tb) {
      da = matmul(b, g, false, true);
      db = matmul(a, g, false, false);
    } else {
      da = matmul(b, g, true, true);
      db = matmul(g, a, true, true);
    }
    return {unbroadcast(da, a.shape()), unbroadcast(db, b.shape())};
  });
  set(t, OpKind::kTranspose, [](const OpCall& c, Dys d) -> Cotangents {
    const int rank = x0(c).rank();
    std::vector<int64_t> perm = ir::attr_or<std::vector<int64_t>>(c.attrs, "perm", {});
    if (perm.empty()) {
      for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
    }
    std::vector<int64_t> inverse(rank);
    for (int i = 0; i < rank; ++i) inverse[perm[i] < 0 ? perm[i] + rank : perm[i]] = i;
    return {transpose(*d[0], inverse)};
  });
  for (OpKind k : {OpKind::kReshape, OpKind::kExpandDims, OpKind::kSqueeze}) {
    set(t, k, [](const OpCall& c, Dys d) -> Cotangents {
      return {reshape(*d[0], x0(c).shape().dims())};
    });
  }
  set(t, OpKind::kReduceMax, min_max_grad, /*masks=*/true);
  set(t, OpKind::kReduceMin, min_max_grad, /*masks=*/true);
  // d prod / d x_i = the product of the other elements: exclusive cumulative products from
  // both ends over the reduced elements (TF's ProdGrad), exact where x has zeros.
  set(t, OpKind::kReduceProd, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    const std::vector<int64_t> axes = reduced_axes(c);
    std::vector<int64_t> perm;
    int64_t m = 1, n = 1;
    for (int i = 0; i < x.rank(); ++i) {
      if (!std::binary_search(axes.begin(), axes.end(), i)) {
        perm.push_back(i);
        m *= x.shape()[i];
      }
    }
    for (int64_t a : axes) {
      perm.push_back(a);
      n *= x.shape()[a];
    }
    const Tensor xt = permuted(x, perm);
    const Tensor flat = reshape(xt, {m, n});
    Tensor others = mul(exclusive_cumprod(flat, false), exclusive_cumprod(flat, true));
    others = permuted(reshape(others, xt.shape().dims()), inverse_permutation(perm));
    return {mul(keepdims_shape(c, *d[0]), others)};
  });
  // The cotangent of a cumulative sum is the cumulative sum the other way (TF's CumsumGrad).
  set(t, OpKind::kCumsum, [](const OpCall& c, Dys d) -> Cotangents {
    const int axis = axis_of(c, x0(c).rank());
    return {cumsum(*d[0], axis, ir::attr_or<bool>(c.attrs, "exclusive", false),
                   !ir::attr_or<bool>(c.attrs, "reverse", false))};
  });
  set(t, OpKind::kConcat, [](const OpCall& c, Dys d) -> Cotangents {
    if (c.inputs.size() == 1) return {*d[0]};
    const int axis = axis_of(c, x0(c).rank());
    std::vector<int64_t> sizes;
    for (const Tensor& in : c.inputs) sizes.push_back(in.shape()[axis]);
    std::vector<Tensor> parts = split(*d[0], sizes, axis);
    return Cotangents(parts.begin(), parts.end());
  });
  // split: the pieces' cotangents concatenated (zeros for pieces no cotangent reached, hence
  // masks).
  set(
      t, OpKind::kSplit,
      [](const OpCall& c, Dys d) -> Cotangents {
        std::vector<Tensor> parts;
        for (size_t i = 0; i < c.outputs.size(); ++i) {
          const Tensor& o = c.outputs[i];
          parts.push_back(d[i] ? *d[i] : broadcast_to(scalar_of(o, 0.0), o.shape()));
        }
        return {concat(parts, axis_of(c, x0(c).rank()))};
      },
      /*masks=*/true);
  // tile: dy viewed as [m0, d0, m1, d1, ...], summed over the copies (the m axes).
  set(t, OpKind::kTile, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    const std::vector<int64_t> multiples =
        ir::attr_or<std::vector<int64_t>>(c.attrs, "multiples", {});
    std::vector<int64_t> split_dims, copy_axes;
    for (int i = 0; i < x.rank(); ++i) {
      copy_axes.push_back(static_cast<int64_t>(split_dims.size()));
      split_dims.push_back(multiples[i]);
      split_dims.push_back(x.shape()[i]);
    }
    if (x.rank() == 0) return {*d[0]};
    return {reshape(reduce_sum(reshape(*d[0], split_dims), copy_axes), x.shape().dims())};
  });
  // pad: the cotangent of the unpadded box.
  set(t, OpKind::kPad, [](const OpCall& c, Dys d) -> Cotangents {
    const Tensor& x = x0(c);
    const std::vector<int64_t> p = ir::attr_or<std::vector<int64_t>>(c.attrs, "paddings", {});
    std::vector<int64_t> begin, end;
    for (int i = 0; i < x.rank(); ++i) {
      begin.push_back(p[2 * i]);
      end.push_back(p[2 * i] + x.shape()[i]);
    }
    return {box(*d[0], begin, end)};
  });
  // gather: the cotangent rows summed into the gathered positions (unsorted_segment_sum over the
  // index dims moved to the front), TF's GatherV2Grad; rows never gathered get exact zeros
  // (masks); the indices get none.
  set(
      t, OpKind::kGather,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor &params = c.inputs[0], &indices = c.inputs[1];
        const int axis = axis_of(c, params.rank());
        const int q = indices.rank();
        const Tensor& dy = *d[0];
        std::vector<int64_t> perm;  // [index dims..., params dims before axis..., after axis...]
        for (int i = 0; i < q; ++i) perm.push_back(axis + i);
        for (int i = 0; i < axis; ++i) perm.push_back(i);
        for (int i = axis + q; i < dy.rank(); ++i) perm.push_back(i);
        const Tensor sums = unsorted_segment_sum(permuted(dy, perm), indices, params.shape()[axis]);
        std::vector<int64_t> back;  // [N, before..., after...] -> [before..., N, after...]
        for (int i = 0; i < axis; ++i) back.push_back(i + 1);
        back.push_back(0);
        for (int i = axis + 1; i < params.rank(); ++i) back.push_back(i);
        return {permuted(sums, back), std::nullopt};
      },
      /*masks=*/true);
  // unsorted_segment_sum: each row reads the cotangent of its segment (0 for dropped rows).
  set(
      t, OpKind::kUnsortedSegmentSum,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor &data = c.inputs[0], &ids = c.inputs[1];
        const Tensor zero_id = scalar_like(ids, 0.0, "gradient");
        Tensor g = gather(*d[0], maximum(ids, zero_id), 0);
        std::vector<int64_t> mask_dims = ids.shape().dims();
        mask_dims.resize(data.rank(), 1);
        const Tensor kept = reshape(greater_equal(ids, zero_id), mask_dims);
        return {where(kept, g, scalar_of(g, 0.0)), std::nullopt};
      },
      /*masks=*/true);
  // top_k: the values' cotangent goes back to the positions the indices name (along the last
  // axis); the indices carry none.
  set(
      t, OpKind::kTopK,
      [](const OpCall& c, Dys d) -> Cotangents {
        if (!d[0]) return {std::nullopt};
        const Tensor& x = x0(c);
        const Tensor& idx = c.outputs[1];
        const int64_t n = x.shape()[x.rank() - 1], k = idx.shape()[idx.rank() - 1];
        if (x.num_elements() == 0 || k == 0) {
          return {broadcast_to(scalar_of(x, 0.0), x.shape())};
        }
        const int64_t rows = x.num_elements() / n;
        const Tensor row_start = reshape(range(0, rows * n, n), {rows, 1});
        const Tensor flat_ids = reshape(add(reshape(idx, {rows, k}), row_start), {rows * k});
        const Tensor sums = unsorted_segment_sum(reshape(*d[0], {rows * k}), flat_ids, rows * n);
        return {reshape(sums, x.shape().dims())};
      },
      /*masks=*/true);
  set(t, OpKind::kAddN,
      [](const OpCall& c, Dys d) -> Cotangents { return Cotangents(c.inputs.size(), *d[0]); });
  // strided_slice: the cotangent placed at the sliced positions of a zero tensor of the input's
  // shape (TF's StridedSliceGrad): stride-1 dims by one pad, other dims by scattering rows.
  set(
      t, OpKind::kStridedSlice,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor& x = x0(c);
        const ir::StridedSliceSpec spec =
            value_or_throw(ir::strided_slice_spec(c.attrs, x.shape()));
        std::vector<int64_t> counts;
        for (int i = 0; i < x.rank(); ++i) {
          const int64_t b = spec.begin[i], e = spec.end[i], st = spec.strides[i];
          counts.push_back(st > 0 ? (e > b ? (e - b + st - 1) / st : 0)
                                  : (b > e ? (b - e - st - 1) / -st : 0));
        }
        Tensor g = reshape(*d[0], counts);  // shrunk dims back as 1, new axes dropped
        std::vector<std::pair<int64_t, int64_t>> paddings;
        bool any_pad = false;
        for (int i = 0; i < x.rank(); ++i) {
          const int64_t size = x.shape()[i], b = spec.begin[i], st = spec.strides[i];
          if (st == 1) {
            paddings.emplace_back(b, size - b - counts[i]);
            any_pad = any_pad || counts[i] != size;
            continue;
          }
          paddings.emplace_back(0, 0);
          std::vector<int32_t> ids;
          for (int64_t j = 0; j < counts[i]; ++j) ids.push_back(static_cast<int32_t>(b + j * st));
          g = scatter_rows(g, i, ids, size);
        }
        return {any_pad ? pad(g, paddings) : g};
      },
      /*masks=*/true);
  // strided_update(x, value): x's cotangent with the box zeroed; value's is the box of the
  // cotangent, summed over the dims value was broadcast along.
  set(
      t, OpKind::kStridedUpdate,
      [](const OpCall& c, Dys d) -> Cotangents {
        const Tensor& dy = *d[0];
        const Tensor zero = scalar_of(dy, 0.0);
        const Tensor dx = dispatch(OpKind::kStridedUpdate, {dy, zero}, c.attrs);
        const Tensor box = dispatch(OpKind::kStridedSlice, {dy}, c.attrs);
        return {dx, unbroadcast(box, c.inputs[1].shape())};
      },
      /*masks=*/true);
  for (OpKind k : {OpKind::kStopGradient, OpKind::kArgmax, OpKind::kArgmin, OpKind::kReduceAll,
                   OpKind::kReduceAny, OpKind::kOneHot}) {
    none(t, k);
  }
}

}  // namespace kiln::gradients
