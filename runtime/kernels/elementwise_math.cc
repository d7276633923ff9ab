// kiln — eager kernels of the elementwise math ops: sign sqrt ... gelu, pow minimum maximum mod
// floordiv, the comparisons less_equal greater_equal equal not_equal, logical_and/or/not, cast.
//
// Float transcendentals run through Eigen's packet functions in fixed, aligned blocks (the tail
// is padded), like exp/log in elementwise.cc, so every element takes the same path: same input,
// same bits, wherever it sits. Formulas built from several functions (sigmoid, softplus, tanh,
// elu, selu, gelu) are the ones compiler/lower_elementwise_math.cc emits, so compiled results
// agree with eager ones to a few ulp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <type_traits>

#include "Eigen/Core"
#include "runtime/kernels/kernels_internal.h"
#include "runtime/kernels/math_functions.h"
#include "runtime/parallel.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

using ir::OpKind;

// ---- Iteration with NumPy broadcasting ----------------------------------------------------

// body(lo, hi) over [0, n): on the thread pool when n is large, cut at multiples of 64 elements
// (so kBlock-blocked functions see the same blocks); every element is computed the same way
// wherever the cuts fall.
template <typename Body>
void split_flat(int64_t n, Body&& body) {
  constexpr int64_t kParallelMin = int64_t{1} << 18;
  if (n < kParallelMin) {
    body(int64_t{0}, n);
    return;
  }
  kiln::internal::parallel_for(n, kParallelMin / 2, 64, body);
}

// The inner loop with each input either contiguous (stride 1) or one broadcast value
// (stride 0), each combination its own vectorizable loop.
template <typename R, typename A, typename B, typename F>
void row2(R* o, const A* x, bool cx, const B* y, bool cy, int64_t n, F f) {
  if (cx && cy) {
    KILN_IVDEP
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
  } else if (cx) {
    const B v = *y;
    KILN_IVDEP
    for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], v);
  } else if (cy) {
    const A v = *x;
    KILN_IVDEP
    for (int64_t i = 0; i < n; ++i) o[i] = f(v, y[i]);
  } else {
    const R r = f(*x, *y);
    std::fill(o, o + n, r);
  }
}

// out[i] = f(a[i'], b[i'']) over out's shape, a and b broadcast to it.
template <typename R, typename A, typename B, typename F>
absl::Status binary_loop(std::string_view op, const View& a, const View& b, const MutableView& out,
                         F f) {
  const Shape& os = *out.shape;
  const int rank = os.rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat(op, ": rank ", rank, " is above the supported ", kMaxRank));
  }
  const int64_t total = os.num_elements();
  if (total == 0) return absl::OkStatus();
  const auto* x = static_cast<const A*>(a.data);
  const auto* y = static_cast<const B*>(b.data);
  auto* o = static_cast<R*>(out.data);
  const int64_t na = a.shape->num_elements(), nb = b.shape->num_elements();
  if ((na == total || na == 1) && (nb == total || nb == 1) && a.shape->rank() <= rank &&
      b.shape->rank() <= rank) {
    split_flat(total, [&](int64_t lo, int64_t hi) {
      row2(o + lo, na != 1 ? x + lo : x, na != 1, nb != 1 ? y + lo : y, nb != 1, hi - lo, f);
    });
    return absl::OkStatus();
  }
  // General case: strides of each input over out's dims (0 where broadcast), odometer over all
  // but the innermost dim.
  int64_t st[2][kMaxRank];
  const Shape* shapes[2] = {a.shape, b.shape};
  for (int k = 0; k < 2; ++k) {
    const Shape& s = *shapes[k];
    if (s.rank() > rank) {
      return absl::InvalidArgumentError(
          cat(op, ": input #", k, " of shape ", s, " does not broadcast to ", os));
    }
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      const int id = d - (rank - s.rank());
      const int64_t dim = id >= 0 ? s[id] : 1;
      if (dim != os[d] && dim != 1) {
        return absl::InvalidArgumentError(
            cat(op, ": input #", k, " of shape ", s, " does not broadcast to ", os));
      }
      st[k][d] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  const int64_t n = os[rank - 1];
  const int64_t rows = total / n;
  int64_t idx[kMaxRank] = {};
  int64_t off[2] = {0, 0};
  for (int64_t r = 0; r < rows; ++r) {
    row2(o + r * n, x + off[0], st[0][rank - 1] != 0, y + off[1], st[1][rank - 1] != 0, n, f);
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < os[d]) {
        off[0] += st[0][d];
        off[1] += st[1][d];
        break;
      }
      idx[d] = 0;
      off[0] -= st[0][d] * (os[d] - 1);
      off[1] -= st[1][d] * (os[d] - 1);
    }
  }
  return absl::OkStatus();
}

