// kiln — matmul of float64 and int64 operands: [...,m,k] x [...,k,n] -> [...,m,n], batch dims
// broadcast. float64 runs Eigen's product on mapped matrices (transposed operands copied
// first); int64 a wrapping i-k-j loop reading transposes through strides (uint64 arithmetic,
// as TF's).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "runtime/kernels/kernels_internal.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

using RowMajorD =
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor | Eigen::AutoAlign>;

// dst (c x r) = src (r x c) transposed, row-major.
void transpose_into(const double* src, double* dst, int64_t r, int64_t c) {
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < c; ++j) dst[j * r + i] = src[i * c + j];
  }
}

// C[m,n] = op(A) op(B) for one batch; A is ar x ac and B is br x bc, row-major. Transposed
// operands are copied first, so Eigen's product is instantiated once.
void matmul_f64(const double* a, const double* b, double* c, int64_t ar, int64_t ac, int64_t br,
                int64_t bc, bool ta, bool tb, std::vector<double>& scratch) {
  const int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  scratch.resize(static_cast<size_t>((ta ? m * k : 0) + (tb ? k * n : 0)));
  if (ta) transpose_into(a, scratch.data(), ar, ac), a = scratch.data();
  if (tb)
    transpose_into(b, scratch.data() + (ta ? m * k : 0), br, bc),
        b = scratch.data() + (ta ? m * k : 0);
  Eigen::Map<const RowMajorD> lhs(a, m, k);
  Eigen::Map<const RowMajorD> rhs(b, k, n);
  Eigen::Map<RowMajorD> out(c, m, n);
  out.noalias() = lhs * rhs;
}

void matmul_i64(const uint64_t* a, const uint64_t* b, uint64_t* c, int64_t ar, int64_t ac,
                int64_t br, int64_t bc, bool ta, bool tb) {
  const int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
  // Element (i, kk) of op(A) and (kk, j) of op(B).
  const int64_t a_i = ta ? 1 : ac, a_k = ta ? ac : 1;
  const int64_t b_k = tb ? 1 : bc, b_j = tb ? bc : 1;
  std::fill_n(c, m * n, uint64_t{0});
  for (int64_t i = 0; i < m; ++i) {
    uint64_t* crow = c + i * n;
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint64_t av = a[i * a_i + kk * a_k];
      const uint64_t* bp = b + kk * b_k;
      for (int64_t j = 0; j < n; ++j) crow[j] += av * bp[j * b_j];
    }
  }
}

}  // namespace

absl::Status run_matmul_wide(const ir::Attrs& attrs, const View& a, const View& b,
                             const MutableView& out) {
  constexpr std::string_view op = "matmul";
  if (b.dtype != a.dtype) return dtype_error(op, 1, a.dtype, b.dtype);
  if (a.dtype != DType::kFloat64 && a.dtype != DType::kInt64) {
    return absl::InternalError(cat(op, ": run_matmul_wide got a ", dtype_name(a.dtype), " tensor"));
  }
  auto inferred = ir::infer_type(
      ir::OpKind::kMatmul, std::vector<ir::Type>{{a.dtype, *a.shape}, {b.dtype, *b.shape}}, attrs);
  if (!inferred.ok()) return inferred.status();
  if (out.dtype != a.dtype || !(*out.shape == inferred->shape)) {
    return absl::InvalidArgumentError(
        cat(op, ": output is ", ir::Type{out.dtype, *out.shape}, " but should be ", *inferred));
  }
  const bool ta = ir::attr_or<bool>(attrs, "transpose_a", false);
  const bool tb = ir::attr_or<bool>(attrs, "transpose_b", false);
  const int ra = a.shape->rank(), rb = b.shape->rank(), ro = out.shape->rank();
  const int64_t ar = (*a.shape)[ra - 2], ac = (*a.shape)[ra - 1];
  const int64_t br = (*b.shape)[rb - 2], bc = (*b.shape)[rb - 1];
  const int64_t m = ta ? ac : ar, n = tb ? br : bc;
  if (out.shape->num_elements() == 0) return absl::OkStatus();
  // Batch walk over out's batch dims with broadcast strides (in matrices) into a and b.
  const int nb = ro - 2;
  if (nb > kMaxRank) return absl::UnimplementedError(cat(op, ": too many batch dimensions"));
  int64_t size[kMaxRank], sa[kMaxRank], sb[kMaxRank];
  int64_t stride_a = 1, stride_b = 1;
  for (int d = nb - 1; d >= 0; --d) {
    size[d] = (*out.shape)[d];
    const int da = d - (nb - (ra - 2)), db = d - (nb - (rb - 2));
    const int64_t xa = da >= 0 ? (*a.shape)[da] : 1, xb = db >= 0 ? (*b.shape)[db] : 1;
    sa[d] = xa == 1 ? 0 : stride_a;
    sb[d] = xb == 1 ? 0 : stride_b;
    stride_a *= xa;
    stride_b *= xb;
  }
  int64_t batches = 1;
  for (int d = 0; d < nb; ++d) batches *= size[d];
  int64_t idx[kMaxRank] = {};
  int64_t oa = 0, ob = 0;
  std::vector<double> scratch;
  for (int64_t t = 0; t < batches; ++t) {
    if (a.dtype == DType::kFloat64) {
      matmul_f64(static_cast<const double*>(a.data) + oa * ar * ac,
                 static_cast<const double*>(b.data) + ob * br * bc,
                 static_cast<double*>(out.data) + t * m * n, ar, ac, br, bc, ta, tb, scratch);
    } else {
      matmul_i64(static_cast<const uint64_t*>(a.data) + oa * ar * ac,
                 static_cast<const uint64_t*>(b.data) + ob * br * bc,
                 static_cast<uint64_t*>(out.data) + t * m * n, ar, ac, br, bc, ta, tb);
    }
    for (int d = nb - 1; d >= 0; --d) {
      oa += sa[d];
      ob += sb[d];
      if (++idx[d] < size[d]) break;
      oa -= sa[d] * size[d];
      ob -= sb[d] * size[d];
      idx[d] = 0;
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
