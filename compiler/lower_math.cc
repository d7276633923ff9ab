// kiln — vectorizable float32 exp and log emitted as LLVM IR (polynomials, no libm calls).
//
// A call to scalar expf/logf in a loop body stops the loop vectorizer (LLVM 19 has no AVX-512
// and only partial AVX2 libmvec mappings), so fusions compute them with the Cephes-style
// reductions and minimax polynomials below, written with fmuladd (an FMA where the target has
// one, a multiply and an add otherwise; the Cody-Waite constants are exact either way), selects
// and integer bit manipulation only.
//
// Measured error: exhaustively, every float32 input against double-precision std::exp/std::log,
// compiled for znver3 (with FMA); tests/unit/compiler/math_test.cc checks a dense sample.
//   exp, all 2.24e9 floats in [-87.33, 88.72] (normal results): max relative error 8.5e-8
//     (at x = 26.6904). Subnormal results are rounded once (within ~1 subnormal step);
//     exp(x) = +inf for x > 88.7228 and for +inf, 0 for x < -103.98 and for -inf, nan for nan.
//   log, all 2.14e9 positive finite floats (subnormals included): max relative error 8.2e-8
//     (at x = 2.80252); log(+-0) = -inf, log(x < 0) = nan, log(inf) = inf, log(nan) = nan.
// In ulps (bench/vmath_ulp.cc, all 2^32 inputs, exact = double libm value): exp 1.01 ulp max
// (at x = -5.87788), log 0.83 ulp max (at x = 1.41364); the table of all compiled functions is
// in lower_elementwise_math.cc.
#include <cstdint>
#include <limits>

#include "compiler/lower.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"

namespace kiln::compiler {
namespace {

// Helpers that work for both scalar float and <N x float>.
class MathEmitter {
 public:
  MathEmitter(llvm::IRBuilderBase& b, llvm::Type* float_type) : b_(b), fty_(float_type) {
    ity_ = llvm::Type::getInt32Ty(b.getContext());
    if (auto* vt = llvm::dyn_cast<llvm::VectorType>(float_type)) {
      ity_ = llvm::VectorType::get(ity_, vt->getElementCount());
    }
  }

  llvm::Value* f(double v) const { return llvm::ConstantFP::get(fty_, v); }
  llvm::Value* i(int64_t v) const { return llvm::ConstantInt::get(ity_, v, /*IsSigned=*/true); }
  llvm::Type* int_type() const { return ity_; }

  // a * b + c, fused if the target has FMA.
  llvm::Value* fmuladd(llvm::Value* a, llvm::Value* bb, llvm::Value* c) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {fty_}, {a, bb, c});
  }
  // Horner evaluation of coeffs[0] * x^(n-1) + ... + coeffs[n-1].
  template <size_t N>
  llvm::Value* horner(llvm::Value* x, const double (&coeffs)[N]) {
    llvm::Value* p = f(coeffs[0]);
    for (size_t k = 1; k < N; ++k) p = fmuladd(p, x, f(coeffs[k]));
    return p;
  }
  llvm::Value* to_int_bits(llvm::Value* x) { return b_.CreateBitCast(x, ity_); }
  llvm::Value* from_int_bits(llvm::Value* x) { return b_.CreateBitCast(x, fty_); }
  // 2^n for integer n in [-126, 127], built from the exponent field.
  llvm::Value* pow2(llvm::Value* n) {
    return from_int_bits(b_.CreateShl(b_.CreateAdd(n, i(127)), i(23)));
  }

 private:
  llvm::IRBuilderBase& b_;
  llvm::Type* fty_;
  llvm::Type* ity_;
};

// exp(r) - 1 - r ≈ r^2 * P(r) on [-ln2/2, ln2/2] (Cephes expf coefficients).
constexpr double kExpPoly[] = {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3,
                               4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1};