template <typename R, typename T, typename F>
void unary_loop(const View& in, const MutableView& out, int64_t n, F f) {
  const auto* x = static_cast<const T*>(in.data);
  auto* y = static_cast<R*>(out.data);
  split_flat(n, [&](int64_t lo, int64_t hi) {
    KILN_IVDEP
    for (int64_t i = lo; i < hi; ++i) y[i] = f(x[i]);
  });
}

// A unary function over flat arrays, `run(x, y, count)`, split like split_flat; the first error
// any part returns.
template <typename T, typename Run>
absl::Status split_unary(const T* x, T* y, int64_t n, Run&& run) {
  absl::Status first;
  std::mutex mu;
  split_flat(n, [&](int64_t lo, int64_t hi) {
    absl::Status s = run(x + lo, y + lo, hi - lo);
    if (s.ok()) return;
    std::lock_guard<std::mutex> lock(mu);
    if (first.ok()) first = std::move(s);
  });
  return first;
}

// ---- Float functions in fixed blocks through Eigen's packet math ----------------------------

constexpr int64_t kBlock = 32;
using Block = Eigen::Array<float, kBlock, 1>;

template <typename F>
void blocked(const float* in, float* out, int64_t n, F f) {
  Block x, y;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i);
    if (m < kBlock) x.setZero();
    std::copy(in + i, in + i + m, x.data());
    y = f(x);
    std::copy(y.data(), y.data() + m, out + i);
  }
}

// Polynomials shared with the compiled code (math_functions.h), evaluated on a Block.
template <size_t N>
Block horner(const Block& x, const double (&c)[N]) {
  Block p = Block::Constant(static_cast<float>(c[0]));
  for (size_t k = 1; k < N; ++k) p = p * x + static_cast<float>(c[k]);
  return p;
}

Block expm1_block(const Block& x) {
  // Kahan: u = e^x; x if u == 1; -1 if u - 1 == -1; inf if u == inf; else (u - 1) * x / log u.
  const Block u = x.exp();
  const Block um1 = u - 1.0f;
  const Block r = um1 * (x / u.log());
  return (u == 1.0f).select(
      x, (um1 == -1.0f).select(Block::Constant(-1.0f), (u == math::kInf).select(u, r)));
}

Block log1p_block(const Block& x) {
  // log(1 + x) * x / ((1 + x) - 1) corrects the rounding of 1 + x.
  const Block x1 = x + 1.0f;
  const Block r = x * (x1.log() / (x1 - 1.0f));
  return (x1 == 1.0f || x1 == math::kInf).select(x, r);
}

Block tanh_block(const Block& x) {
  const Block ax = x.abs();
  const Block z = x * x;
  const Block small = horner(z, math::kTanhPoly) * z * x + x;
  const Block large = 1.0f - 2.0f / ((2.0f * ax).exp() + 1.0f);
  const Block signed_large = (x < 0.0f).select(-large, large);
  return (ax < static_cast<float>(math::kTanhSmall)).select(small, signed_large);
}

// exp with subnormal results: Eigen's float exp clamps its argument at -88.376 (so
// exp(-inf) = 2.9e-39); below -87, exp(x) = exp(x + 32) * e^-32 instead.
Block exp_tiny_block(const Block& x) {
  constexpr float kExpMinus32 = 1.26641655e-14f;
  return (x < -87.0f).select((x + 32.0f).exp() * kExpMinus32, x.exp());
}

Block sigmoid_block(const Block& x) {
  const Block e = exp_tiny_block(-x.abs());
  const Block r = 1.0f / (1.0f + e);
  return (x < 0.0f).select(e * r, r);
}

Block softplus_block(const Block& x) {
  const Block relu = (x > 0.0f).select(x, Block::Zero());
  return relu + log1p_block(exp_tiny_block(-x.abs()));
}

Block erf_block(const Block& a) {
  const Block x = a.min(4.0f).max(-4.0f);
  const Block x2 = x * x;
  return x * horner(x2, math::kErfNum) / horner(x2, math::kErfDen);
}

