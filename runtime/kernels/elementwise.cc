// kiln — elementwise eager kernels (unary, binary, compare, select, broadcast) with NumPy
// broadcasting: inputs are read through per-input strides (0 on broadcast dims), dims that are
// contiguous for every input are merged, and the output is walked with an odometer over all but
// the innermost dim and a tight, vectorizable inner loop specialized per input contiguity.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "Eigen/Core"
#include "runtime/kernels/kernels_internal.h"
#include "runtime/parallel.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::kernels::internal {
namespace {

using ir::OpKind;

constexpr int kMaxInputs = 3;

// The broadcast iteration space after merging: `rank` >= 1 dims, each input's element strides.
struct Plan {
  int rank = 0;
  int64_t total = 0;
  int64_t dims[kMaxRank];
  int64_t strides[kMaxInputs][kMaxRank];
};

absl::Status make_plan(std::string_view op, const Shape& out, std::span<const Shape* const> ins,
                       Plan& plan) {
  const int rank = out.rank();
  if (rank > kMaxRank) {
    return absl::UnimplementedError(cat(op, ": rank ", rank, " is above the supported ", kMaxRank));
  }
  plan.total = out.num_elements();
  // Every input of the output's shape (the common case): one flat, contiguous dim.
  if (std::all_of(ins.begin(), ins.end(), [&](const Shape* s) { return *s == out; })) {
    plan.rank = 1;
    plan.dims[0] = plan.total;
    for (size_t k = 0; k < ins.size(); ++k) plan.strides[k][0] = 1;
    return absl::OkStatus();
  }
  // Contiguous strides of each input, right-aligned to the output; 0 where it broadcasts.
  int64_t in_strides[kMaxInputs][kMaxRank];
  for (size_t k = 0; k < ins.size(); ++k) {
    const Shape& s = *ins[k];
    if (s.rank() > rank) {
      return absl::InvalidArgumentError(
          cat(op, ": input #", k, " of shape ", s, " does not broadcast to ", out));
    }
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; --d) {
      const int id = d - (rank - s.rank());
      const int64_t dim = id >= 0 ? s[id] : 1;
      if (dim != out[d] && dim != 1) {
        return absl::InvalidArgumentError(
            cat(op, ": input #", k, " of shape ", s, " does not broadcast to ", out));
      }
      in_strides[k][d] = dim == 1 ? 0 : stride;
      stride *= dim;
    }
  }
  // Drop size-1 dims; merge a dim into the previous one when every input is contiguous across
  // the pair (this also merges runs of dims along which an input is broadcast).
  plan.rank = 0;
  for (int d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    if (plan.rank > 0) {
      const int p = plan.rank - 1;
      bool mergeable = true;
      for (size_t k = 0; k < ins.size(); ++k) {
        mergeable &= plan.strides[k][p] == in_strides[k][d] * out[d];
      }
      if (mergeable) {
        plan.dims[p] *= out[d];
        for (size_t k = 0; k < ins.size(); ++k) plan.strides[k][p] = in_strides[k][d];
        continue;
      }
    }
    plan.dims[plan.rank] = out[d];
    for (size_t k = 0; k < ins.size(); ++k) plan.strides[k][plan.rank] = in_strides[k][d];
    ++plan.rank;
  }
  if (plan.rank == 0) {  // every dim is 1: a single element
    plan.rank = 1;
    plan.dims[0] = 1;
    for (size_t k = 0; k < ins.size(); ++k) plan.strides[k][0] = 0;
  }
  return absl::OkStatus();
}

// Calls row(out_offset, in_offsets, n) for every innermost row of the plan, in output order.
// (One call site, so the row loop is inlined and vectorized once.)
template <int N, typename RowFn>
void for_each_row(const Plan& p, RowFn&& row) {
  const int inner = p.rank - 1;
  const int64_t n = p.dims[inner];
  const int64_t rows = p.total / n;
  int64_t off[N] = {};
  int64_t idx[kMaxRank] = {};
  int64_t out_off = 0;
  for (int64_t r = 0;;) {
    row(out_off, off, n);
    if (++r == rows) break;
    out_off += n;
    for (int d = inner - 1; d >= 0; --d) {
      if (++idx[d] < p.dims[d]) {
        for (int k = 0; k < N; ++k) off[k] += p.strides[k][d];
        break;
      }
      idx[d] = 0;
      for (int k = 0; k < N; ++k) off[k] -= p.strides[k][d] * (p.dims[d] - 1);
    }
  }
}

