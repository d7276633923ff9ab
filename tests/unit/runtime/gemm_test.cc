// kiln — the float32 GEMM of runtime/kernels/gemm_f32.cc: every element is computed as
// gemm_f32.h says (per block of k an FMA chain from 0, block sums added in order; checked
// bitwise against a scalar std::fma loop) and close to a double-precision product, for many shapes,
// all transpose combinations, leading dims beyond the minimum, row ranges, blockings small enough
// that k, n and m span several blocks, NaN and Inf; and the OpenBLAS fallback the eager matmul
// switches to.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "runtime/array_ops.h"
#include "runtime/kernels/gemm_f32.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "runtime/tensor.h"

namespace kiln {
namespace {

using kernels::internal::gemm_f32;
using kernels::internal::gemm_f32_enabled;
using kernels::internal::GemmBlocking;

std::vector<float> random_values(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

// A product's operands as stored: A [m, k] (or [k, m] when ta) with row stride lda, B [k, n] (or
// [n, k] when tb) with row stride ldb.
struct Operands {
  int64_t m, k, n;
  bool ta, tb;
  int64_t lda, ldb;
  std::vector<float> a, b;

  Operands(int64_t m_, int64_t k_, int64_t n_, bool ta_, bool tb_, int64_t pad, unsigned seed)
      : m(m_), k(k_), n(n_), ta(ta_), tb(tb_) {
    lda = (ta ? m : k) + pad;
    ldb = (tb ? k : n) + pad;
    a = random_values((ta ? k : m) * lda, seed);
    b = random_values((tb ? n : k) * ldb, seed + 1000);
  }
  float& at_a(int64_t i, int64_t kk) { return ta ? a[kk * lda + i] : a[i * lda + kk]; }
  float& at_b(int64_t kk, int64_t j) { return tb ? b[j * ldb + kk] : b[kk * ldb + j]; }

  // The operations gemm_f32 promises with blocks of k of at most `kc`, element by element.
  std::vector<float> fma_reference(int64_t ldc, int64_t kc) {
    const int64_t block = kernels::internal::gemm_k_block(k, kc);
    std::vector<float> c(m * ldc, 0.f);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float sum = 0.f;
        for (int64_t p0 = 0; p0 < k; p0 += block) {
          float chain = 0.f;
          for (int64_t kk = p0; kk < std::min(k, p0 + block); ++kk) {
            chain = std::fma(at_a(i, kk), at_b(kk, j), chain);
          }
          sum = p0 == 0 ? chain : sum + chain;
        }
        c[i * ldc + j] = sum;
      }
    }
    return c;
  }

  // Max over C of |C - exact| / sum_k |a b|, with the exact product in double.
  double relative_error(const std::vector<float>& c, int64_t ldc) {
    double worst = 0;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double exact = 0, scale = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const double p = static_cast<double>(at_a(i, kk)) * at_b(kk, j);
          exact += p;
          scale += std::abs(p);
        }
        worst = std::max(worst, std::abs(c[i * ldc + j] - exact) / std::max(scale, 1e-30));
      }
    }
    return worst;
  }

  std::vector<float> run(int64_t ldc, int64_t r0, int64_t r1, const GemmBlocking& blocking,
                         float fill = -7.f) {
    std::vector<float> c(m * ldc, fill);
    gemm_f32(a.data(), lda, ta, b.data(), ldb, tb, c.data(), ldc, m, n, k, r0, r1, blocking);
    return c;
  }
};

// Equal bits, NaNs of any payload alike.
bool same_bits(float x, float y) {
  if (std::isnan(x) || std::isnan(y)) return std::isnan(x) && std::isnan(y);
  uint32_t bx, by;
  std::memcpy(&bx, &x, 4);
  std::memcpy(&by, &y, 4);
  return bx == by;
}

void expect_same(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!same_bits(got[i], want[i]) && bad++ < 3) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

class Gemm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gemm_f32_enabled()) GTEST_SKIP() << "gemm_f32 is off here (no AVX2/FMA, or KILN_SGEMM)";
  }
};

const GemmBlocking kTiny{12, 8, 32};  // k, n and m of a few dozen span several blocks.