// The erfc tail of math_functions.h below kGeluTail (x clamped there so that both sides stay
// finite), 1 + erf above.
Block gelu_block(const Block& x) {
  const Block main = 0.5f * x * (1.0f + erf_block(x * static_cast<float>(math::kSqrtHalf)));
  const Block xt =
      x.min(static_cast<float>(math::kGeluTail)).max(static_cast<float>(math::kGeluZero));
  Block xh;
  for (int64_t i = 0; i < kBlock; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &xt[i], sizeof bits);
    bits &= math::kGeluHighMask;
    std::memcpy(&xh[i], &bits, sizeof bits);
  }
  const Block xl = xt - xh;
  const Block s = 1.0f / (xt * static_cast<float>(-math::kSqrtHalf));
  const Block g = horner(s - static_cast<float>(math::kGeluTailCenter), math::kGeluTailPoly);
  const Block m = (0.5f * xt * s) * g * (-0.5f * xl * (xt + xh)).exp();
  const Block tail = m * exp_tiny_block(-0.5f * xh * xh);
  return (x < static_cast<float>(math::kGeluZero))
      .select(x * 0.0f, (x < static_cast<float>(math::kGeluTail)).select(tail, main));
}

absl::Status run_unary_float(OpKind kind, const ir::Attrs& attrs, const float* x, float* y,
                             int64_t n) {
  const float zero = 0.0f;
  switch (kind) {
    case OpKind::kSqrt:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]);
      break;
    case OpKind::kRsqrt:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = 1.0f / std::sqrt(x[i]);
      break;
    case OpKind::kFloor:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::floor(x[i]);
      break;
    case OpKind::kCeil:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::ceil(x[i]);
      break;
    case OpKind::kRound:  // half to even (the default rounding mode)
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::nearbyint(x[i]);
      break;
    case OpKind::kSign:  // +-1, and +-0 / nan unchanged
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > zero ? 1.0f : (x[i] < zero ? -1.0f : x[i]);
      break;
    case OpKind::kRelu:  // nan propagates
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < zero ? zero : x[i];
      break;
    case OpKind::kRelu6:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < zero ? zero : (x[i] > 6.0f ? 6.0f : x[i]);
      break;
    case OpKind::kLeakyRelu: {
      const auto alpha = static_cast<float>(ir::attr_or<double>(attrs, "alpha", 0.2));
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] < zero ? alpha * x[i] : x[i];
      break;
    }
    case OpKind::kExpm1:
      blocked(x, y, n, expm1_block);
      break;
    case OpKind::kLog1p:
      blocked(x, y, n, log1p_block);
      break;
    case OpKind::kSin:
      blocked(x, y, n, [](const Block& v) -> Block { return v.sin(); });
      break;
    case OpKind::kCos:
      blocked(x, y, n, [](const Block& v) -> Block { return v.cos(); });
      break;
    case OpKind::kTanh:
      blocked(x, y, n, tanh_block);
      break;
    case OpKind::kSigmoid:
      blocked(x, y, n, sigmoid_block);
      break;
    case OpKind::kSoftplus:
      blocked(x, y, n, softplus_block);
      break;
    case OpKind::kElu:
      blocked(x, y, n,
              [](const Block& v) -> Block { return (v < 0.0f).select(expm1_block(v), v); });
      break;
    case OpKind::kSelu:
      blocked(x, y, n, [](const Block& v) -> Block {
        return (v < 0.0f).select(
            static_cast<float>(math::kSeluScale * math::kSeluAlpha) * expm1_block(v),
            static_cast<float>(math::kSeluScale) * v);
      });
      break;
    case OpKind::kGelu:
      blocked(x, y, n, gelu_block);
      break;
    default:
      return absl::InternalError(cat(ir::mnemonic(kind), ": not a float unary math op"));
  }
  return absl::OkStatus();
}