// An operand of the inner loop: a contiguous row, or one broadcast value read once.
template <typename T, bool kContiguous>
struct Arg;
template <typename T>
struct Arg<T, true> {
  const T* p;
  T operator[](int64_t i) const { return p[i]; }
};
template <typename T>
struct Arg<T, false> {
  T v;
  T operator[](int64_t) const { return v; }
};
template <bool kContiguous, typename T>
Arg<T, kContiguous> make_arg(const T* p) {
  if constexpr (kContiguous) {
    return {p};
  } else {
    return {*p};
  }
}

template <typename R, typename F, typename... A>
inline void row_loop(R* o, int64_t n, F f, A... a) {
  KILN_IVDEP
  for (int64_t i = 0; i < n; ++i) o[i] = f(a[i]...);
}

// Turns runtime contiguity flags into template arguments: fn.template operator()<flags...>().
template <int N, bool... Bs, typename Fn>
void with_contiguity(const bool* flags, Fn&& fn) {
  if constexpr (sizeof...(Bs) == N) {
    fn.template operator()<Bs...>();
  } else if (flags[sizeof...(Bs)]) {
    with_contiguity<N, Bs..., true>(flags, fn);
  } else {
    with_contiguity<N, Bs..., false>(flags, fn);
  }
}

// out[i] = f(in[i]...) over the plan, one inner-loop instantiation per contiguity pattern.
template <typename R, typename F, typename... T>
void run_rows(const Plan& p, R* out, F f, const T*... in) {
  constexpr int N = sizeof...(T);
  bool contiguous[N];
  for (int k = 0; k < N; ++k) contiguous[k] = p.strides[k][p.rank - 1] != 0;
  with_contiguity<N>(
      contiguous, [&]<bool... C>() {
        for_each_row<N>(p, [&](int64_t o, const int64_t* off, int64_t n) {
          [&]<size_t... I>(std::index_sequence<I...>) {
            row_loop(out + o, n, f, make_arg<C>(in + off[I])...);
          }
          (std::make_index_sequence<N>{});
        });
      });
}

// Short rows ([rows, n], n small, e.g. [N, 4] + [4]) would spend their time in the odometer.
// When every input is contiguous, a repeated row or a scalar, q consecutive rows are one row of
// q * n elements (a repeated row is materialized q times), so the inner loop stays long.
constexpr int64_t kWideRow = 64;

template <typename R, typename F, typename... T>
bool run_widened(const Plan& p, R* out, F f, const T*... in) {
  constexpr int N = sizeof...(T);
  if (p.rank != 2 || p.dims[1] >= kWideRow / 2) return false;
  const int64_t n = p.dims[1], rows = p.dims[0];
  const int64_t q = (kWideRow + n - 1) / n, blocks = rows / q;
  if (blocks < 2) return false;
  for (int k = 0; k < N; ++k) {
    if (p.strides[k][0] != 0 && !(p.strides[k][0] == n && p.strides[k][1] == 1)) return false;
  }
  Plan wide;
  wide.rank = 2;
  wide.dims[0] = blocks;
  wide.dims[1] = q * n;
  wide.total = blocks * q * n;
  auto widen = [&]<typename U>(int k, const U* ptr, U* buf) -> const U* {
    const bool repeated_row = p.strides[k][0] == 0 && p.strides[k][1] == 1;
    wide.strides[k][0] = p.strides[k][0] == 0 ? 0 : q * n;
    wide.strides[k][1] = p.strides[k][1];
    if (!repeated_row) return ptr;
    for (int64_t i = 0; i < q * n; ++i) buf[i] = ptr[i % n];
    return buf;
  };
  std::tuple<std::array<T, 2 * kWideRow>...> buffers;
  [&]<size_t... I>(std::index_sequence<I...>) {
    const std::tuple<const T*...> wide_in{widen(I, in, std::get<I>(buffers).data())...};
    run_rows(wide, out, f, std::get<I>(wide_in)...);
    // The rows - blocks * q rows left over, as they are.
    const int64_t done = blocks * q;
    if (done == rows) return;
    Plan tail = p;
    tail.dims[0] = rows - done;
    tail.total = tail.dims[0] * n;
    run_rows(tail, out + done * n, f, (in + p.strides[I][0] * done)...);
  }
  (std::make_index_sequence<N>{});
  return true;
}