// log(1+m) = m - m^2/2 + m^3 * P(m) for m in [sqrt(1/2)-1, sqrt(2)-1] (Cephes logf).
constexpr double kLogPoly[] = {7.0376836292E-2,  -1.1514610310E-1, 1.1676998740E-1,
                               -1.2420140846E-1, 1.4249322787E-1,  -1.6668057665E-1,
                               2.0000714765E-1,  -2.4999993993E-1, 3.3333331174E-1};
// ln 2 split so that n * kLn2Hi is exact for |n| < 2^15 (Cody-Waite).
constexpr double kLn2Hi = 0.693359375;
constexpr double kLn2Lo = -2.12194440e-4;
constexpr double kLog2e = 1.44269504088896341;

// x = n ln2 + r with |r| <= ln2 / 2, for x already clamped so that n fits the exponent range.
struct Ln2Reduction {
  llvm::Value* n;  // an integer (vector)
  llvm::Value* r;
};
Ln2Reduction reduce_ln2(MathEmitter& m, llvm::IRBuilderBase& b, llvm::Value* x) {
  // n = round(x / ln2) with the 1.5 * 2^23 trick: the integer lands in the low mantissa bits,
  // so no float->int conversion (poison on NaN) is needed.
  constexpr double kMagic = 12582912.0;  // 1.5 * 2^23
  llvm::Value* t = m.fmuladd(x, m.f(kLog2e), m.f(kMagic));
  llvm::Value* n = b.CreateSub(m.to_int_bits(t), m.to_int_bits(m.f(kMagic)));
  llvm::Value* nf = b.CreateFSub(t, m.f(kMagic));
  // r = x - n * ln2 in two exact-ish steps.
  llvm::Value* r = m.fmuladd(nf, m.f(-kLn2Hi), x);
  return {n, m.fmuladd(nf, m.f(-kLn2Lo), r)};
}

// e^r - 1 = r + r^2 * P(r) for the reduced argument.
llvm::Value* expm1_reduced(MathEmitter& m, llvm::IRBuilderBase& b, llvm::Value* r) {
  llvm::Value* p = m.horner(r, kExpPoly);
  return m.fmuladd(p, b.CreateFMul(r, r), r);
}

// y * 2^n as two exact power-of-two scalings (n1 + n2 = n, both in [-75, 65]) so that results
// in the subnormal range are rounded once and 2^128 * y (y < 1) stays finite.
llvm::Value* scale_pow2(MathEmitter& m, llvm::IRBuilderBase& b, llvm::Value* y, llvm::Value* n) {
  llvm::Value* n1 = b.CreateAShr(n, m.i(1));
  llvm::Value* n2 = b.CreateSub(n, n1);
  return b.CreateFMul(b.CreateFMul(y, m.pow2(n1)), m.pow2(n2));
}

}  // namespace

llvm::Value* emit_exp_f32(llvm::IRBuilderBase& b, llvm::Value* x) {
  MathEmitter m(b, x->getType());
  // Clamp so that n stays in [-150, 129]: above 88.72 the result overflows to inf by itself,
  // below -103.98 it underflows to 0. NaN compares false and passes through unchanged.
  llvm::Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, m.f(89.0)), m.f(89.0), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, m.f(-104.0)), m.f(-104.0), xc);
  const Ln2Reduction red = reduce_ln2(m, b, xc);
  // e^r = 1 + (e^r - 1).
  return scale_pow2(m, b, b.CreateFAdd(expm1_reduced(m, b, red.r), m.f(1.0)), red.n);
}

