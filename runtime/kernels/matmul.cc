// kiln — matmul eager kernel: [m,k] x [k,n] -> [m,n]; float32 through Eigen's GEMM
// (single-threaded, packing buffers from the caching allocator), int32 through a wrapping
// i-k-j loop.
#include <algorithm>
#include <cstdint>

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

}  // namespace

absl::Status run_matmul(const View& a, const View& b, const MutableView& out) {
  constexpr std::string_view op = "matmul";
  if (b.dtype != a.dtype) return dtype_error(op, 1, a.dtype, b.dtype);
  if (a.dtype == DType::kBool) return unsupported_dtype(op, 0, a.dtype, "float32 or int32");
  if (out.dtype != a.dtype) {
    return absl::InvalidArgumentError(cat(op, ": output was expected to be a ", dtype_name(a.dtype),
                                          " tensor but is a ", dtype_name(out.dtype), " tensor"));
  }
  const Shape* shapes[] = {a.shape, b.shape};
  for (int i = 0; i < 2; ++i) {
    if (shapes[i]->rank() != 2) {
      return absl::InvalidArgumentError(
          cat(op, ": input #", i, " (zero-based) must be rank 2 but has shape ", *shapes[i]));
    }
  }
  const int64_t m = (*a.shape)[0], k = (*a.shape)[1], n = (*b.shape)[1];
  if ((*b.shape)[0] != k) {
    return absl::InvalidArgumentError(
        cat(op, ": Matrix size-incompatible: In[0]: ", *a.shape, ", In[1]: ", *b.shape));
  }
  if (!(*out.shape == Shape{m, n})) {
    return absl::InvalidArgumentError(
        cat(op, ": output shape ", *out.shape, " does not match ", Shape{m, n}));
  }
  if (m == 0 || n == 0) return absl::OkStatus();
  if (k == 0) {  // empty sums
    std::fill_n(static_cast<uint32_t*>(out.data), m * n, 0u);
    return absl::OkStatus();
  }
  if (a.dtype == DType::kFloat32) {
    matmul_f32(static_cast<const float*>(a.data), static_cast<const float*>(b.data),
               static_cast<float*>(out.data), m, k, n);
  } else {
    matmul_i32(static_cast<const uint32_t*>(a.data), static_cast<const uint32_t*>(b.data),
               static_cast<uint32_t*>(out.data), m, k, n);
  }
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