// y[i] = f(x[i * inner]...) for the 8-byte dtypes' broadcast rows: left scalar (GCC's vectorizer
// would otherwise try gathers for every op and input pattern, doubling the file's compile time).
#if defined(__GNUC__) && !defined(__clang__)
#define KILN_SCALAR_LOOP __attribute__((noinline, optimize("no-tree-vectorize")))
#else
#define KILN_SCALAR_LOOP __attribute__((noinline))
#endif
template <size_t... I, typename R, typename F, typename... T>
KILN_SCALAR_LOOP void strided_row(R* y, int64_t n, F f, const int64_t* inner, const T*... x) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i * inner[I]]...);
}

template <typename R, typename F, typename... T>
void run_plan_serial(const Plan& p, R* out, F f, const T*... in) {
  if constexpr (sizeof(R) == 8 || ((sizeof(T) == 8) || ...)) {
    // float64 and int64: a contiguous (vectorized) loop and a scalar one with the innermost
    // strides read at run time (no per-contiguity or widened instantiations, which would double
    // this file's compile time for the less common 8-byte dtypes).
    constexpr int N = sizeof...(T);
    int64_t inner[N];
    bool contiguous = true;
    for (int k = 0; k < N; ++k) {
      inner[k] = p.strides[k][p.rank - 1];
      contiguous &= inner[k] == 1;
    }
    for_each_row<N>(p, [&](int64_t o, const int64_t* off, int64_t n) {
      [&]<size_t... I>(std::index_sequence<I...>) {
        R* y = out + o;
        if (contiguous) {
          row_loop(y, n, f, make_arg<true>(in + off[I])...);
        } else {
          strided_row<I...>(y, n, f, inner, in + off[I]...);
        }
      }
      (std::make_index_sequence<N>{});
    });
  } else {
    bool flat = p.rank == 1;  // one contiguous row: no odometer
    for (int k = 0; k < static_cast<int>(sizeof...(T)) && flat; ++k) flat = p.strides[k][0] == 1;
    if (flat) {
      row_loop(out, p.total, f, Arg<T, true>{in}...);
      return;
    }
    if (run_widened(p, out, f, in...)) return;
    run_rows(p, out, f, in...);
  }
}

// Plans of at least this many elements are split along their outer dim over the thread pool
// (each element is computed the same way wherever the cut falls); smaller ones run on the
// caller, which never pays a wakeup.
constexpr int64_t kParallelMin = int64_t{1} << 18;

// Calls part(sub_plan, out_offset, in_offsets) on slices of the plan's outer dim that together
// cover it, in parallel when the plan is large. Flat plans are cut at multiples of 64 elements.
template <int N, typename PartFn>
void split_plan(const Plan& p, PartFn&& part) {
  const int64_t outer = p.dims[0];
  const int64_t inner = p.total / outer;
  if (p.total < kParallelMin || outer < 2) {
    const int64_t zero[N] = {};
    part(p, int64_t{0}, zero);
    return;
  }
  const int64_t grain = std::max<int64_t>(1, kParallelMin / 2 / inner);
  kiln::internal::parallel_for(outer, grain, p.rank == 1 ? 64 : 1, [&](int64_t lo, int64_t hi) {
    Plan sub = p;
    sub.dims[0] = hi - lo;
    sub.total = (hi - lo) * inner;
    int64_t off[N];
    for (int k = 0; k < N; ++k) off[k] = p.strides[k][0] * lo;
    part(sub, lo * inner, off);
  });
}

