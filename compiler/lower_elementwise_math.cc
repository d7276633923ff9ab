// kiln — lowering of the elementwise math ops inside an elementwise loop (one element's value).
//
// float32 is vectorizable IR throughout (no libm call, so the loop vectorizer widens the loop).
// float64 calls libm's double functions for every transcendental (exp log expm1 log1p tanh erfc
// sin cos pow fmod) through their addresses, since the JIT resolves no libm symbols: accurate to
// float64, and what the eager float64 kernels call; those loops stay scalar. float16 and
// bfloat16 compute as float32; lower_elementwise.cc rounds each result back to 16 bits.
//   sqrt rsqrt floor ceil round      llvm.sqrt / floor / ceil / roundeven (one instruction)
//   expm1                            exp's range reduction, then 2^n (e^r - 1) + (2^n - 1)
//   log1p                            Kahan's correction on the log polynomial
//   tanh sigmoid softplus elu selu   exp/log polynomials plus a small tanh polynomial
//   gelu                             the rational erf of runtime/kernels/math_functions.h, and
//                                    an erfc tail below x = -1.5 (no cancellation of 1 + erf)
//   minimum maximum                  selects (nan propagates, as in TF)
//   sin cos                          in double: x 2/pi mod 4 from a per-exponent table of 2/pi
//                                    bits (exact for every float), Taylor polynomials on
//                                    |r| <= pi/4 (compiler/lower_math.cc)
//   pow                              in double: 2^(y log2|x|), an atanh series for log2 and a
//                                    Taylor series for 2^f; C's special cases by selects
//   mod (floormod)                   C's fmod computed exactly from the integer mantissas
//                                    (2^(ex - ey) mod my by squaring, in double), then the
//                                    divisor's sign as the eager kernel does: bitwise equal
// The formulas are those of the eager kernels (runtime/kernels/elementwise_math.cc; expm1 there
// uses Kahan's correction instead; sin, cos and pow there are libm's), so compiled and eager
// results differ by rounding only (tests/unit/compiler/math_ops_compiled_test.cc,
// tests/unit/compiler/vmath_test.cc).
//
// Max error of the float32 functions in ulps (|got - exact| / float spacing at the exact value,
// exact = the double-precision libm value), compiled for znver3 (FMA). bench/vmath_ulp.cc
// (build/bin/kiln_vmath_ulp) sweeps all 2^32 inputs or every k-th bit pattern;
// tests/unit/compiler/math_test.cc asserts these bounds on every 1021st.
//   function  inputs swept               max ulp  worst x
//   exp       all 2^32                   1.01     -5.87788
//   log       all 2^32                   0.83     1.41364
//   expm1     every 4th                  1.44     0.363473
//   log1p     every 4th + every 1021st   2.45     1.73742e7
//   tanh      every 4th + every 1021st   1.32     0.627549
//   sigmoid   every 4th + every 1021st   2.81     -1.94683
//   softplus  every 4th + every 1021st   2.53     -1.27444
//   gelu      every 4th + every 1021st   17.2     -1.48328 (1 + erf just above the erfc tail)
//   sin       all 2^32                   0.500    7.51163e6 (huge arguments included)
//   cos       all 2^32                   0.500    9.91415e9
//   pow       x every 4th, y hashed      0.500    x = 119157, y = -1.68978 (y in [-40, 40])
//   mod       exact (bitwise equal to the eager kernel; tests/unit/compiler/vmath_test.cc)
// For each function the max over inputs whose exact result is a normal float is the same, so
// subnormal results (nothing flushes to zero) stay within these bounds.
// Special values: nan in, nan out; exp(-inf) = 0, log(0) = -inf, log(x < 0) = nan, expm1 and
// log1p of +-0 and tiny x return x (sign kept), tanh(+-inf) = +-1, sigmoid(-inf) = 0,
// gelu(x < -14.5) = -0 and gelu(-inf) = nan (as 0.5 x (1 + erf) gives). Inputs and results
// may be subnormal (nothing flushes to zero).
#include "compiler/lower_elementwise_math.h"

