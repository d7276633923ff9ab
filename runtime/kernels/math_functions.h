// kiln — scalar definitions and constants of the elementwise math ops, shared by the eager
// kernels (elementwise_math.cc) and the lowering (compiler/lower_elementwise_math.cc) so both
// compute the same formulas. No Eigen, no LLVM.
#pragma once

#include <cmath>
#include <limits>
#include <type_traits>

namespace kiln::kernels::math {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

// tanh(x) = x + x^3 * P(x^2) for |x| < kTanhSmall (Cephes tanhf), else
// sign(x) * (1 - 2 / (exp(2|x|) + 1)).
inline constexpr double kTanhSmall = 0.625;
inline constexpr double kTanhPoly[] = {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2,
                                       1.33314422036E-1, -3.33332819422E-1};

// erf(x) = x * N(x^2) / D(x^2) on x clamped to [-4, 4]: the float rational approximation also
// used by Eigen and XLA (coefficients highest power first).
inline constexpr double kErfNum[] = {
    -2.72614225801306e-10, 2.77068142495902e-08,  -2.10102402082508e-06, -5.69250639462346e-05,
    -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02};
inline constexpr double kErfDen[] = {-1.45660718464996e-05, -2.13374055278905e-04,
                                     -1.68282697438203e-03, -7.37332916720468e-03,
                                     -1.42647390514189e-02};
inline constexpr double kSqrtHalf = 0.70710678118654752440;

// gelu(x) = 0.5 * x * (1 + erf(x / sqrt 2)) for x >= kGeluTail. Below it 1 + erf cancels, so
// gelu(x) = 0.5 * x * erfc(z) with z = -x / sqrt 2 and erfc(z) = exp(-z^2) * s * G(s - c),
// s = 1 / z, c = kGeluTailCenter: G fits z * exp(z^2) * erfc(z) for z in [1, 10.5] (relative
// error 4e-8 before float rounding; coefficients highest power first). exp(-z^2) is computed
// as exp(-xh^2 / 2) * exp(-xl * (x + xh) / 2) with x = xh + xl, xh = x with the low 12 bits
// of its float32 encoding cleared (12 significant bits, so xh^2 / 2 is exact): no rounding of
// z^2 is amplified by the steep exponential. Below kGeluZero the result is x * 0: -0, and
// nan for -inf (as the erf form gives).
inline constexpr double kGeluTail = -1.5;
inline constexpr double kGeluZero = -14.5;
inline constexpr double kGeluTailCenter = 0.547619045;
inline constexpr double kGeluTailPoly[] = {1.1740084918e-01,  -4.8741196529e-02, -9.3758002054e-02,
                                           1.0654322755e-01,  -6.2654253288e-02, 1.0869692634e-02,
                                           4.9721178457e-02,  -9.7519982548e-02, 9.9283345656e-02,
                                           -2.1071187022e-02, -1.6993645950e-01, 5.0275815634e-01};
inline constexpr unsigned kGeluHighMask = 0xfffff000u;

// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) for x < 0, with e = exp(-|x|): no
// overflow of exp(-x), so results down to the subnormals keep their accuracy.

// selu(x) = scale * (x > 0 ? x : alpha * expm1(x)).
inline constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
inline constexpr double kSeluScale = 1.0507009873554804934193349852946;

// minimum/maximum propagate nan (as TF's); otherwise std::min/std::max.
template <typename T>
T minimum(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (x != x) return x;
    if (y != y) return y;
  }
  return y < x ? y : x;
}
template <typename T>
T maximum(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    if (x != x) return x;
    if (y != y) return y;
  }
  return x < y ? y : x;
}

// floormod: the result has the divisor's sign (Python's %). Integer y != 0 (checked before).
template <typename T>
T floor_mod(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    const T r = std::fmod(x, y);
    return r != 0 && ((y < 0) != (r < 0)) ? r + y : r;
  } else {
    const T r = y == T(-1) ? T(0) : x % y;
    return r != 0 && ((y < 0) != (r < 0)) ? r + y : r;
  }
}

// floordiv: floor(x / y) for floats (as TF); integers round toward -inf, MIN / -1 wraps.
template <typename T>
T floor_div(T x, T y) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::floor(x / y);
  } else {
    using U = std::make_unsigned_t<T>;
    if (y == T(-1)) return static_cast<T>(U(0) - static_cast<U>(x));
    const T q = x / y;
    return (x % y != 0 && ((x < 0) != (y < 0))) ? q - 1 : q;
  }
}

}  // namespace kiln::kernels::math