TEST_F(Gemm, ManyShapesMatchTheFmaChainAndDouble) {
  const int64_t sizes[] = {1, 2, 3, 5, 6, 7, 8, 13, 16, 17, 23, 31, 37, 40};
  unsigned seed = 1;
  int cases = 0;
  for (int64_t m : sizes) {
    for (int64_t k : sizes) {
      for (int64_t n : sizes) {
        // Every transpose combination, spread over the shapes.
        const int t = static_cast<int>((m + 3 * k + 7 * n) % 4);
        Operands ops(m, k, n, t & 1, t & 2, (m + n) % 3, ++seed);
        const GemmBlocking& blocking =
            (m + k + n) % 2 ? kTiny : kernels::internal::default_gemm_blocking();
        const std::string what = "m=" + std::to_string(m) + " k=" + std::to_string(k) +
                                 " n=" + std::to_string(n) + " ta=" + std::to_string(ops.ta) +
                                 " tb=" + std::to_string(ops.tb);
        const std::vector<float> c = ops.run(n, 0, m, blocking);
        expect_same(c, ops.fma_reference(n, blocking.kc), what);
        EXPECT_LE(ops.relative_error(c, n), 4e-6 * (1 + k / 16)) << what;
        if (HasFailure()) return;
        ++cases;
      }
    }
  }
  EXPECT_EQ(cases, 14 * 14 * 14);
}

TEST_F(Gemm, EveryTransposeCombinationAcrossBlocks) {
  // k > kc, n > nc and m > mc of the default blocking, and of the tiny one.
  struct Shape {
    int64_t m, k, n;
    GemmBlocking blocking;
  };
  const Shape shapes[] = {{150, 301, 70, kernels::internal::default_gemm_blocking()},
                          {7, 520, 4100, kernels::internal::default_gemm_blocking()},
                          {53, 41, 67, kTiny},
                          {29, 97, 33, {6, 16, 16}}};
  unsigned seed = 100;
  for (const Shape& s : shapes) {
    for (int t = 0; t < 4; ++t) {
      Operands ops(s.m, s.k, s.n, t & 1, t & 2, 5, ++seed);
      const std::string what = "m=" + std::to_string(s.m) + " k=" + std::to_string(s.k) +
                               " n=" + std::to_string(s.n) + " t=" + std::to_string(t);
      const int64_t ldc = s.n + 3;
      const std::vector<float> c = ops.run(ldc, 0, s.m, s.blocking);
      std::vector<float> want = ops.fma_reference(ldc, s.blocking.kc);
      // Columns past n keep what was there.
      for (int64_t i = 0; i < s.m; ++i) {
        for (int64_t j = s.n; j < ldc; ++j) want[i * ldc + j] = -7.f;
      }
      expect_same(c, want, what);
      EXPECT_LE(ops.relative_error(c, ldc), 2e-5) << what;
    }
  }
}

// Any row range gives the rows a whole call gives, and leaves the other rows alone; so does
// another mc or nc (k blocks of 23: 23 + 22).
TEST_F(Gemm, RowRangesAndBlockingsGiveTheSameBits) {
  Operands ops(61, 45, 50, false, true, 0, 7);
  const std::vector<float> whole = ops.run(50, 0, 61, GemmBlocking{144, 32, 4080});
  for (const GemmBlocking& blocking :
       {GemmBlocking{12, 40, 32}, GemmBlocking{18, 23, 16}, GemmBlocking{60, 30, 48}}) {
    for (int64_t r0 : {0, 1, 5, 6, 13, 60}) {
      for (int64_t r1 : {r0, r0 + 1, r0 + 7, int64_t{61}}) {
        if (r1 > 61) continue;
        const std::vector<float> part = ops.run(50, r0, r1, blocking);
        for (int64_t i = 0; i < 61; ++i) {
          for (int64_t j = 0; j < 50; ++j) {
            const float want = i >= r0 && i < r1 ? whole[i * 50 + j] : -7.f;
            ASSERT_TRUE(same_bits(part[i * 50 + j], want))
                << "rows [" << r0 << ", " << r1 << ") mc=" << blocking.mc << " kc=" << blocking.kc
                << " nc=" << blocking.nc << ": element (" << i << ", " << j << ")";
          }
        }
      }
    }
  }
}

