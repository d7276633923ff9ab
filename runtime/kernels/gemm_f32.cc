// kiln — float32 GEMM: op(B) packed into column slivers 16 wide, op(A) into row slivers 6 tall
// (both zero-padded at the edges), and a 6x16 microkernel keeping its tile of C in 12 ymm
// registers (per k step: 2 loads of B, 6 broadcasts of A, 12 FMAs). Loops, outermost first:
// column panels of op(B) (nc), blocks of k (kc: op(B)'s panel packed once), row blocks (mc: op(A)'s
// block packed, L2-resident), 16-wide slivers of the panel (one sliver stays in L1), 6-tall
// slivers of the block. Edge tiles run the same microkernel on a copy of their part of C, so
// every element of C is computed by the same operations wherever it falls in a tile: per block
// of k an FMA chain from 0, the blocks' sums added in order (gemm_f32.h).
#include "runtime/kernels/gemm_f32.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace kiln::kernels::internal {
namespace {

constexpr int64_t kMr = 6, kNr = 16;

// A block of op(A) (mc x kc, 144 KiB) stays in the 512 KiB L2 and a sliver of op(B) (kc x 16,
// 16 KiB) in the 32 KiB L1; measured on 1024^3 (BM_GemmDirect), mc from 72 to 288, kc from 256
// to 512 and nc from 512 up were within the machine's noise of each other.
constexpr int64_t kDefaultMc = 144, kDefaultKc = 256, kDefaultNc = 4080 / kNr * kNr;

// 0: not decided yet; 1: enabled; 2: disabled.
std::atomic<int> g_state{0};

bool cpu_has_avx2_fma() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

// Per-thread packing buffers, grown on demand (to at most kc x nc and mc x kc floats with the
// default blocking: 4 MiB and 144 KiB) and kept for the thread's next product, 64-byte aligned.
struct PackBuffer {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data;
  int64_t size = 0;

  float* get(int64_t n) {
    if (n > size) {
      const int64_t bytes = (n * static_cast<int64_t>(sizeof(float)) + 63) / 64 * 64;
      data.reset(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>(bytes))));
      if (!data) std::abort();
      size = n;
    }
    return data.get();
  }
};

