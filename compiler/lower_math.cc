// kiln — vectorizable float32 exp, log, sin, cos, pow and fmod emitted as LLVM IR (polynomials,
// table lookups and exact integer-valued double arithmetic; no libm calls). sin, cos, pow and
// fmod are described where they are defined, below.
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
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <vector>

#include "compiler/lower.h"
#include "compiler/lower_elementwise_math.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"

namespace kiln::compiler {
namespace {

// Helpers that work for both scalar float and <N x float>.
class MathEmitter {
 public:
  // The integer type has the float type's width (i32 for float, i64 for double).
  MathEmitter(llvm::IRBuilderBase& b, llvm::Type* float_type) : b_(b), fty_(float_type) {
    ity_ = llvm::Type::getIntNTy(b.getContext(), float_type->getScalarSizeInBits());
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
  llvm::Type* float_type() const { return fty_; }
  llvm::Value* sel(llvm::Value* c, llvm::Value* t, llvm::Value* e) {
    return b_.CreateSelect(c, t, e);
  }
  // The nearest integer to v (ties to even) for |v| < 2^51 (double) or 2^22 (float): adding
  // 1.5 * 2^52 (2^23) leaves the integer in the low mantissa bits. `bits` receives those bits
  // as an integer whose low bits are the integer's (two's complement).
  llvm::Value* round_small(llvm::Value* v, llvm::Value** bits = nullptr) {
    const double magic = fty_->getScalarSizeInBits() == 64 ? 0x1.8p52 : 0x1.8p23;
    llvm::Value* t = b_.CreateFAdd(v, f(magic));
    if (bits) *bits = to_int_bits(t);
    return b_.CreateFSub(t, f(magic));
  }
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

// ---- sin and cos ----------------------------------------------------------------------------
// 2/pi to 288 bits (0.a2f9836e... in hex), most significant word first.
constexpr uint32_t kTwoOverPiBits[] = {0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0, 0xdb629599,
                                       0x3c439041, 0xfe5163ab, 0xdebbc561, 0xb7246e3a};

// Bit i (weight 2^-i, i >= 1) of 2/pi.
int two_over_pi_bit(int i) {
  if (i < 1 || i > 32 * static_cast<int>(std::size(kTwoOverPiBits))) return 0;
  return static_cast<int>((kTwoOverPiBits[(i - 1) / 32] >> (31 - (i - 1) % 32)) & 1);
}

// Row `be` (a float's biased exponent) holds G = 2^(be - 150) * 2/pi mod 4 in fixed point, as
// three chunks: the bits of weight 2^1 ... 2^-27 (29 bits), 2^-28 ... 2^-56 (29 bits) and
// 2^-57 ... 2^-109 (53 bits), plus a zero to pad rows to 32 bytes. A float of that exponent is
// m * 2^(be - 150) with m a 24-bit integer, so x * 2/pi mod 4 = m * G mod 4, and m times
// either of the first two chunks is exact in double.
constexpr int kTableChunks = 3;
llvm::GlobalVariable* two_over_pi_table(llvm::Module& module) {
  static constexpr char kName[] = "kiln.two_over_pi_mod4";
  if (llvm::GlobalVariable* g = module.getNamedGlobal(kName)) return g;
  constexpr int kHigh[kTableChunks] = {1, -28, -57}, kLow[kTableChunks] = {-27, -56, -109};
  std::vector<double> rows;
  for (int be = 0; be < 256; ++be) {
    const int e = be - 150;
    for (int j = 0; j < kTableChunks; ++j) {
      int64_t chunk = 0;
      for (int w = kHigh[j]; w >= kLow[j]; --w) chunk = 2 * chunk + two_over_pi_bit(e - w);
      rows.push_back(std::ldexp(static_cast<double>(chunk), kLow[j]));
    }
    rows.push_back(0.0);
  }
  llvm::Constant* init = llvm::ConstantDataArray::get(module.getContext(), rows);
  return new llvm::GlobalVariable(module, init->getType(), /*isConstant=*/true,
                                  llvm::GlobalValue::PrivateLinkage, init, kName);
}

// sin(r) = r + r^3 P(r^2) and cos(r) = 1 + r^2 Q(r^2) on |r| <= pi/4 + 2^-21: Taylor terms up
// to r^13 and r^14; the first omitted terms are below 2^-45 relative (evaluated in double).
constexpr double kSinPoly[] = {1.0 / 6227020800.0, -1.0 / 39916800.0, 1.0 / 362880.0,
                               -1.0 / 5040.0,      1.0 / 120.0,       -1.0 / 6.0};
constexpr double kCosPoly[] = {-1.0 / 87178291200.0,
                               1.0 / 479001600.0,
                               -1.0 / 3628800.0,
                               1.0 / 40320.0,
                               -1.0 / 720.0,
                               1.0 / 24.0,
                               -0.5};

// The double type (vector or not) matching a float value's type.
llvm::Type* double_like(llvm::IRBuilderBase& b, llvm::Value* x) {
  llvm::Type* d = b.getDoubleTy();
  if (auto* vt = llvm::dyn_cast<llvm::VectorType>(x->getType())) {
    return llvm::VectorType::get(d, vt->getElementCount());
  }
  return d;
}

// Reads table[index][column] (a gather when the index is a vector).
llvm::Value* load_table(llvm::IRBuilderBase& b, llvm::GlobalVariable* table, llvm::Value* index,
                        int column, llvm::Type* result_type) {
  llvm::Value* flat =
      b.CreateAdd(b.CreateShl(index, 2), llvm::ConstantInt::get(index->getType(), column));
  llvm::Value* ptr = b.CreateGEP(b.getDoubleTy(), table, {flat});
  if (result_type->isVectorTy()) return b.CreateMaskedGather(result_type, ptr, llvm::Align(8));
  return b.CreateLoad(b.getDoubleTy(), ptr);
}

// sin(x) or cos(x) for float x, computed in double: x * 2/pi = k + t (|t| <= 1/2), r = t pi/2,
// then +-sin(r) or +-cos(r) by k mod 4. The reduction is exact to 2^-85 absolute in t for
// every finite float (the table above holds 2/pi to 2^-214 for the largest exponent), so the
// double result is within ~2^-40 relative and the float result within 0.5 ulp plus a rounding
// of that (tests/unit/compiler/math_test.cc measures it). |x| < pi/4 takes r = x.
llvm::Value* sincos_f32(llvm::IRBuilderBase& b, llvm::Value* x, bool cosine) {
  MathEmitter mf(b, x->getType());
  llvm::Type* dty = double_like(b, x);
  MathEmitter md(b, dty);
  llvm::Value* ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* bits = mf.to_int_bits(ax);
  llvm::Value* be = b.CreateLShr(bits, mf.i(23));
  llvm::Value* m =
      b.CreateUIToFP(b.CreateOr(b.CreateAnd(bits, mf.i(0x007fffff)), mf.i(0x00800000)), dty);
  llvm::GlobalVariable* table = two_over_pi_table(*b.GetInsertBlock()->getModule());
  llvm::Type* index_type = md.int_type();
  llvm::Value* row = b.CreateZExt(be, index_type);
  llvm::Value* c[kTableChunks];
  for (int j = 0; j < kTableChunks; ++j) c[j] = load_table(b, table, row, j, dty);
  // m * c0 < 2^26 is a multiple of 2^-27 (53 bits, exact); so is p0 = m * c0 - 4 round(m c0 / 4),
  // |p0| <= 2, congruent to it mod 4.
  llvm::Value* p0 = b.CreateFMul(m, c[0]);
  p0 = md.fmuladd(md.round_small(b.CreateFMul(p0, md.f(0.25))), md.f(-4.0), p0);
  // m * c1 < 2^-3 is exact too; k = round(p0 + p1) (the rounded sum serves: k only has to be
  // an integer within 1/2 of it), whose low bits give the quadrant.
  llvm::Value* p1 = b.CreateFMul(m, c[1]);
  llvm::Value* kbits = nullptr;
  llvm::Value* k = md.round_small(b.CreateFAdd(p0, p1), &kbits);
  // t = (p0 - k) + p1 + m * c2: p0 - k is exact, so each addition rounds relative to t itself;
  // the chunks stop at 2^-109, m * 2^-109 < 2^-85 absolute.
  llvm::Value* t = b.CreateFAdd(b.CreateFSub(p0, k), p1);
  t = md.fmuladd(m, c[2], t);
  llvm::Value* r = b.CreateFMul(t, md.f(1.57079632679489661923));
  llvm::Value* q = b.CreateAnd(kbits, md.i(3));
  llvm::Value* small = b.CreateFCmpOLT(ax, mf.f(0.785398163397448309616));
  r = md.sel(small, b.CreateFPExt(ax, dty), r);
  q = md.sel(small, md.i(0), q);
  if (cosine) q = b.CreateAdd(q, md.i(1));
  llvm::Value* r2 = b.CreateFMul(r, r);
  llvm::Value* s = md.fmuladd(b.CreateFMul(r2, r), md.horner(r2, kSinPoly), r);
  llvm::Value* co = md.fmuladd(r2, md.horner(r2, kCosPoly), md.f(1.0));
  llvm::Value* odd = b.CreateICmpNE(b.CreateAnd(q, md.i(1)), md.i(0));
  llvm::Value* v = md.sel(odd, co, s);
  llvm::Value* flip = b.CreateICmpNE(b.CreateAnd(q, md.i(2)), md.i(0));
  v = md.sel(flip, b.CreateFNeg(v), v);
  llvm::Value* y = b.CreateFPTrunc(v, x->getType());
  if (!cosine) {  // sin(-x) = -sin(x), sin(-0) = -0
    llvm::Value* sign = b.CreateAnd(mf.to_int_bits(x), mf.i(INT32_MIN));
    y = mf.from_int_bits(b.CreateXor(mf.to_int_bits(y), sign));
  }
  // sin and cos of inf or nan are nan.
  const double inf = std::numeric_limits<double>::infinity();
  return mf.sel(b.CreateFCmpOLT(ax, mf.f(inf)), y, b.CreateFSub(x, x));
}

// ---- pow ------------------------------------------------------------------------------------
// ln(m) = 2 atanh(s) = 2 (s + s^3/3 + ... + s^17/17) for s = (m - 1) / (m + 1), |s| <= 0.1716
// (m in [sqrt(1/2), sqrt(2)]); the first omitted term is below 2^-50 relative.
constexpr double kAtanhPoly[] = {1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11,
                                 1.0 / 9,  1.0 / 7,  1.0 / 5,  1.0 / 3};

// log2|x| in double for finite nonzero x (given as double; float subnormals are normal there).
llvm::Value* log2_f64(MathEmitter& md, llvm::IRBuilderBase& b, llvm::Value* xd) {
  llvm::Value* bits = md.to_int_bits(xd);
  llvm::Value* e = b.CreateSub(b.CreateLShr(bits, md.i(52)), md.i(1023));
  llvm::Value* m = md.from_int_bits(
      b.CreateOr(b.CreateAnd(bits, md.i(0x000fffffffffffffLL)), md.i(0x3ff0000000000000LL)));
  llvm::Value* big = b.CreateFCmpOGT(m, md.f(1.41421356237309504880));
  m = md.sel(big, b.CreateFMul(m, md.f(0.5)), m);
  e = md.sel(big, b.CreateAdd(e, md.i(1)), e);
  llvm::Value* s = b.CreateFDiv(b.CreateFSub(m, md.f(1.0)), b.CreateFAdd(m, md.f(1.0)));
  llvm::Value* s2 = b.CreateFMul(s, s);
  llvm::Value* two_s = b.CreateFAdd(s, s);
  llvm::Value* ln = md.fmuladd(b.CreateFMul(two_s, s2), md.horner(s2, kAtanhPoly), two_s);
  return md.fmuladd(ln, md.f(1.44269504088896340736), b.CreateSIToFP(e, md.float_type()));
}

// 2^f = e^(f ln 2) for |f| <= 1/2: Taylor terms up to (f ln 2)^10 / 10! (the next is < 2^-42,
// far below the float rounding).
const double (&exp2_poly())[11] {
  static const auto coeffs = [] {
    struct Coeffs {
      double c[11];
    } r{};
    double term = 1.0;  // (ln 2)^k / k!, highest degree first
    for (int k = 0; k <= 10; ++k) {
      r.c[10 - k] = term;
      term = term * 0.693147180559945309417 / (k + 1);
    }
    return r;
  }();
  return coeffs.c;
}

}  // namespace

llvm::Value* emit_sin_f32(llvm::IRBuilderBase& b, llvm::Value* x) {
  return sincos_f32(b, x, /*cosine=*/false);
}
llvm::Value* emit_cos_f32(llvm::IRBuilderBase& b, llvm::Value* x) {
  return sincos_f32(b, x, /*cosine=*/true);
}

// x^y = 2^(y log2|x|) in double (within ~2^-41 relative before the one rounding to float),
// with C's special cases: x^0 = 1 and 1^y = 1 (nan included), (-1)^(+-inf) = 1, nan for a
// finite x < 0 and a finite non-integer y, the sign of x for odd integer y (-0 and -inf too).
llvm::Value* emit_pow_f32(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  MathEmitter mf(b, x->getType());
  llvm::Type* dty = double_like(b, x);
  MathEmitter md(b, dty);
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  llvm::Value* ax = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x);
  llvm::Value* axd = b.CreateFPExt(ax, dty);
  llvm::Value* l = log2_f64(md, b, axd);
  l = md.sel(b.CreateFCmpOEQ(ax, mf.f(0.0)), md.f(-inf), l);
  l = md.sel(b.CreateFCmpOEQ(ax, mf.f(inf)), md.f(inf), l);
  llvm::Value* t = b.CreateFMul(b.CreateFPExt(y, dty), l);
  // 2^t: above 200 or below -200 the float result is inf or 0 anyway (nan passes through).
  t = md.sel(b.CreateFCmpOGT(t, md.f(200.0)), md.f(200.0), t);
  t = md.sel(b.CreateFCmpOLT(t, md.f(-200.0)), md.f(-200.0), t);
  llvm::Value* nbits = nullptr;
  llvm::Value* n = md.round_small(t, &nbits);
  llvm::Value* f = b.CreateFSub(t, n);  // exact, |f| <= 1/2
  llvm::Value* p = md.horner(f, exp2_poly());
  // 2^n for n in [-200, 200] is a normal double; the product is exact, the truncation to
  // float the only rounding (also for subnormal results and overflow to inf).
  llvm::Value* n64 = b.CreateAShr(b.CreateShl(nbits, md.i(13)), md.i(13));  // sign-extend 51 bits
  llvm::Value* scale = md.from_int_bits(b.CreateShl(b.CreateAdd(n64, md.i(1023)), md.i(52)));
  llvm::Value* r = b.CreateFPTrunc(b.CreateFMul(p, scale), x->getType());
  // Integer and odd y: below 2^24 by conversion (guarded, so fptosi sees no large value),
  // at or above it every float is an even integer (inf counts as one here).
  llvm::Value* ay = b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, y);
  llvm::Value* moderate = b.CreateFCmpOLT(ay, mf.f(16777216.0));
  llvm::Value* ys = mf.sel(moderate, y, mf.f(0.0));
  llvm::Value* yi = b.CreateFPToSI(ys, mf.int_type());
  llvm::Value* integral = b.CreateFCmpOEQ(b.CreateSIToFP(yi, x->getType()), ys);
  llvm::Value* odd = b.CreateAnd(b.CreateAnd(moderate, integral),
                                 b.CreateICmpNE(b.CreateAnd(yi, mf.i(1)), mf.i(0)));
  llvm::Value* y_integer = b.CreateOr(b.CreateFCmpOGE(ay, mf.f(16777216.0)), integral);
  llvm::Value* x_negative = b.CreateICmpSLT(mf.to_int_bits(x), mf.i(0));  // -0 and -inf too
  r = mf.sel(b.CreateAnd(x_negative, odd), b.CreateFNeg(r), r);
  llvm::Value* no_real =
      b.CreateAnd(b.CreateAnd(b.CreateFCmpOLT(x, mf.f(0.0)), b.CreateFCmpONE(x, mf.f(-inf))),
                  b.CreateNot(y_integer));
  r = mf.sel(no_real, mf.f(nan), r);
  r = mf.sel(b.CreateFCmpUNO(x, y), mf.f(nan), r);
  llvm::Value* one =
      b.CreateOr(b.CreateAnd(b.CreateFCmpOEQ(ax, mf.f(1.0)), b.CreateFCmpOEQ(ay, mf.f(inf))),
                 b.CreateOr(b.CreateFCmpOEQ(x, mf.f(1.0)), b.CreateFCmpOEQ(y, mf.f(0.0))));
  return mf.sel(one, mf.f(1.0), r);
}

// fmod(x, y) for float x, y, exact (C's fmod: the sign of x, |result| < |y|). With
// |x| = mx 2^ex and |y| = my 2^ey (24-bit integer mantissas, subnormals with ex = -149),
// ex < ey means |x| < |y| and the result is x; otherwise |result| = (mx 2^(ex - ey) mod my) 2^ey.
// The residue is computed in double on integers below 2^48 (exact): 2^d mod my by squaring
// (d = ex - ey <= 253, eight bits), each product a*b (a, b < my < 2^24) reduced as
// a*b - round(a*b / my) my, which is exact because round(a*b * (1/my)) is within 1/2 + 2^-28 of
// the true quotient, so the remainder lies in (-my, my) and one correction makes it [0, my).
llvm::Value* emit_fmod_f32(llvm::IRBuilderBase& b, llvm::Value* x, llvm::Value* y) {
  MathEmitter mf(b, x->getType());
  llvm::Type* dty = double_like(b, x);
  MathEmitter md(b, dty);
  const double inf = std::numeric_limits<double>::infinity();
  auto decompose = [&](llvm::Value* v, llvm::Value** mant, llvm::Value** expo) {
    llvm::Value* bits = b.CreateAnd(mf.to_int_bits(v), mf.i(0x7fffffff));
    llvm::Value* be = b.CreateLShr(bits, mf.i(23));
    llvm::Value* normal = b.CreateICmpNE(be, mf.i(0));
    llvm::Value* frac = b.CreateAnd(bits, mf.i(0x007fffff));
    *mant = b.CreateUIToFP(mf.sel(normal, b.CreateOr(frac, mf.i(0x00800000)), frac), dty);
    *expo = b.CreateSub(mf.sel(normal, be, mf.i(1)), mf.i(150));
  };
  llvm::Value *mx, *ex, *my, *ey;
  decompose(x, &mx, &ex);
  decompose(y, &my, &ey);
  // my = 0 (y = 0) is replaced by 1 to keep the arithmetic finite; the result is nan then.
  my = md.sel(b.CreateFCmpOEQ(my, md.f(0.0)), md.f(1.0), my);
  llvm::Value* inv = b.CreateFDiv(md.f(1.0), my);
  auto fix = [&](llvm::Value* r) {  // (-my, my) -> [0, my)
    return md.sel(b.CreateFCmpOLT(r, md.f(0.0)), b.CreateFAdd(r, my), r);
  };
  auto reduce = [&](llvm::Value* p) {  // p mod my for an integer 0 <= p < 2^48
    llvm::Value* q = md.round_small(b.CreateFMul(p, inv));
    return fix(md.fmuladd(q, b.CreateFNeg(my), p));
  };
  llvm::Value* d = b.CreateSub(ex, ey);
  llvm::Value* dc = mf.sel(b.CreateICmpSLT(d, mf.i(0)), mf.i(0), d);  // d <= 253 otherwise
  // 2^(d >> 5) <= 2^7, reduced; then the low five bits of d, most significant first.
  llvm::Value* top = b.CreateLShr(dc, mf.i(5));
  llvm::Value* acc = reduce(b.CreateUIToFP(b.CreateShl(mf.i(1), top), dty));
  for (int bit = 4; bit >= 0; --bit) {
    acc = reduce(b.CreateFMul(acc, acc));
    llvm::Value* twice = b.CreateFAdd(acc, acc);
    twice = md.sel(b.CreateFCmpOGE(twice, my), b.CreateFSub(twice, my), twice);
    llvm::Value* set = b.CreateICmpNE(b.CreateAnd(b.CreateLShr(dc, mf.i(bit)), mf.i(1)), mf.i(0));
    acc = md.sel(set, twice, acc);
  }
  llvm::Value* residue = reduce(b.CreateFMul(mx, acc));
  // residue * 2^ey: 2^ey in [2^-149, 2^105] is a normal double; the float result is exact.
  llvm::Value* ey64 = b.CreateSExt(ey, md.int_type());
  llvm::Value* scale = md.from_int_bits(b.CreateShl(b.CreateAdd(ey64, md.i(1023)), md.i(52)));
  llvm::Value* r = b.CreateFPTrunc(b.CreateFMul(residue, scale), x->getType());
  r = b.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, r, x);
  r = mf.sel(b.CreateICmpSLT(d, mf.i(0)), x, r);
  // nan for x = +-inf, y = 0 or a nan; y = +-inf (ey = 105 > ex) gave x above.
  llvm::Value* invalid =
      b.CreateOr(b.CreateFCmpUGE(b.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, x), mf.f(inf)),
                 b.CreateFCmpUEQ(y, mf.f(0.0)));
  return mf.sel(invalid, mf.f(std::numeric_limits<double>::quiet_NaN()), r);
}

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