#include <math.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "compiler/lower.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "runtime/kernels/math_functions.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

namespace km = kernels::math;
using ir::OpKind;

class Emitter {
 public:
  // `f64`: float values are double (float64) rather than float (float32, float16, bfloat16).
  Emitter(llvm::IRBuilderBase& b, bool f64)
      : b_(b), f64_(f64), fty_(f64 ? b.getDoubleTy() : b.getFloatTy()) {}

  llvm::Value* f(double v) { return llvm::ConstantFP::get(fty_, v); }
  // An integer constant of x's type.
  llvm::Value* i(llvm::Value* x, int64_t v) {
    return llvm::ConstantInt::get(x->getType(), v, /*IsSigned=*/true);
  }
  llvm::Value* fma(llvm::Value* x, llvm::Value* y, llvm::Value* z) {
    return b_.CreateIntrinsic(llvm::Intrinsic::fmuladd, {fty_}, {x, y, z});
  }
  template <size_t N>
  llvm::Value* horner(llvm::Value* x, const double (&c)[N]) {
    llvm::Value* p = f(c[0]);
    for (size_t k = 1; k < N; ++k) p = fma(p, x, f(c[k]));
    return p;
  }
  llvm::Value* unary(llvm::Intrinsic::ID id, llvm::Value* x) {
    return b_.CreateUnaryIntrinsic(id, x);
  }
  llvm::Value* sel(llvm::Value* c, llvm::Value* t, llvm::Value* e) {
    return b_.CreateSelect(c, t, e);
  }
  llvm::Value* lt(llvm::Value* x, double v) { return b_.CreateFCmpOLT(x, f(v)); }
  llvm::Value* gt(llvm::Value* x, double v) { return b_.CreateFCmpOGT(x, f(v)); }
  llvm::Value* eq(llvm::Value* x, double v) { return b_.CreateFCmpOEQ(x, f(v)); }
  llvm::Value* is_nan(llvm::Value* x) { return b_.CreateFCmpUNO(x, x); }

  // A libm function called through its address (float or double, by its signature).
  template <typename R, typename... A>
  llvm::Value* libm(R (*fn)(A...), std::vector<llvm::Value*> args) {
    llvm::Type* t = std::is_same_v<R, double> ? b_.getDoubleTy() : b_.getFloatTy();
    std::vector<llvm::Type*> params(sizeof...(A), t);
    auto* type = llvm::FunctionType::get(t, params, false);
    llvm::Value* callee =
        b_.CreateIntToPtr(b_.getInt64(reinterpret_cast<uintptr_t>(fn)), b_.getPtrTy());
    llvm::CallInst* call = b_.CreateCall(type, callee, args);
    call->addFnAttr(llvm::Attribute::NoUnwind);
    call->addFnAttr(llvm::Attribute::WillReturn);
    return call;
  }

  // exp and log: the float32 polynomials, or libm's double functions for float64.
  llvm::Value* exp(llvm::Value* x) {
    return f64_ ? libm<double, double>(&::exp, {x}) : emit_exp_f32(b_, x);
  }
  llvm::Value* log(llvm::Value* x) {
    return f64_ ? libm<double, double>(&::log, {x}) : emit_log_f32(b_, x);
  }