llvm::Value* emit_expm1_f32(llvm::IRBuilderBase& b, llvm::Value* x) {
  MathEmitter m(b, x->getType());
  // Below -17.5 the result rounds to -1; above 88.72 it overflows to inf (as exp). NaN passes.
  llvm::Value* xc = b.CreateSelect(b.CreateFCmpOGT(x, m.f(89.0)), m.f(89.0), x);
  xc = b.CreateSelect(b.CreateFCmpOLT(xc, m.f(-17.5)), m.f(-17.5), xc);
  // x = n ln2 + r, |r| <= ln2 / 2, as in exp.
  const Ln2Reduction red = reduce_ln2(m, b, xc);
  llvm::Value* n = red.n;
  // p = e^r - 1: no cancellation, relative accuracy for tiny r.
  llvm::Value* p = expm1_reduced(m, b, red.r);
  // e^x - 1 = 2^n p + (2^n - 1). For |n| <= 24, 2^n - 1 is exact and one fma rounds once;
  // below (n >= -26 after the clamp), 2^n p + 2^n is tiny and is added to -1 last; above,
  // the -1 is below half an ulp and the exp path (two power-of-two scalings) avoids overflow.
  llvm::Value* nmid = b.CreateSelect(b.CreateICmpSGT(n, m.i(24)), m.i(24), n);
  llvm::Value* s = m.pow2(nmid);
  llvm::Value* mid = m.fmuladd(s, p, b.CreateFSub(s, m.f(1.0)));
  llvm::Value* low = b.CreateFSub(m.fmuladd(s, p, s), m.f(1.0));
  llvm::Value* high = scale_pow2(m, b, b.CreateFAdd(p, m.f(1.0)), n);
  llvm::Value* y = b.CreateSelect(b.CreateICmpSLT(n, m.i(-24)), low, mid);
  y = b.CreateSelect(b.CreateICmpSGT(n, m.i(24)), high, y);
  // expm1(+-0) = +-0.
  return b.CreateSelect(b.CreateFCmpOEQ(x, m.f(0.0)), x, y);
}

llvm::Value* emit_log_f32(llvm::IRBuilderBase& b, llvm::Value* x) {
  MathEmitter m(b, x->getType());
  // Subnormal inputs: scale by 2^23 first.
  llvm::Value* sub = b.CreateFCmpOLT(x, m.f(1.17549435e-38));  // FLT_MIN
  llvm::Value* xs = b.CreateSelect(sub, b.CreateFMul(x, m.f(8388608.0)), x);
  llvm::Value* bits = m.to_int_bits(xs);
  // x = mant * 2^e with mant in [0.5, 1).
  llvm::Value* e = b.CreateSub(b.CreateLShr(bits, m.i(23)), m.i(126));
  e = b.CreateSelect(sub, b.CreateSub(e, m.i(23)), e);
  llvm::Value* mant =
      m.from_int_bits(b.CreateOr(b.CreateAnd(bits, m.i(0x007fffff)), m.i(0x3f000000)));
  // Move mant into [sqrt(1/2), sqrt(2)) and subtract 1 (both steps exact by Sterbenz).
  llvm::Value* small = b.CreateFCmpOLT(mant, m.f(0.70710678118654752440));
  e = b.CreateSelect(small, b.CreateSub(e, m.i(1)), e);
  llvm::Value* mm = b.CreateFSub(b.CreateSelect(small, b.CreateFAdd(mant, mant), mant), m.f(1.0));
  llvm::Value* z = b.CreateFMul(mm, mm);
  llvm::Value* y = b.CreateFMul(b.CreateFMul(m.horner(mm, kLogPoly), mm), z);
  llvm::Value* fe = b.CreateSIToFP(e, x->getType());
  y = m.fmuladd(fe, m.f(kLn2Lo), y);
  y = m.fmuladd(z, m.f(-0.5), y);
  llvm::Value* r = b.CreateFAdd(mm, y);
  r = m.fmuladd(fe, m.f(kLn2Hi), r);
  // Special values: log(inf) = inf, log(+-0) = -inf, log(x < 0 or nan) = nan.
  const double inf = std::numeric_limits<double>::infinity();
  r = b.CreateSelect(b.CreateFCmpOEQ(x, m.f(inf)), m.f(inf), r);
  r = b.CreateSelect(b.CreateFCmpOEQ(x, m.f(0.0)), m.f(-inf), r);
  r = b.CreateSelect(b.CreateFCmpULT(x, m.f(0.0)), m.f(std::numeric_limits<double>::quiet_NaN()),
                     r);
  return r;
}

}  // namespace kiln::compiler