// What C held before does not matter, even NaN; NaN and Inf in the operands reach exactly the
// elements they should.
TEST_F(Gemm, NanAndInfPropagate) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  for (int t = 0; t < 4; ++t) {
    Operands ops(20, 30, 40, t & 1, t & 2, 1, 50 + t);
    ops.at_a(3, 7) = nan;    // row 3 of C is NaN
    ops.at_a(11, 29) = inf;  // row 11: +-Inf where B(29, j) != 0
    ops.at_b(29, 5) = 0.f;   // ... and NaN at (11, 5): Inf * 0
    ops.at_b(2, 33) = -inf;  // column 33: +-Inf outside rows 3 and 11
    const std::vector<float> c = ops.run(40, 0, 20, kTiny, nan);
    expect_same(c, ops.fma_reference(40, kTiny.kc), "t=" + std::to_string(t));
    for (int64_t j = 0; j < 40; ++j) EXPECT_TRUE(std::isnan(c[3 * 40 + j])) << j;
    EXPECT_TRUE(std::isnan(c[11 * 40 + 5]));
    EXPECT_TRUE(std::isinf(c[11 * 40 + 6]));
    EXPECT_TRUE(std::isinf(c[0 * 40 + 33]));
    for (int64_t i : {0, 19}) {
      for (int64_t j : {0, 39}) EXPECT_TRUE(std::isfinite(c[i * 40 + j])) << i << ", " << j;
    }
  }
}

// The eager matmul goes through gemm_f32 with the default blocking, transposed or not (k = 300
// spans two blocks).
TEST_F(Gemm, EagerMatmulUsesIt) {
  const int64_t kc = kernels::internal::default_gemm_blocking().kc;
  for (int t = 0; t < 4; ++t) {
    Operands ops(37, 300, 45, t & 1, t & 2, 0, 80 + t);
    const Tensor a = constant(ops.a, ops.ta ? Shape{300, 37} : Shape{37, 300});
    const Tensor b = constant(ops.b, ops.tb ? Shape{45, 300} : Shape{300, 45});
    expect_same(matmul(a, b, ops.ta, ops.tb).to_vector<float>(), ops.fma_reference(45, kc),
                "t=" + std::to_string(t));
  }
}

// Switched off, the eager matmul runs OpenBLAS's sgemm: still the product, though not the
// same operations in general, and still the same bits at 1 and 2 threads (300 rows, 6.3M
// multiply-adds: cut into row blocks). The environment variable is covered by a ctest entry
// running GemmEnv.* with KILN_SGEMM=openblas (tests/CMakeLists.txt).
void check_matmul_without_gemm_f32() {
  const int saved = config::num_threads();
  for (int t = 0; t < 4; ++t) {
    Operands ops(300, 301, 70, t & 1, t & 2, 0, 90 + t);
    const Tensor a = constant(ops.a, ops.ta ? Shape{301, 300} : Shape{300, 301});
    const Tensor b = constant(ops.b, ops.tb ? Shape{70, 301} : Shape{301, 70});
    config::set_num_threads(1);
    const std::vector<float> c = matmul(a, b, ops.ta, ops.tb).to_vector<float>();
    EXPECT_LE(ops.relative_error(c, 70), 2e-5) << "t=" << t;
    config::set_num_threads(2);
    EXPECT_EQ(matmul(a, b, ops.ta, ops.tb).to_vector<float>(), c) << "t=" << t;
  }
  config::set_num_threads(saved);
}

TEST(GemmFallback, SwitchedOffTheMatmulRunsOpenBlas) {
  const bool before = gemm_f32_enabled();
  kernels::internal::set_gemm_f32_disabled(true);
  EXPECT_FALSE(gemm_f32_enabled());
  check_matmul_without_gemm_f32();
  kernels::internal::set_gemm_f32_disabled(!before);
  EXPECT_EQ(gemm_f32_enabled(), before);
}

TEST(GemmEnv, KilnSgemmOpenblasSwitchesItOff) {
  const char* env = std::getenv("KILN_SGEMM");
  if (env == nullptr) {  // the whole suite's run: the host decides
    EXPECT_EQ(gemm_f32_enabled(),
              __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0);
    return;
  }
  EXPECT_EQ(std::string(env), "openblas");
  EXPECT_FALSE(gemm_f32_enabled());
  check_matmul_without_gemm_f32();
}

}  // namespace
}  // namespace kiln