  llvm::Value* expm1(llvm::Value* x) {
    if (f64_) return libm<double, double>(&::expm1, {x});
    return emit_expm1_f32(b_, x);
  }
  llvm::Value* log1p(llvm::Value* x) {
    if (f64_) return libm<double, double>(&::log1p, {x});
    llvm::Value* x1 = b_.CreateFAdd(x, f(1.0));
    llvm::Value* r =
        b_.CreateFMul(x, b_.CreateFDiv(emit_log_f32(b_, x1), b_.CreateFSub(x1, f(1.0))));
    return sel(b_.CreateOr(eq(x1, 1.0), eq(x1, km::kInf)), x, r);
  }
  llvm::Value* tanh(llvm::Value* x) {
    if (f64_) return libm<double, double>(&::tanh, {x});
    llvm::Value* ax = unary(llvm::Intrinsic::fabs, x);
    llvm::Value* z = b_.CreateFMul(x, x);
    llvm::Value* small = fma(b_.CreateFMul(horner(z, km::kTanhPoly), z), x, x);
    llvm::Value* e = emit_exp_f32(b_, b_.CreateFMul(ax, f(2.0)));
    llvm::Value* large = b_.CreateFSub(f(1.0), b_.CreateFDiv(f(2.0), b_.CreateFAdd(e, f(1.0))));
    large = sel(lt(x, 0.0), b_.CreateFNeg(large), large);
    return sel(lt(ax, km::kTanhSmall), small, large);
  }
  llvm::Value* sigmoid(llvm::Value* x) {
    if (f64_) return b_.CreateFDiv(f(1.0), b_.CreateFAdd(f(1.0), exp(b_.CreateFNeg(x))));
    // e / (1 + e) for x < 0 (math_functions.h): exp never overflows.
    llvm::Value* e = exp(b_.CreateFNeg(unary(llvm::Intrinsic::fabs, x)));
    llvm::Value* r = b_.CreateFDiv(f(1.0), b_.CreateFAdd(f(1.0), e));
    return sel(lt(x, 0.0), b_.CreateFMul(e, r), r);
  }
  llvm::Value* softplus(llvm::Value* x) {
    llvm::Value* relu = sel(gt(x, 0.0), x, f(0.0));
    llvm::Value* e = exp(b_.CreateFNeg(unary(llvm::Intrinsic::fabs, x)));
    return b_.CreateFAdd(relu, log1p(e));
  }
  llvm::Value* gelu(llvm::Value* x) {
    if (f64_) {
      llvm::Value* erfc = libm<double, double>(&::erfc, {b_.CreateFMul(x, f(-km::kSqrtHalf))});
      return b_.CreateFMul(b_.CreateFMul(f(0.5), x), erfc);
    }
    // 0.5 * x * (1 + erf(x / sqrt 2)) with the rational erf, on x clamped to [-4, 4] sqrt 2.
    llvm::Value* t = b_.CreateFMul(x, f(km::kSqrtHalf));
    t = sel(gt(t, 4.0), f(4.0), t);
    t = sel(lt(t, -4.0), f(-4.0), t);
    llvm::Value* t2 = b_.CreateFMul(t, t);
    llvm::Value* erf =
        b_.CreateFDiv(b_.CreateFMul(t, horner(t2, km::kErfNum)), horner(t2, km::kErfDen));
    llvm::Value* main = b_.CreateFMul(b_.CreateFMul(f(0.5), x), b_.CreateFAdd(f(1.0), erf));
    // Below kGeluTail: 0.5 * x * erfc(-x / sqrt 2) (math_functions.h), x clamped to
    // [kGeluZero, kGeluTail] so that both branches stay finite.
    llvm::Value* xt = sel(lt(x, km::kGeluTail), x, f(km::kGeluTail));
    xt = sel(lt(xt, km::kGeluZero), f(km::kGeluZero), xt);
    llvm::Value* xbits = b_.CreateBitCast(xt, b_.getInt32Ty());
    llvm::Value* xh = b_.CreateBitCast(
        b_.CreateAnd(xbits, i(xbits, static_cast<int32_t>(km::kGeluHighMask))), fty_);
    llvm::Value* xl = b_.CreateFSub(xt, xh);
    llvm::Value* s = b_.CreateFDiv(f(1.0), b_.CreateFMul(xt, f(-km::kSqrtHalf)));
    llvm::Value* g = horner(b_.CreateFSub(s, f(km::kGeluTailCenter)), km::kGeluTailPoly);
    llvm::Value* d = b_.CreateFMul(b_.CreateFMul(f(-0.5), xl), b_.CreateFAdd(xt, xh));
    llvm::Value* m = b_.CreateFMul(b_.CreateFMul(b_.CreateFMul(b_.CreateFMul(f(0.5), xt), s), g),
                                   emit_exp_f32(b_, d));
    llvm::Value* tail =
        b_.CreateFMul(m, emit_exp_f32(b_, b_.CreateFMul(b_.CreateFMul(f(-0.5), xh), xh)));
    return sel(lt(x, km::kGeluZero), b_.CreateFMul(x, f(0.0)),
               sel(lt(x, km::kGeluTail), tail, main));
  }
  llvm::Value* minimum(llvm::Value* x, llvm::Value* y, bool fp) {
    if (!fp) return sel(b_.CreateICmpSLT(y, x), y, x);
    llvm::Value* r = sel(b_.CreateFCmpOLT(y, x), y, x);
    return sel(is_nan(x), x, sel(is_nan(y), y, r));
  }
  llvm::Value* maximum(llvm::Value* x, llvm::Value* y, bool fp) {
    if (!fp) return sel(b_.CreateICmpSLT(x, y), y, x);
    llvm::Value* r = sel(b_.CreateFCmpOLT(x, y), y, x);
    return sel(is_nan(x), x, sel(is_nan(y), y, r));
  }

