// kiln — matmul eager kernel: [...,m,k] x [...,k,n] -> [...,m,n] (batch dims broadcast).
// float32 GEMMs go to kiln's own packed GEMM (gemm_f32.cc; OpenBLAS's sgemm on CPUs without
// AVX2/FMA or when switched off), called on one thread per row block from the runtime's pool;
// GEMVs and tiny products use Eigen's lazy product, int32 a wrapping i-k-j loop. Large batches
// of products are spread over the pool whole instead.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "Eigen/Core"
#include "runtime/kernel_call.h"
#include "runtime/kernels/gemm_f32.h"
#include "runtime/kernels/kernels_internal.h"
#include "runtime/parallel.h"
#include "support/str.h"

// OpenBLAS's CBLAS entry points (declared here: Debian's cblas.h may be the reference one).
extern "C" {
void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc);
void openblas_set_num_threads(int n);
}

namespace kiln::kernels::internal {
namespace {

using RowMajorF =
    Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor | Eigen::AutoAlign>;

constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111, kCblasTrans = 112;

// Products with fewer multiply-adds than this run on the caller; larger ones are cut into row
// blocks of at least half of it each.
constexpr int64_t kParallelMinMadds = int64_t{1} << 22;
// Row blocks start at multiples of this, so results do not depend on the thread count (tested
// bitwise in parallel_test.cc). gemm_f32 computes each element the same way wherever a block
// starts; a multiple of its 6-row tile only avoids padded tiles inside a product. The OpenBLAS
// fallback needs 12: its kernel for this machine (Zen/Haswell sgemm) covers the rows of a
// row-major C in register tiles of 12 and handles the last rows with narrower code, so a block
// boundary at any multiple of 12 leaves every tile where a single call puts it; at 4 or 8 it
// does not. 12 rather than a coarser multiple keeps the two halves of a 1024-row product at 516
// and 508 rows instead of 528 and 496: the slower half decides the time.
constexpr int64_t kRowAlign = 12;
// Each row block packs all of op(B) again, so blocks are kept at least this many rows tall.
constexpr int64_t kMinBlockRows = 48;

bool use_sgemm(int64_t m, int64_t k, int64_t n) { return !(m == 1 || n == 1 || m + n + k < 32); }

// Rows [r0, r1) of C = op(A) op(B) for row-major A, B, C; `ta`/`tb` mean A is stored [k, m],
// B [n, k]. k > 0. gemm_f32 where it runs, else OpenBLAS.
void sgemm_rows(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n, bool ta,
                bool tb, int64_t r0, int64_t r1) {
  if (gemm_f32_enabled()) {
    gemm_f32(a, ta ? m : k, ta, b, tb ? k : n, tb, c, n, m, n, k, r0, r1);
    return;
  }
  // OpenBLAS threads itself unless told not to; the runtime's pool does the splitting.
  static std::once_flag single;
  std::call_once(single, [] { openblas_set_num_threads(1); });
  cblas_sgemm(kCblasRowMajor, ta ? kCblasTrans : kCblasNoTrans, tb ? kCblasTrans : kCblasNoTrans,
              static_cast<int>(r1 - r0), static_cast<int>(n), static_cast<int>(k), 1.0f,
              ta ? a + r0 : a + r0 * k, static_cast<int>(ta ? m : k), b,
              static_cast<int>(tb ? k : n), 0.0f, c + r0 * n, static_cast<int>(n));
}

// GEMV shapes and tiny products, untransposed: Eigen's own dispatch.
void matmul_f32_small(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n) {
  Eigen::Map<const RowMajorF> lhs(a, m, k);
  Eigen::Map<const RowMajorF> rhs(b, k, n);
  Eigen::Map<RowMajorF> out(c, m, n);
  out.noalias() = lhs * rhs;
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
  // The matrices of product t.
  auto operands = [&](int64_t t, const uint32_t*& pa, const uint32_t*& pb, uint32_t*& pc) {
    int64_t oa = 0, ob = 0;
    int64_t rest = t;
    for (int d = nb - 1; d >= 0; --d) {
      const int64_t i = rest % size[d];
      rest /= size[d];
      oa += i * sa[d];
      ob += i * sb[d];
    }
    pa = static_cast<const uint32_t*>(a.data) + oa * m * k;
    pb = static_cast<const uint32_t*>(b.data) + ob * k * n;
    pc = static_cast<uint32_t*>(out.data) + t * m * n;
  };
  const bool f32 = a.dtype == DType::kFloat32;
  const bool gemm = f32 && k > 0 && use_sgemm(m, k, n);
  // Products [lo, hi), each whole, on the calling thread.
  auto run_products = [&](int64_t lo, int64_t hi) {
    Scratch ta_buf, tb_buf;
    for (int64_t t = lo; t < hi; ++t) {
      const uint32_t *pa, *pb;
      uint32_t* pc;
      operands(t, pa, pb, pc);
      if (k == 0) {
        std::fill_n(pc, m * n, 0u);
        continue;
      }
      if (gemm) {
        sgemm_rows(reinterpret_cast<const float*>(pa), reinterpret_cast<const float*>(pb),
                   reinterpret_cast<float*>(pc), m, k, n, ta, tb, 0, m);
        continue;
      }
      if (ta) {
        if (ta_buf.p == nullptr) ta_buf.p = allocate(m * k * 4);
        transpose_matrix(pa, static_cast<uint32_t*>(ta_buf.p), ar, ac);
        pa = static_cast<const uint32_t*>(ta_buf.p);
      }
      if (tb) {
        if (tb_buf.p == nullptr) tb_buf.p = allocate(k * n * 4);
        transpose_matrix(pb, static_cast<uint32_t*>(tb_buf.p), br, bc);
        pb = static_cast<const uint32_t*>(tb_buf.p);
      }
      if (f32) {
        matmul_f32_small(reinterpret_cast<const float*>(pa), reinterpret_cast<const float*>(pb),
                         reinterpret_cast<float*>(pc), m, k, n);
      } else {
        matmul_i32(pa, pb, pc, m, k, n);
      }
    }
  };
  // Fewer products than threads: each GEMM is cut into row blocks. Otherwise whole products
  // are spread over the pool. Either way every element is computed as on one thread.
  const int64_t madds = m * n * std::max<int64_t>(k, 1);
  if (gemm && batches < config::num_threads() && m >= 2 * kMinBlockRows &&
      madds >= kParallelMinMadds) {
    const int64_t grain = std::max(kMinBlockRows, kParallelMinMadds / 2 / (n * k));
    for (int64_t t = 0; t < batches; ++t) {
      const uint32_t *pa, *pb;
      uint32_t* pc;
      operands(t, pa, pb, pc);
      kiln::internal::parallel_for(m, grain, kRowAlign, [&](int64_t r0, int64_t r1) {
        sgemm_rows(reinterpret_cast<const float*>(pa), reinterpret_cast<const float*>(pb),
                   reinterpret_cast<float*>(pc), m, k, n, ta, tb, r0, r1);
      });
    }
  } else {
    const int64_t grain = std::max<int64_t>(1, kParallelMinMadds / 2 / madds);
    kiln::internal::parallel_for(batches, grain, 1, run_products);
  }
  return absl::OkStatus();
}

// Compiled matmul fusions (runtime/kernel_call.h): the same row blocks as run_matmul's, each
// computed in panels of about `panel_rows` rows (multiples of kRowAlign, so every panel boundary
// is also a place where a single call of either GEMM path would start a register tile), with
// the epilogue run on each panel right after its product.
void sgemm_epilogue(const float* a, const float* b, float* c, int64_t m, int64_t k, int64_t n,
                    bool ta, bool tb, int64_t panel_rows, kiln_rt_panel_fn panel,
                    const void* const* operands) {
  const int64_t step = std::max(kRowAlign, panel_rows / kRowAlign * kRowAlign);
  auto block = [&](int64_t r0, int64_t r1) {
    for (int64_t p0 = r0; p0 < r1; p0 += step) {
      const int64_t p1 = std::min(r1, p0 + step);
      sgemm_rows(a, b, c, m, k, n, ta, tb, p0, p1);
      if (panel) panel(c, p0, p1, operands);
    }
  };
  const int64_t madds = m * n * k;
  if (config::num_threads() > 1 && m >= 2 * kMinBlockRows && madds >= kParallelMinMadds) {
    const int64_t grain = std::max(kMinBlockRows, kParallelMinMadds / 2 / (n * k));
    kiln::internal::parallel_for(m, grain, kRowAlign, block);
  } else {
    block(0, m);
  }
}

}  // namespace kiln::kernels::internal

void kiln_rt_sgemm_epilogue(const float* a, const float* b, float* c, int64_t m, int64_t k,
                            int64_t n, int32_t flags, int64_t panel_rows, kiln_rt_panel_fn panel,
                            const void* const* operands) noexcept {
  kiln::kernels::internal::sgemm_epilogue(a, b, c, m, k, n, (flags & kiln_rt_kTransposeA) != 0,
                                          (flags & kiln_rt_kTransposeB) != 0, panel_rows, panel,
                                          operands);
}