// float64 through libm, elementwise (the same formulas as the float32 blocks, each function
// accurate to float64).
absl::Status run_unary_double(OpKind kind, const ir::Attrs& attrs, const double* x, double* y,
                              int64_t n) {
  auto each = [&](auto f) {
    for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
  };
  constexpr double kSqrtHalf = math::kSqrtHalf;
  switch (kind) {
    case OpKind::kSqrt:
      each([](double v) { return std::sqrt(v); });
      break;
    case OpKind::kRsqrt:
      each([](double v) { return 1.0 / std::sqrt(v); });
      break;
    case OpKind::kFloor:
      each([](double v) { return std::floor(v); });
      break;
    case OpKind::kCeil:
      each([](double v) { return std::ceil(v); });
      break;
    case OpKind::kRound:
      each([](double v) { return std::nearbyint(v); });
      break;
    case OpKind::kSign:
      each([](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : v); });
      break;
    case OpKind::kRelu:
      each([](double v) { return v < 0 ? 0.0 : v; });
      break;
    case OpKind::kRelu6:
      each([](double v) { return v < 0 ? 0.0 : (v > 6.0 ? 6.0 : v); });
      break;
    case OpKind::kLeakyRelu: {
      const double alpha = ir::attr_or<double>(attrs, "alpha", 0.2);
      each([alpha](double v) { return v < 0 ? alpha * v : v; });
      break;
    }
    case OpKind::kExpm1:
      each([](double v) { return std::expm1(v); });
      break;
    case OpKind::kLog1p:
      each([](double v) { return std::log1p(v); });
      break;
    case OpKind::kSin:
      each([](double v) { return std::sin(v); });
      break;
    case OpKind::kCos:
      each([](double v) { return std::cos(v); });
      break;
    case OpKind::kTanh:
      each([](double v) { return std::tanh(v); });
      break;
    case OpKind::kSigmoid:
      each([](double v) { return 1.0 / (1.0 + std::exp(-v)); });
      break;
    case OpKind::kSoftplus:
      each([](double v) { return (v > 0 ? v : 0.0) + std::log1p(std::exp(-std::fabs(v))); });
      break;
    case OpKind::kElu:
      each([](double v) { return v < 0 ? std::expm1(v) : v; });
      break;
    case OpKind::kSelu:
      each([](double v) {
        return v < 0 ? math::kSeluScale * math::kSeluAlpha * std::expm1(v) : math::kSeluScale * v;
      });
      break;
    case OpKind::kGelu:
      each([=](double v) { return 0.5 * v * std::erfc(-v * kSqrtHalf); });
      break;
    default:
      return absl::InternalError(cat(ir::mnemonic(kind), ": not a float unary math op"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status run_unary_int(OpKind kind, const T* x, T* y, int64_t n) {
  switch (kind) {
    case OpKind::kSign:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] > 0) - (x[i] < 0);
      break;
    case OpKind::kRelu:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::max<T>(x[i], 0);
      break;
    case OpKind::kRelu6:
      KILN_IVDEP
      for (int64_t i = 0; i < n; ++i) y[i] = std::min<T>(std::max<T>(x[i], 0), 6);
      break;
    case OpKind::kRound:
      std::copy(x, x + n, y);
      break;
    default:
      return absl::InternalError(cat(ir::mnemonic(kind), ": not an integer unary math op"));
  }
  return absl::OkStatus();
}

// ---- Binary ---------------------------------------------------------------------------------

template <typename T>
absl::Status run_binary_math(OpKind kind, std::string_view op, const View& a, const View& b,
                             const MutableView& out) {
  constexpr bool kFloat = std::is_floating_point_v<T>;
  switch (kind) {
    case OpKind::kMinimum:
      return binary_loop<T, T, T>(op, a, b, out, [](T x, T y) { return math::minimum(x, y); });
    case OpKind::kMaximum:
      return binary_loop<T, T, T>(op, a, b, out, [](T x, T y) { return math::maximum(x, y); });
    case OpKind::kLessEqual:
      return binary_loop<uint8_t, T, T>(op, a, b, out, [](T x, T y) -> uint8_t { return x <= y; });
    case OpKind::kGreaterEqual:
      return binary_loop<uint8_t, T, T>(op, a, b, out, [](T x, T y) -> uint8_t { return x >= y; });
    case OpKind::kEqual:
      return binary_loop<uint8_t, T, T>(op, a, b, out, [](T x, T y) -> uint8_t { return x == y; });
    case OpKind::kNotEqual:
      return binary_loop<uint8_t, T, T>(op, a, b, out, [](T x, T y) -> uint8_t { return x != y; });
    default:
      break;
  }
  if constexpr (std::is_same_v<T, bool>) {
    return absl::InternalError(cat(op, ": not a bool binary op"));
  } else {
    if constexpr (!kFloat) {
      if (kind == OpKind::kMod || kind == OpKind::kFloorDiv) {
        KILN_RETURN_IF_ERROR(int_divisor_check(op, b));
      }
    }
    switch (kind) {
      case OpKind::kMod:
        return binary_loop<T, T, T>(op, a, b, out, [](T x, T y) { return math::floor_mod(x, y); });
      case OpKind::kFloorDiv:
        return binary_loop<T, T, T>(op, a, b, out, [](T x, T y) { return math::floor_div(x, y); });
      case OpKind::kPow:
        if constexpr (kFloat) {
          return binary_loop<T, T, T>(op, a, b, out, [](T x, T y) { return std::pow(x, y); });
        }
        break;
      default:
        break;
    }
    return absl::InternalError(cat(op, ": not a binary math op for ", dtype_name(a.dtype)));
  }
}

// ---- Cast -----------------------------------------------------------------------------------

template <typename To, typename From>
To convert(From x) {
  if constexpr (std::is_same_v<To, bool>) {
    return x != From(0);
  } else if constexpr (std::is_integral_v<To> && std::is_floating_point_v<From>) {
    // Truncation toward zero; nan and out-of-range values give the lowest value (x86's
    // cvttss2si, i.e. what TF produces on CPU).
    constexpr From lo = static_cast<From>(std::numeric_limits<To>::min());
    return x >= lo && x < -lo ? static_cast<To>(x) : std::numeric_limits<To>::min();
  } else {
    return static_cast<To>(x);
  }
}

absl::Status run_cast(const View& in, const MutableView& out) {
  const int64_t n = out.shape->num_elements();
  visit_dtype(in.dtype, [&]<typename From>(From) {
    visit_dtype(out.dtype, [&]<typename To>(To) {
      unary_loop<To, From>(in, out, n, [](From x) { return convert<To>(x); });
    });
  });
  return absl::OkStatus();
}

}  // namespace