  // int32 mod / floordiv: a zero divisor sets the flag and gives 0; MIN / -1 wraps.
  llvm::Value* int_floor_div_mod(llvm::Value* x, llvm::Value* y, bool mod, llvm::Value* flag) {
    llvm::Value* zero = b_.CreateICmpEQ(y, i(y, 0));
    llvm::Value* old = b_.CreateLoad(b_.getInt8Ty(), flag);
    b_.CreateStore(b_.CreateOr(old, b_.CreateZExt(zero, b_.getInt8Ty())), flag);
    llvm::Value* minus1 = b_.CreateICmpEQ(y, i(y, -1));
    llvm::Value* d = sel(b_.CreateOr(zero, minus1), i(y, 1), y);
    llvm::Value* rem = b_.CreateSRem(x, d);
    llvm::Value* neg_rem = b_.CreateICmpSLT(rem, i(y, 0));
    llvm::Value* neg_y = b_.CreateICmpSLT(y, i(y, 0));
    llvm::Value* adjust =
        b_.CreateAnd(b_.CreateICmpNE(rem, i(y, 0)), b_.CreateICmpNE(neg_y, neg_rem));
    llvm::Value* r;
    if (mod) {
      r = sel(adjust, b_.CreateAdd(rem, y), rem);
    } else {
      llvm::Value* q = b_.CreateSDiv(x, d);
      q = sel(minus1, b_.CreateNeg(x), q);
      r = b_.CreateSub(q, b_.CreateZExt(adjust, y->getType()));
    }
    return sel(zero, i(y, 0), r);
  }

  // Values are computed as i1 (bool), i32/i64, float (float32, float16, bfloat16) or double
  // (float64); a float16/bfloat16 result is rounded by the caller.
  llvm::Value* cast(llvm::Value* x, DType from, DType to) {
    if (from == to) return x;
    llvm::Type* to_type = compute_type(to);
    if (to == DType::kBool) {
      return is_floating(from) ? b_.CreateFCmpUNE(x, llvm::ConstantFP::get(x->getType(), 0.0))
                               : b_.CreateICmpNE(x, i(x, 0));
    }
    if (is_floating(to)) {
      if (from == DType::kBool) return b_.CreateUIToFP(x, to_type);
      if (is_integer(from)) return b_.CreateSIToFP(x, to_type);
      return b_.CreateFPCast(x, to_type);  // fpext, fptrunc, or nothing (float16 -> float32)
    }
    // To an integer.
    if (from == DType::kBool) return b_.CreateZExt(x, to_type);
    if (is_integer(from)) return b_.CreateSExtOrTrunc(x, to_type);
    // Truncation; nan and out-of-range values give the lowest value (the eager kernel's rule).
    // The select keeps fptosi's poison for those inputs out of the result.
    const double limit = to == DType::kInt64 ? 9223372036854775808.0 : 2147483648.0;
    llvm::Value* in_range =
        b_.CreateAnd(b_.CreateFCmpOGE(x, llvm::ConstantFP::get(x->getType(), -limit)),
                     b_.CreateFCmpOLT(x, llvm::ConstantFP::get(x->getType(), limit)));
    llvm::Value* lowest =
        llvm::ConstantInt::get(to_type,
                               to == DType::kInt64 ? std::numeric_limits<int64_t>::min()
                                                   : std::numeric_limits<int32_t>::min(),
                               /*IsSigned=*/true);
    return sel(in_range, b_.CreateFPToSI(x, to_type), lowest);
  }