// Transposes the 8x8 block held in r[0..7] (row i in r[i]) in place.
__attribute__((target("avx2,fma"))) inline void transpose8(__m256 r[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

// op(A) rows [i0, i0 + mc), k [p0, p0 + kc) into slivers of kMr rows: sliver s holds, for each kk,
// the kMr values of rows i0 + s*kMr + r; rows past mc are zero. May write 2 floats past the
// block (dst needs that slack).
__attribute__((target("avx2,fma"))) void pack_a(const float* a, int64_t lda, bool ta, int64_t i0,
                                                int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t s = 0; s < mc; s += kMr) {
    const int64_t rows = std::min(kMr, mc - s);
    if (ta) {
      // op(A)(i, kk) = a[kk * lda + i]: each k step reads `rows` contiguous values.
      const float* src = a + p0 * lda + i0 + s;
      if (rows == kMr) {
        for (int64_t kk = 0; kk < kc; ++kk) {
          for (int64_t r = 0; r < kMr; ++r) dst[kk * kMr + r] = src[kk * lda + r];
        }
      } else {
        for (int64_t kk = 0; kk < kc; ++kk) {
          for (int64_t r = 0; r < kMr; ++r) dst[kk * kMr + r] = r < rows ? src[kk * lda + r] : 0.f;
        }
      }
    } else {
      const float* src = a + (i0 + s) * lda + p0;
      int64_t kk = 0;
      if (rows == kMr) {
        // 8 k steps at a time: 6 rows of 8 transposed to 8 columns of 6 (two rows unused),
        // stored 8 wide in increasing order, each store's last 2 lanes overwritten by the next
        // (the last one's by the next group, the next sliver or nothing: the slack). The rows
        // of the next sliver are fetched meanwhile.
        const bool next = s + 2 * kMr <= mc;
        for (; kk + 8 <= kc; kk += 8) {
          if (next && kk % 16 == 0) {
            for (int64_t i = kMr; i < 2 * kMr; ++i) {
              _mm_prefetch(reinterpret_cast<const char*>(src + i * lda + kk), _MM_HINT_T0);
            }
          }
          __m256 r[8];
          for (int64_t i = 0; i < kMr; ++i) r[i] = _mm256_loadu_ps(src + i * lda + kk);
          r[6] = r[7] = _mm256_setzero_ps();
          transpose8(r);
          for (int64_t j = 0; j < 8; ++j) _mm256_storeu_ps(dst + (kk + j) * kMr, r[j]);
        }
      }
      for (; kk < kc; ++kk) {
        for (int64_t r = 0; r < kMr; ++r) dst[kk * kMr + r] = r < rows ? src[r * lda + kk] : 0.f;
      }
    }
    dst += kMr * kc;
  }
}

// op(B) k [p0, p0 + kc), columns [j0, j0 + nc) into slivers of kNr columns: sliver s holds, for
// each kk, the kNr values of columns j0 + s*kNr + c; columns past nc are zero.
__attribute__((target("avx2,fma"))) void pack_b(const float* b, int64_t ldb, bool tb, int64_t p0,
                                                int64_t kc, int64_t j0, int64_t nc, float* dst) {
  const int64_t full = nc / kNr * kNr;
  if (!tb) {
    // Rows of op(B) in groups of 4, each group across all slivers: reads stay sequential.
    constexpr int64_t kRows = 4;
    for (int64_t k0 = 0; k0 < kc; k0 += kRows) {
      const int64_t k1 = std::min(kc, k0 + kRows);
      for (int64_t s = 0; s < full; s += kNr) {
        float* d = dst + s * kc;
        for (int64_t kk = k0; kk < k1; ++kk) {
          const float* src = b + (p0 + kk) * ldb + j0 + s;
          _mm256_store_ps(d + kk * kNr, _mm256_loadu_ps(src));
          _mm256_store_ps(d + kk * kNr + 8, _mm256_loadu_ps(src + 8));
        }
      }
    }
    if (full < nc) {
      const int64_t cols = nc - full;
      float* d = dst + full * kc;
      for (int64_t kk = 0; kk < kc; ++kk) {
        const float* src = b + (p0 + kk) * ldb + j0 + full;
        for (int64_t c = 0; c < kNr; ++c) d[kk * kNr + c] = c < cols ? src[c] : 0.f;
      }
    }
    return;
  }
  // op(B)(kk, j) = b[j * ldb + kk]: column j of op(B) is a contiguous row of b. 8x8 blocks are
  // transposed in registers.
  for (int64_t s = 0; s < nc; s += kNr) {
    const int64_t cols = std::min(kNr, nc - s);
    float* d = dst + s * kc;
    const float* src = b + (j0 + s) * ldb + p0;
    int64_t kk = 0;
    if (cols == kNr) {
      for (; kk + 8 <= kc; kk += 8) {
        for (int64_t h = 0; h < 2; ++h) {
          __m256 r[8];
          for (int64_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + (h * 8 + i) * ldb + kk);
          transpose8(r);
          for (int64_t j = 0; j < 8; ++j) _mm256_store_ps(d + (kk + j) * kNr + h * 8, r[j]);
        }
      }
    }
    for (; kk < kc; ++kk) {
      for (int64_t c = 0; c < kNr; ++c) d[kk * kNr + c] = c < cols ? src[c * ldb + kk] : 0.f;
    }
  }
}

// The 6x16 tile at c (row stride ldc): s(r, j) = the FMA chain from 0 over kk < kc, in increasing
// order, of ap[kk * 6 + r] * bp[kk * 16 + j]; then c(r, j) = load ? c(r, j) + s(r, j) : s(r, j).
// Reading C at the end rather than starting the chains from it keeps its latency out of the
// loop. next_c: the next tile's C, prefetched.
__attribute__((target("avx2,fma"), noinline)) void kernel_6x16(int64_t kc,
                                                               const float* __restrict ap,
                                                               const float* __restrict bp,
                                                               float* __restrict c, int64_t ldc,
                                                               bool load, const float* next_c) {
  // The next tile's rows of C, which that call reads (or overwrites) at its end.
  for (int64_t r = 0; r < kMr; ++r) {
    _mm_prefetch(reinterpret_cast<const char*>(next_c + r * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(next_c + r * ldc + 15), _MM_HINT_T0);
  }
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
  c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = _mm256_setzero_ps();
  // The k loop in assembly: compilers, left to themselves, fold the B loads into the FMAs
  // (12 loads per k step instead of 2, more than the load ports take) once registers run
  // short. ymm12/13 hold the B row, ymm14/15 the broadcasts of A, the 12 accumulators the rest.
  // One k step, u steps from ap/bp:
#define KILN_GEMM_STEP(u)                    \
  "vmovaps 64*" #u                           \
  "(%[b]), %%ymm12\n\t"                      \
  "vmovaps 64*" #u                           \
  "+32(%[b]), %%ymm13\n\t"                   \
  "vbroadcastss 24*" #u                      \
  "(%[a]), %%ymm14\n\t"                      \
  "vfmadd231ps %%ymm12, %%ymm14, %[c00]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm14, %[c01]\n\t" \
  "vbroadcastss 24*" #u                      \
  "+4(%[a]), %%ymm15\n\t"                    \
  "vfmadd231ps %%ymm12, %%ymm15, %[c10]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm15, %[c11]\n\t" \
  "vbroadcastss 24*" #u                      \
  "+8(%[a]), %%ymm14\n\t"                    \
  "vfmadd231ps %%ymm12, %%ymm14, %[c20]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm14, %[c21]\n\t" \
  "vbroadcastss 24*" #u                      \
  "+12(%[a]), %%ymm15\n\t"                   \
  "vfmadd231ps %%ymm12, %%ymm15, %[c30]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm15, %[c31]\n\t" \
  "vbroadcastss 24*" #u                      \
  "+16(%[a]), %%ymm14\n\t"                   \
  "vfmadd231ps %%ymm12, %%ymm14, %[c40]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm14, %[c41]\n\t" \
  "vbroadcastss 24*" #u                      \
  "+20(%[a]), %%ymm15\n\t"                   \
  "vfmadd231ps %%ymm12, %%ymm15, %[c50]\n\t" \
  "vfmadd231ps %%ymm13, %%ymm15, %[c51]\n\t"
  // 4 k steps per iteration (r10 counts them), A (streamed from L2) prefetched 4 iterations
  // ahead; then single steps.
  int64_t left = kc;
  asm volatile(
      "mov %[left], %%r10\n\t"
      "shr $2, %%r10\n\t"
      "jz 2f\n\t"
      "1:\n\t"
      "prefetcht0 384(%[a])\n\t"
      "prefetcht0 448(%[a])\n\t" KILN_GEMM_STEP(0) KILN_GEMM_STEP(1) KILN_GEMM_STEP(2)
          KILN_GEMM_STEP(3)
      "add $96, %[a]\n\t"
      "add $256, %[b]\n\t"
      "dec %%r10\n\t"
      "jnz 1b\n\t"
      "2:\n\t"
      "and $3, %[left]\n\t"
      "jz 4f\n\t"
      "3:\n\t" KILN_GEMM_STEP(0)
      "add $24, %[a]\n\t"
      "add $64, %[b]\n\t"
      "dec %[left]\n\t"
      "jnz 3b\n\t"
      "4:\n\t"
      : [a] "+r"(ap), [b] "+r"(bp), [left] "+r"(left),
        [c00] "+x"(c00), [c01] "+x"(c01), [c10] "+x"(c10), [c11] "+x"(c11), [c20] "+x"(c20),
        [c21] "+x"(c21), [c30] "+x"(c30), [c31] "+x"(c31), [c40] "+x"(c40), [c41] "+x"(c41),
        [c50] "+x"(c50), [c51] "+x"(c51)
      :
      : "r10", "xmm12", "xmm13", "xmm14", "xmm15", "cc", "memory");
#undef KILN_GEMM_STEP
  if (load) {
    c00 = _mm256_add_ps(_mm256_loadu_ps(c), c00);
    c01 = _mm256_add_ps(_mm256_loadu_ps(c + 8), c01);
    c10 = _mm256_add_ps(_mm256_loadu_ps(c + ldc), c10);
    c11 = _mm256_add_ps(_mm256_loadu_ps(c + ldc + 8), c11);
    c20 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * ldc), c20);
    c21 = _mm256_add_ps(_mm256_loadu_ps(c + 2 * ldc + 8), c21);
    c30 = _mm256_add_ps(_mm256_loadu_ps(c + 3 * ldc), c30);
    c31 = _mm256_add_ps(_mm256_loadu_ps(c + 3 * ldc + 8), c31);
    c40 = _mm256_add_ps(_mm256_loadu_ps(c + 4 * ldc), c40);
    c41 = _mm256_add_ps(_mm256_loadu_ps(c + 4 * ldc + 8), c41);
    c50 = _mm256_add_ps(_mm256_loadu_ps(c + 5 * ldc), c50);
    c51 = _mm256_add_ps(_mm256_loadu_ps(c + 5 * ldc + 8), c51);
  }
  _mm256_storeu_ps(c, c00);
  _mm256_storeu_ps(c + 8, c01);
  _mm256_storeu_ps(c + ldc, c10);
  _mm256_storeu_ps(c + ldc + 8, c11);
  _mm256_storeu_ps(c + 2 * ldc, c20);
  _mm256_storeu_ps(c + 2 * ldc + 8, c21);
  _mm256_storeu_ps(c + 3 * ldc, c30);
  _mm256_storeu_ps(c + 3 * ldc + 8, c31);
  _mm256_storeu_ps(c + 4 * ldc, c40);
  _mm256_storeu_ps(c + 4 * ldc + 8, c41);
  _mm256_storeu_ps(c + 5 * ldc, c50);
  _mm256_storeu_ps(c + 5 * ldc + 8, c51);
}