bool is_math_op(OpKind kind) {
  switch (ir::op_info(kind).cls) {
    case ir::OpClass::kEquality:
    case ir::OpClass::kLogical:
    case ir::OpClass::kCast:
      return true;
    default:
      break;
  }
  // sign ... greater_equal: contiguous rows of the elementwise-math section of ir/ops.def.
  return kind >= OpKind::kSign && kind <= OpKind::kGreaterEqual;
}

absl::Status run_math(OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                      const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  auto typed = ir::infer_type(
      kind,
      [&] {
        std::vector<ir::Type> t;
        for (const View& v : in) t.push_back({v.dtype, *v.shape});
        return t;
      }(),
      attrs);
  if (!typed.ok()) return typed.status();
  if (typed->dtype != out.dtype || !(typed->shape == *out.shape)) {
    return absl::InvalidArgumentError(cat(op, ": output was expected to be a ", *typed));
  }
  const ir::OpClass cls = ir::op_info(kind).cls;
  const int64_t n = out.shape->num_elements();
  if (n == 0) return absl::OkStatus();
  if (in.size() == 1 && in[0].shape->num_elements() != n) {
    return absl::InvalidArgumentError(cat(op, ": input and output sizes differ"));
  }
  switch (cls) {
    case ir::OpClass::kCast:
      return run_cast(in[0], out);
    case ir::OpClass::kLogical:
      if (kind == OpKind::kLogicalNot) {
        unary_loop<uint8_t, uint8_t>(in[0], out, n, [](uint8_t x) -> uint8_t { return !x; });
        return absl::OkStatus();
      }
      if (kind == OpKind::kLogicalAnd) {
        return binary_loop<uint8_t, uint8_t, uint8_t>(
            op, in[0], in[1], out, [](uint8_t x, uint8_t y) -> uint8_t { return x & y; });
      }
      return binary_loop<uint8_t, uint8_t, uint8_t>(
          op, in[0], in[1], out, [](uint8_t x, uint8_t y) -> uint8_t { return x | y; });
    case ir::OpClass::kUnary:
    case ir::OpClass::kUnaryFloat:
      if (in[0].dtype == DType::kFloat32) {
        return split_unary(static_cast<const float*>(in[0].data), static_cast<float*>(out.data), n,
                           [&](const float* x, float* y, int64_t count) {
                             return run_unary_float(kind, attrs, x, y, count);
                           });
      }
      if (in[0].dtype == DType::kFloat64) {
        return run_unary_double(kind, attrs, static_cast<const double*>(in[0].data),
                                static_cast<double*>(out.data), n);
      }
      if (in[0].dtype == DType::kInt32) {
        return split_unary(static_cast<const int32_t*>(in[0].data), static_cast<int32_t*>(out.data),
                           n, [&](const int32_t* x, int32_t* y, int64_t count) {
                             return run_unary_int(kind, x, y, count);
                           });
      }
      if (in[0].dtype == DType::kInt64) {
        return run_unary_int(kind, static_cast<const int64_t*>(in[0].data),
                             static_cast<int64_t*>(out.data), n);
      }
      break;
    default:
      return visit_dtype(in[0].dtype, [&]<typename T>(T) {
        return run_binary_math<T>(kind, op, in[0], in[1], out);
      });
  }
  return unsupported_dtype(op, 0, in[0].dtype, ir::kNumericDTypes);
}

}  // namespace kiln::kernels::internal