  llvm::Type* compute_type(DType dtype) {
    switch (dtype) {
      case DType::kBool:
        return b_.getInt1Ty();
      case DType::kInt32:
        return b_.getInt32Ty();
      case DType::kInt64:
        return b_.getInt64Ty();
      case DType::kFloat64:
        return b_.getDoubleTy();
      default:
        return b_.getFloatTy();
    }
  }

 private:
  llvm::IRBuilderBase& b_;
  bool f64_;
  llvm::Type* fty_;
};

}  // namespace

llvm::Value* emit_libm_f64(llvm::IRBuilderBase& b, ir::OpKind kind,
                           const std::vector<llvm::Value*>& args) {
  Emitter e(b, /*f64=*/true);
  return kind == OpKind::kExp ? e.exp(args[0]) : e.log(args[0]);
}

absl::StatusOr<llvm::Value*> emit_math_op(llvm::IRBuilderBase& b, const ir::Op& op,
                                          const std::vector<llvm::Value*>& a,
                                          llvm::Value* div_flag) {
  const DType dt = op.operand(0)->type().dtype;
  const bool fp = is_floating(dt);
  Emitter e(b, dt == DType::kFloat64);
  auto unsupported = [&]() -> absl::Status {
    return absl::UnimplementedError(
        cat("'", op.mnemonic(), "' cannot be lowered inside an elementwise loop"));
  };
  switch (op.kind()) {
    case OpKind::kSign:
      if (fp) return e.sel(e.gt(a[0], 0.0), e.f(1.0), e.sel(e.lt(a[0], 0.0), e.f(-1.0), a[0]));
      return b.CreateSub(b.CreateZExt(b.CreateICmpSGT(a[0], e.i(a[0], 0)), a[0]->getType()),
                         b.CreateZExt(b.CreateICmpSLT(a[0], e.i(a[0], 0)), a[0]->getType()));
    case OpKind::kRelu:
      if (fp) return e.sel(e.lt(a[0], 0.0), e.f(0.0), a[0]);
      return e.sel(b.CreateICmpSLT(a[0], e.i(a[0], 0)), e.i(a[0], 0), a[0]);
    case OpKind::kRelu6:
      if (fp) return e.sel(e.lt(a[0], 0.0), e.f(0.0), e.sel(e.gt(a[0], 6.0), e.f(6.0), a[0]));
      return e.sel(b.CreateICmpSLT(a[0], e.i(a[0], 0)), e.i(a[0], 0),
                   e.sel(b.CreateICmpSGT(a[0], e.i(a[0], 6)), e.i(a[0], 6), a[0]));
    case OpKind::kRound:
      return fp ? e.unary(llvm::Intrinsic::roundeven, a[0]) : a[0];
    case OpKind::kSqrt:
      return e.unary(llvm::Intrinsic::sqrt, a[0]);
    case OpKind::kRsqrt:
      return b.CreateFDiv(e.f(1.0), e.unary(llvm::Intrinsic::sqrt, a[0]));
    case OpKind::kFloor:
      return e.unary(llvm::Intrinsic::floor, a[0]);
    case OpKind::kCeil:
      return e.unary(llvm::Intrinsic::ceil, a[0]);
    case OpKind::kExpm1:
      return e.expm1(a[0]);
    case OpKind::kLog1p:
      return e.log1p(a[0]);
    case OpKind::kSin:
      if (dt == DType::kFloat64) return e.libm<double, double>(&::sin, {a[0]});
      return emit_sin_f32(b, a[0]);
    case OpKind::kCos:
      if (dt == DType::kFloat64) return e.libm<double, double>(&::cos, {a[0]});
      return emit_cos_f32(b, a[0]);
    case OpKind::kTanh:
      return e.tanh(a[0]);
    case OpKind::kSigmoid:
      return e.sigmoid(a[0]);
    case OpKind::kSoftplus:
      return e.softplus(a[0]);
    case OpKind::kElu:
      return e.sel(e.lt(a[0], 0.0), e.expm1(a[0]), a[0]);
    case OpKind::kSelu: {
      // float32 rounds the constants as the eager float kernel does.
      const double scale =
          dt == DType::kFloat64 ? km::kSeluScale : static_cast<float>(km::kSeluScale);
      const double scale_alpha = dt == DType::kFloat64
                                     ? km::kSeluScale * km::kSeluAlpha
                                     : static_cast<float>(km::kSeluScale * km::kSeluAlpha);
      return e.sel(e.lt(a[0], 0.0), b.CreateFMul(e.f(scale_alpha), e.expm1(a[0])),
                   b.CreateFMul(e.f(scale), a[0]));
    }
    case OpKind::kGelu:
      return e.gelu(a[0]);
    case OpKind::kLeakyRelu: {
      const double alpha_attr = ir::attr_or<double>(op.attrs(), "alpha", 0.2);
      const double alpha = dt == DType::kFloat64 ? alpha_attr : static_cast<float>(alpha_attr);
      return e.sel(e.lt(a[0], 0.0), b.CreateFMul(e.f(alpha), a[0]), a[0]);
    }
    case OpKind::kPow:
      if (!fp) return unsupported();
      if (dt == DType::kFloat64) return e.libm<double, double, double>(&::pow, {a[0], a[1]});
      return emit_pow_f32(b, a[0], a[1]);
    case OpKind::kMinimum:
      return e.minimum(a[0], a[1], fp);
    case OpKind::kMaximum:
      return e.maximum(a[0], a[1], fp);
    case OpKind::kMod: {
      if (!fp) {
        if (!div_flag) return unsupported();
        return e.int_floor_div_mod(a[0], a[1], /*mod=*/true, div_flag);
      }
      llvm::Value* r = dt == DType::kFloat64 ? e.libm<double, double, double>(&::fmod, {a[0], a[1]})
                                             : emit_fmod_f32(b, a[0], a[1]);
      llvm::Value* adjust =
          b.CreateAnd(b.CreateFCmpUNE(r, e.f(0.0)), b.CreateXor(e.lt(a[1], 0.0), e.lt(r, 0.0)));
      return e.sel(adjust, b.CreateFAdd(r, a[1]), r);
    }
    case OpKind::kFloorDiv:
      if (!fp) {
        if (!div_flag) return unsupported();
        return e.int_floor_div_mod(a[0], a[1], /*mod=*/false, div_flag);
      }
      return e.unary(llvm::Intrinsic::floor, b.CreateFDiv(a[0], a[1]));
    case OpKind::kLessEqual:
      return fp ? b.CreateFCmpOLE(a[0], a[1]) : b.CreateICmpSLE(a[0], a[1]);
    case OpKind::kGreaterEqual:
      return fp ? b.CreateFCmpOGE(a[0], a[1]) : b.CreateICmpSGE(a[0], a[1]);
    case OpKind::kEqual:
      return fp ? b.CreateFCmpOEQ(a[0], a[1]) : b.CreateICmpEQ(a[0], a[1]);
    case OpKind::kNotEqual:
      return fp ? b.CreateFCmpUNE(a[0], a[1]) : b.CreateICmpNE(a[0], a[1]);
    case OpKind::kLogicalAnd:
      return b.CreateAnd(a[0], a[1]);
    case OpKind::kLogicalOr:
      return b.CreateOr(a[0], a[1]);
    case OpKind::kLogicalNot:
      return b.CreateNot(a[0]);
    case OpKind::kCast:
      return e.cast(a[0], dt, op.result()->type().dtype);
    default:
      return unsupported();
  }
}

}  // namespace kiln::compiler