// A tile of rows x cols (at most 6 x 16) of C: full tiles run the kernel on C itself, edge tiles
// on a copy of their part of C (the padded lanes see zeros and are dropped).
void tile(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool load,
          int64_t rows, int64_t cols, const float* next_c) {
  if (rows == kMr && cols == kNr) {
    kernel_6x16(kc, ap, bp, c, ldc, load, next_c);
    return;
  }
  alignas(32) float t[kMr * kNr] = {};
  if (load) {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(t + r * kNr, c + r * ldc, cols * 4);
  }
  kernel_6x16(kc, ap, bp, t, kNr, load, next_c);
  for (int64_t r = 0; r < rows; ++r) std::memcpy(c + r * ldc, t + r * kNr, cols * 4);
}

}  // namespace

GemmBlocking default_gemm_blocking() { return {kDefaultMc, kDefaultKc, kDefaultNc}; }

int64_t gemm_k_block(int64_t k, int64_t kc) {
  const int64_t blocks = (k + kc - 1) / kc;
  return (k + blocks - 1) / blocks;
}

bool gemm_f32_enabled() {
  int state = g_state.load(std::memory_order_relaxed);
  if (state == 0) {
    const char* env = std::getenv("KILN_SGEMM");
    const bool off = !cpu_has_avx2_fma() || (env != nullptr && std::strcmp(env, "openblas") == 0);
    int expected = 0;
    g_state.compare_exchange_strong(expected, off ? 2 : 1, std::memory_order_relaxed);
    state = g_state.load(std::memory_order_relaxed);
  }
  return state == 1;
}