template <typename R, typename F, typename... T>
void run_plan(const Plan& p, R* out, F f, const T*... in) {
  split_plan<sizeof...(T)>(p, [&](const Plan& sub, int64_t o, const int64_t* off) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      run_plan_serial(sub, out + o, f, (in + off[I])...);
    }
    (std::make_index_sequence<sizeof...(T)>{});
  });
}

// ---- Scalar functions. Integer arithmetic wraps (computed unsigned), as TF's does. ----------

struct Neg {
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T>) {
      return T(0) - x;
    } else {
      return -x;
    }
  }
};
struct Abs {
  template <typename T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::fabs(x);
    } else {
      using U = std::make_unsigned_t<T>;
      return x < 0 ? static_cast<T>(U(0) - static_cast<U>(x)) : x;
    }
  }
};
struct Square {
  template <typename T>
  T operator()(T x) const {
    return x * x;
  }
};
struct Add {
  template <typename T>
  T operator()(T a, T b) const {
    return a + b;
  }
};
struct Sub {
  template <typename T>
  T operator()(T a, T b) const {
    return a - b;
  }
};
struct Mul {
  template <typename T>
  T operator()(T a, T b) const {
    return a * b;
  }
};
struct FloatDiv {
  template <typename T>
  T operator()(T a, T b) const {
    return a / b;
  }
};
// Truncating int32 division through double, which is exact for int32 operands and vectorizes
// (x86 has no SIMD integer division). b != 0 is checked beforehand; INT_MIN / -1 wraps.
// int64 divides directly (MIN / -1 wraps too).
struct IntDiv {
  int32_t operator()(int32_t a, int32_t b) const {
    double q = static_cast<double>(a) / static_cast<double>(b);
    q = q > 2147483647.0 ? -2147483648.0 : q;  // only INT_MIN / -1 = 2^31
    return static_cast<int32_t>(q);
  }
  int64_t operator()(int64_t a, int64_t b) const {
    return b == -1 ? static_cast<int64_t>(uint64_t{0} - static_cast<uint64_t>(a)) : a / b;
  }
};
struct Less {
  template <typename T>
  uint8_t operator()(T a, T b) const {
    return a < b;
  }
};
struct Greater {
  template <typename T>
  uint8_t operator()(T a, T b) const {
    return a > b;
  }
};
struct Select {
  template <typename T>
  T operator()(uint8_t c, T a, T b) const {
    return c != 0 ? a : b;
  }
};
struct Identity {
  template <typename T>
  T operator()(T x) const {
    return x;
  }
};

// An unsigned integer type of `bytes` bytes, for kernels that only move elements.
template <typename F>
void visit_bits(int64_t bytes, F&& f) {
  switch (bytes) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    default:
      return f(uint64_t{});
  }
}

template <typename T>
const T* in_ptr(const View& v) {
  return static_cast<const T*>(v.data);
}
template <typename T>
T* out_ptr(const MutableView& v) {
  return static_cast<T*>(v.data);
}

// exp/log on float32 through Eigen's vectorized array functions. Eigen's own traversal of a
// Map peels scalar iterations until the output is aligned, and its scalar path (std::exp)
// rounds differently from its packet path, so results would depend on buffer addresses. Here
// every element goes through the packet path in fixed, aligned blocks — the tail is padded —
// which makes the kernel deterministic: same inputs, same bits, wherever they sit.
template <bool kExp>
void exp_or_log_block(const float* in, float* out, int64_t n) {
  constexpr int64_t kBlock = 32;
  using Block = Eigen::Array<float, kBlock, 1>;
  Block x, y;
  for (int64_t i = 0; i < n; i += kBlock) {
    const int64_t m = std::min(kBlock, n - i);
    if (m < kBlock) x.setOnes();
    std::copy(in + i, in + i + m, x.data());
    if constexpr (kExp) {
      y = x.exp();
      // Eigen's packet exp clamps its argument near -88.4, so it never reaches the denormal
      // range or 0 (exp(-inf) would be ~1e-38). Those inputs take libm; the choice depends only
      // on the value, so results stay deterministic.
      for (int64_t j = 0; j < m; ++j) {
        if (x[j] < -87.0f) y[j] = std::exp(x[j]);
      }
    } else {
      y = x.log();
      // Eigen's packet log raises subnormal inputs to the smallest normal float (so every
      // 0 < x < 2^-126 gave -87.34); those take libm, as the compiled log scales them.
      for (int64_t j = 0; j < m; ++j) {
        if (x[j] > 0.0f && x[j] < std::numeric_limits<float>::min()) y[j] = std::log(x[j]);
      }
    }
    std::copy(y.data(), y.data() + m, out + i);
  }
}

