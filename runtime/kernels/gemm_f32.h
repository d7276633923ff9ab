// kiln — float32 GEMM of its own: packed operands and a 6x16 AVX2/FMA register-blocked
// microkernel (gemm_f32.cc). No Eigen.
#pragma once

#include <cstdint>

namespace kiln::kernels::internal {

// Cache blocking of gemm_f32: k is cut into blocks of at most `kc` (evenly), op(B) into
// column panels of at most `nc` columns, each row range into blocks of at most `mc` rows.
// mc is a multiple of 6 and nc of 16.
struct GemmBlocking {
  int64_t mc = 0, kc = 0, nc = 0;
};
GemmBlocking default_gemm_blocking();

// True when gemm_f32 can run here (the CPU has AVX2 and FMA) and has not been switched off,
// by KILN_SGEMM=openblas in the environment (read once) or set_gemm_f32_disabled(true).
// Callers use OpenBLAS's sgemm otherwise.
bool gemm_f32_enabled();
void set_gemm_f32_disabled(bool disabled);

// The length of gemm_f32's blocks of k (the last one may be shorter): k cut into as few blocks of
// at most `kc` as possible, of equal length rounded up.
int64_t gemm_k_block(int64_t k, int64_t kc);

// Rows [r0, r1) of C = op(A) op(B): C is [m, n] with row stride ldc; A is stored [m, k] with
// row stride lda, or [k, m] when `ta`; B is [k, n] with row stride ldb, or [n, k] when `tb`.
// k > 0, 0 <= r0 <= r1 <= m. Needs gemm_f32_enabled(). What C held before is not read. Each
// element of C is computed as: for each block of k (gemm_k_block) in order, a chain of fused
// multiply-adds from 0 in increasing k, s = fma(a(i, kk), b(kk, j), s); the first block's s is
// the element, each later one's is added to it. So the bits depend on k and blocking.kc only,
// not on [r0, r1), mc or nc; rows outside [r0, r1) are not touched.
void gemm_f32(const float* a, int64_t lda, bool ta, const float* b, int64_t ldb, bool tb, float* c,
              int64_t ldc, int64_t m, int64_t n, int64_t k, int64_t r0, int64_t r1);
void gemm_f32(const float* a, int64_t lda, bool ta, const float* b, int64_t ldb, bool tb, float* c,
              int64_t ldc, int64_t m, int64_t n, int64_t k, int64_t r0, int64_t r1,
              const GemmBlocking& blocking);

}  // namespace kiln::kernels::internal
