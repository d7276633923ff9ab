// kiln — matmul eager kernel: [...,m,k] x [...,k,n] -> [...,m,n] (batch dims broadcast,
// transpose flags by a blocked copy); each product float32 through Eigen's GEMM
// (single-threaded, packing buffers from the caching allocator), int32 through a wrapping
// i-k-j loop.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "Eigen/Core"
#include "runtime/kernels/kernels_internal.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

using RowMajorF =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor | Eigen::AutoAlign>;
using Index = Eigen::Index;

// Eigen's GEMM blocking with its packing buffers taken from kernels::allocate: Eigen would
// allocate and free them on every call, and on this VM re-faulting those pages costs ~15% of a
// 512x512 product. (Eigen 3.4 internals; gemm_blocking_space frees only non-null blocks.)
using EigenBlocking =
    Eigen::internal::gemm_blocking_space<Eigen::ColMajor, float, float, Eigen::Dynamic,
                                         Eigen::Dynamic, Eigen::Dynamic, 1, false>;
class CachedBlocking : public EigenBlocking {
 public:
  CachedBlocking(Index rows, Index cols, Index depth) : EigenBlocking(rows, cols, depth, 1, true) {
    this->m_blockA = static_cast<float*>(allocate(this->m_mc * this->m_kc * sizeof(float)));
    this->m_blockB = static_cast<float*>(allocate(this->m_kc * this->m_nc * sizeof(float)));
  }
  ~CachedBlocking() {
    deallocate(this->m_blockA);
    deallocate(this->m_blockB);
    this->m_blockA = nullptr;
    this->m_blockB = nullptr;
  }
};

void matmul_f32(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  if (m == 1 || n == 1 || m + n + k < 32) {  // GEMV and tiny products: Eigen's own dispatch
    Eigen::Map<const RowMajorF> lhs(a, m, k);
    Eigen::Map<const RowMajorF> rhs(b, k, n);
    Eigen::Map<RowMajorF> out(c, m, n);
    out.noalias() = lhs * rhs;
    return;
  }
  // Row-major C = A B is column-major C^T = B^T A^T, and a row-major matrix read column-major
  // is its transpose: so run the column-major GEMM on (b, a) with leading dims (n, k, n).
  std::fill_n(c, m * n, 0.0f);  // the GEMM accumulates
  CachedBlocking blocking(n, m, k);
  Eigen::internal::general_matrix_matrix_product<Index, float, Eigen::ColMajor, false, float,
                                                 Eigen::ColMajor, false, Eigen::ColMajor,
                                                 1>::run(n, m, k, b, n, a, k, c, 1, n, 1.0f,
                                                         blocking);
}

// int32 products and sums wrap (uint32 arithmetic). Row i of C accumulates rows of B scaled by
// A[i, kk]: unit-stride, vectorizable inner loop.
void matmul_i32(const uint32_t* a, const uint32_t* b, uint32_t* c, int64_t m, int64_t k,
                int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    uint32_t* __restrict crow = c + i * n;
    std::fill_n(crow, n, 0u);
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint32_t av = a[i * k + kk];
      const uint32_t* __restrict brow = b + kk * n;
      for (int64_t j = 0; j < n; ++j) crow[j] += av * brow[j];
    }
  }
}

// A row-major [r, c] matrix of 4-byte elements copied transposed into `dst` ([c, r]).
void transpose_matrix(const uint32_t* src, uint32_t* dst, int64_t r, int64_t c) {
  constexpr int64_t kBlock = 32;
  for (int64_t i0 = 0; i0 < r; i0 += kBlock) {
    for (int64_t j0 = 0; j0 < c; j0 += kBlock) {
      const int64_t i1 = std::min(r, i0 + kBlock), j1 = std::min(c, j0 + kBlock);
      for (int64_t j = j0; j < j1; ++j) {
        for (int64_t i = i0; i < i1; ++i) dst[j * r + i] = src[i * c + j];
      }
    }
  }
}

// Owned scratch from the caching allocator.
struct Scratch {
  void* p = nullptr;
  ~Scratch() { deallocate(p); }
};

}  // namespace

absl::Status run_matmul(const ir::Attrs& attrs, const View& a, const View& b,
                        const MutableView& out) {
  constexpr std::string_view op = "matmul";
  if (b.dtype != a.dtype) return dtype_error(op, 1, a.dtype, b.dtype);
  if (a.dtype == DType::kBool) return unsupported_dtype(op, 0, a.dtype, ir::kNumericDTypes);
  if (out.dtype != a.dtype) {
    return absl::InvalidArgumentError(cat(op, ": output was expected to be a ", dtype_name(a.dtype),
                                          " tensor but is a ", dtype_name(out.dtype), " tensor"));
  }
  auto inferred = ir::infer_type(
      ir::OpKind::kMatmul, std::vector<ir::Type>{{a.dtype, *a.shape}, {b.dtype, *b.shape}}, attrs);
  if (!inferred.ok()) return inferred.status();
  if (!(*out.shape == inferred->shape)) {
    return absl::InvalidArgumentError(
        cat(op, ": output shape ", *out.shape, " does not match ", inferred->shape));
  }
  const bool ta = ir::attr_or<bool>(attrs, "transpose_a", false);
  const bool tb = ir::attr_or<bool>(attrs, "transpose_b", false);
  const int ra = a.shape->rank(), rb = b.shape->rank(), ro = out.shape->rank();
  const int64_t ar = (*a.shape)[ra - 2], ac = (*a.shape)[ra - 1];
  const int64_t br = (*b.shape)[rb - 2], bc = (*b.shape)[rb - 1];
  const int64_t m = ta ? ac : ar, k = ta ? ar : ac, n = tb ? br : bc;
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
  Scratch ta_buf, tb_buf;
  if (ta && m * k > 0) ta_buf.p = allocate(m * k * 4);
  if (tb && k * n > 0) tb_buf.p = allocate(k * n * 4);
  int64_t idx[kMaxRank] = {};
  int64_t oa = 0, ob = 0;
  for (int64_t t = 0; t < batches; ++t) {
    const auto* pa = static_cast<const uint32_t*>(a.data) + oa * m * k;
    const auto* pb = static_cast<const uint32_t*>(b.data) + ob * k * n;
    auto* pc = static_cast<uint32_t*>(out.data) + t * m * n;
    if (k == 0) {
      std::fill_n(pc, m * n, 0u);
    } else {
      if (ta) {
        transpose_matrix(pa, static_cast<uint32_t*>(ta_buf.p), ar, ac);
        pa = static_cast<const uint32_t*>(ta_buf.p);
      }
      if (tb) {
        transpose_matrix(pb, static_cast<uint32_t*>(tb_buf.p), br, bc);
        pb = static_cast<const uint32_t*>(tb_buf.p);
      }
      if (a.dtype == DType::kFloat32) {
        matmul_f32(reinterpret_cast<const float*>(pa), reinterpret_cast<const float*>(pb),
                   reinterpret_cast<float*>(pc), m, k, n);
      } else {
        matmul_i32(pa, pb, pc, m, k, n);
      }
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