template <bool kExp>
void exp_or_log(const Plan& plan, const float* in, float* out) {
  if (plan.rank == 1 && plan.strides[0][0] == 1) {
    split_plan<1>(plan, [&](const Plan& sub, int64_t o, const int64_t* off) {
      exp_or_log_block<kExp>(in + off[0], out + o, sub.total);
    });
    return;
  }
  run_plan(
      plan, out,
      [](float x) {
        float y;
        exp_or_log_block<kExp>(&x, &y, 1);
        return y;
      },
      in);
}

absl::Status check_out_dtype(std::string_view op, DType want, DType got) {
  if (want == got) return absl::OkStatus();
  return absl::InvalidArgumentError(cat(op, ": output was expected to be a ", dtype_name(want),
                                        " tensor but is a ", dtype_name(got), " tensor"));
}

}  // namespace

absl::Status run_unary(OpKind kind, const View& in, const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  const bool float_only = kind == OpKind::kExp || kind == OpKind::kLog;
  if (in.dtype == DType::kBool || (float_only && !is_floating(in.dtype))) {
    return unsupported_dtype(op, 0, in.dtype, float_only ? ir::kFloatDTypes : ir::kNumericDTypes);
  }
  KILN_RETURN_IF_ERROR(check_out_dtype(op, in.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {in.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();
  if (in.dtype == DType::kFloat32 && float_only) {
    const float* x = in_ptr<float>(in);
    float* y = out_ptr<float>(out);
    if (kind == OpKind::kExp) {
      exp_or_log<true>(plan, x, y);
    } else {
      exp_or_log<false>(plan, x, y);
    }
    return absl::OkStatus();
  }
  if (in.dtype == DType::kFloat64 && float_only) {  // libm: correctly rounded to within an ulp
    const double* x = in_ptr<double>(in);
    double* y = out_ptr<double>(out);
    if (kind == OpKind::kExp) {
      run_plan(
          plan, y, [](double v) { return std::exp(v); }, x);
    } else {
      run_plan(
          plan, y, [](double v) { return std::log(v); }, x);
    }
    return absl::OkStatus();
  }
  absl::Status status = absl::OkStatus();
  visit_dtype(in.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      using U = WrapT<T>;
      switch (kind) {
        case OpKind::kNeg:
          run_plan(plan, out_ptr<U>(out), Neg{}, in_ptr<U>(in));
          break;
        case OpKind::kAbs:
          run_plan(plan, out_ptr<T>(out), Abs{}, in_ptr<T>(in));
          break;
        case OpKind::kSquare:
          run_plan(plan, out_ptr<U>(out), Square{}, in_ptr<U>(in));
          break;
        default:
          status = absl::InternalError(cat(op, ": not a unary op"));
      }
    }
  });
  return status;
}

absl::Status run_binary(OpKind kind, const View& a, const View& b, const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  if (b.dtype != a.dtype) return dtype_error(op, 1, a.dtype, b.dtype);
  if (a.dtype == DType::kBool) return unsupported_dtype(op, 0, a.dtype, ir::kNumericDTypes);
  const bool compare = kind == OpKind::kLess || kind == OpKind::kGreater;
  KILN_RETURN_IF_ERROR(check_out_dtype(op, compare ? DType::kBool : a.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {a.shape, b.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();

  if (kind == OpKind::kDiv && is_integer(a.dtype)) {
    KILN_RETURN_IF_ERROR(int_divisor_check(op, b));
  }
  absl::Status status = absl::OkStatus();
  visit_dtype(a.dtype, [&]<typename T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      using U = WrapT<T>;  // + - * wrap for integers
      const T* x = in_ptr<T>(a);
      const T* y = in_ptr<T>(b);
      const U* ux = in_ptr<U>(a);
      const U* uy = in_ptr<U>(b);
      switch (kind) {
        case OpKind::kAdd:
          run_plan(plan, out_ptr<U>(out), Add{}, ux, uy);
          break;
        case OpKind::kSub:
          run_plan(plan, out_ptr<U>(out), Sub{}, ux, uy);
          break;
        case OpKind::kMul:
          run_plan(plan, out_ptr<U>(out), Mul{}, ux, uy);
          break;
        case OpKind::kDiv:
          if constexpr (std::is_floating_point_v<T>) {
            run_plan(plan, out_ptr<T>(out), FloatDiv{}, x, y);
          } else {
            run_plan(plan, out_ptr<T>(out), IntDiv{}, x, y);
          }
          break;
        case OpKind::kLess:
          run_plan(plan, out_ptr<uint8_t>(out), Less{}, x, y);
          break;
        case OpKind::kGreater:
          run_plan(plan, out_ptr<uint8_t>(out), Greater{}, x, y);
          break;
        default:
          status = absl::InternalError(cat(op, ": not a binary op"));
      }
    }
  });
  return status;
}

absl::Status int_divisor_check(std::string_view op, const View& b) {
  // Every element of b is used when the output is non-empty, so scanning b suffices.
  const int64_t nb = b.shape->num_elements();
  uint32_t zeros = 0;
  visit_dtype(b.dtype, [&]<typename T>(T) {
    const auto* y = static_cast<const T*>(b.data);
    for (int64_t i = 0; i < nb; ++i) zeros |= y[i] == T(0) ? 1u : 0u;
  });
  if (zeros != 0) return absl::InvalidArgumentError(cat(op, ": Integer division by zero"));
  return absl::OkStatus();
}

absl::Status run_select(const View& cond, const View& a, const View& b, const MutableView& out) {
  constexpr std::string_view op = "select";
  if (cond.dtype != DType::kBool) return dtype_error(op, 0, DType::kBool, cond.dtype);
  if (b.dtype != a.dtype) return dtype_error(op, 2, a.dtype, b.dtype);
  KILN_RETURN_IF_ERROR(check_out_dtype(op, a.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {cond.shape, a.shape, b.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();
  const auto* c = in_ptr<uint8_t>(cond);
  visit_bits(dtype_size(a.dtype), [&]<typename E>(E) {
    run_plan(plan, out_ptr<E>(out), Select{}, c, in_ptr<E>(a), in_ptr<E>(b));
  });
  return absl::OkStatus();
}

absl::Status run_broadcast(const View& in, const MutableView& out) {
  constexpr std::string_view op = "broadcast";
  KILN_RETURN_IF_ERROR(check_out_dtype(op, in.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {in.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();
  visit_bits(dtype_size(in.dtype),
             [&]<typename E>(E) { run_plan(plan, out_ptr<E>(out), Identity{}, in_ptr<E>(in)); });
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal

namespace kiln::kernels {

bool run_same_shape_f32(ir::OpKind kind, const float* a, const float* b, float* out, int64_t n) {
  if (n >= (int64_t{1} << 18)) return false;
  switch (kind) {
    case ir::OpKind::kAdd:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
      return true;
    case ir::OpKind::kSub:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] - b[i];
      return true;
    case ir::OpKind::kMul:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
      return true;
    case ir::OpKind::kDiv:
      for (int64_t i = 0; i < n; ++i) out[i] = a[i] / b[i];
      return true;
    default:
      return false;
  }
}

}  // namespace kiln::kernels