void set_gemm_f32_disabled(bool disabled) {
  g_state.store(disabled || !cpu_has_avx2_fma() ? 2 : 1, std::memory_order_relaxed);
}

void gemm_f32(const float* a, int64_t lda, bool ta, const float* b, int64_t ldb, bool tb, float* c,
              int64_t ldc, int64_t m, int64_t n, int64_t k, int64_t r0, int64_t r1) {
  gemm_f32(a, lda, ta, b, ldb, tb, c, ldc, m, n, k, r0, r1, default_gemm_blocking());
}

void gemm_f32(const float* a, int64_t lda, bool ta, const float* b, int64_t ldb, bool tb, float* c,
              int64_t ldc, int64_t m, int64_t n, int64_t k, int64_t r0, int64_t r1,
              const GemmBlocking& blocking) {
  (void)m;
  if (r1 <= r0 || n <= 0 || k <= 0) return;
  thread_local PackBuffer a_buf, b_buf;
  const int64_t kc_max = gemm_k_block(k, blocking.kc);
  const int64_t mc_max = std::min(blocking.mc, (r1 - r0 + kMr - 1) / kMr * kMr);
  const int64_t nc_max = std::min(blocking.nc, (n + kNr - 1) / kNr * kNr);
  float* bp = b_buf.get(kc_max * nc_max);
  float* ap = a_buf.get(kc_max * mc_max + 8);  // pack_a's slack
  for (int64_t j0 = 0; j0 < n; j0 += blocking.nc) {
    const int64_t nc = std::min(blocking.nc, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kc_max) {
      const int64_t kc = std::min(kc_max, k - p0);
      const bool load = p0 > 0;
      pack_b(b, ldb, tb, p0, kc, j0, nc, bp);
      for (int64_t i0 = r0; i0 < r1; i0 += blocking.mc) {
        const int64_t mc = std::min(blocking.mc, r1 - i0);
        pack_a(a, lda, ta, i0, mc, p0, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += kNr) {
          const float* bs = bp + jr * kc;
          const int64_t cols = std::min(kNr, nc - jr);
          float* cs = c + i0 * ldc + j0 + jr;
          for (int64_t ir = 0; ir < mc; ir += kMr) {
            // Prefetched for the next tile down; after the last, the top of the next sliver.
            const float* next = ir + kMr < mc   ? cs + (ir + kMr) * ldc
                                : jr + kNr < nc ? cs + kNr
                                                : cs;
            tile(kc, ap + ir * kc, bs, cs + ir * ldc, ldc, load, std::min(kMr, mc - ir), cols,
                 next);
          }
        }
      }
    }
  }
}

}  // namespace kiln::kernels::internal
