// kiln — elementwise eager kernels (unary, binary, compare, select, broadcast) with NumPy
// broadcasting: inputs are read through per-input strides (0 on broadcast dims), dims that are
// contiguous for every input are merged, and the output is walked with an odometer over all but
// the innermost dim and a tight, vectorizable inner loop specialized per input contiguity.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <tuple>
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

template <typename R, typename F, typename... T>
void run_plan_serial(const Plan& p, R* out, F f, const T*... in) {
  bool flat = p.rank == 1;  // one contiguous row: no odometer
  for (int k = 0; k < static_cast<int>(sizeof...(T)) && flat; ++k) flat = p.strides[k][0] == 1;
  if (flat) {
    row_loop(out, p.total, f, Arg<T, true>{in}...);
    return;
  }
  if (run_widened(p, out, f, in...)) return;
  run_rows(p, out, f, in...);
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

// ---- Scalar functions. int32 arithmetic wraps (computed in uint32), as TF's does. ----------

struct Neg {
  float operator()(float x) const { return -x; }
  uint32_t operator()(uint32_t x) const { return 0u - x; }
};
struct Abs {
  float operator()(float x) const { return std::fabs(x); }
  int32_t operator()(int32_t x) const {
    return x < 0 ? static_cast<int32_t>(0u - static_cast<uint32_t>(x)) : x;
  }
};
struct Square {
  float operator()(float x) const { return x * x; }
  uint32_t operator()(uint32_t x) const { return x * x; }
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
  float operator()(float a, float b) const { return a / b; }
};
// Truncating int32 division through double, which is exact for int32 operands and vectorizes
// (x86 has no SIMD integer division). b != 0 is checked beforehand; INT_MIN / -1 wraps.
struct IntDiv {
  int32_t operator()(int32_t a, int32_t b) const {
    double q = static_cast<double>(a) / static_cast<double>(b);
    q = q > 2147483647.0 ? -2147483648.0 : q;  // only INT_MIN / -1 = 2^31
    return static_cast<int32_t>(q);
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
  if (in.dtype == DType::kBool || (float_only && in.dtype != DType::kFloat32)) {
    return unsupported_dtype(op, 0, in.dtype, float_only ? "float32" : "float32 or int32");
  }
  KILN_RETURN_IF_ERROR(check_out_dtype(op, in.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {in.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();
  if (in.dtype == DType::kFloat32) {
    const float* x = in_ptr<float>(in);
    float* y = out_ptr<float>(out);
    switch (kind) {
      case OpKind::kNeg:
        run_plan(plan, y, Neg{}, x);
        break;
      case OpKind::kAbs:
        run_plan(plan, y, Abs{}, x);
        break;
      case OpKind::kSquare:
        run_plan(plan, y, Square{}, x);
        break;
      case OpKind::kExp:
        exp_or_log<true>(plan, x, y);
        break;
      case OpKind::kLog:
        exp_or_log<false>(plan, x, y);
        break;
      default:
        return absl::InternalError(cat(op, ": not a unary op"));
    }
    return absl::OkStatus();
  }
  switch (kind) {
    case OpKind::kNeg:
      run_plan(plan, out_ptr<uint32_t>(out), Neg{}, in_ptr<uint32_t>(in));
      break;
    case OpKind::kAbs:
      run_plan(plan, out_ptr<int32_t>(out), Abs{}, in_ptr<int32_t>(in));
      break;
    case OpKind::kSquare:
      run_plan(plan, out_ptr<uint32_t>(out), Square{}, in_ptr<uint32_t>(in));
      break;
    default:
      return absl::InternalError(cat(op, ": not a unary op"));
  }
  return absl::OkStatus();
}

absl::Status run_binary(OpKind kind, const View& a, const View& b, const MutableView& out) {
  const std::string_view op = ir::mnemonic(kind);
  if (b.dtype != a.dtype) return dtype_error(op, 1, a.dtype, b.dtype);
  if (a.dtype == DType::kBool) return unsupported_dtype(op, 0, a.dtype, "float32 or int32");
  const bool compare = kind == OpKind::kLess || kind == OpKind::kGreater;
  KILN_RETURN_IF_ERROR(check_out_dtype(op, compare ? DType::kBool : a.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {a.shape, b.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();

  if (a.dtype == DType::kFloat32) {
    const float* x = in_ptr<float>(a);
    const float* y = in_ptr<float>(b);
    switch (kind) {
      case OpKind::kAdd:
        run_plan(plan, out_ptr<float>(out), Add{}, x, y);
        break;
      case OpKind::kSub:
        run_plan(plan, out_ptr<float>(out), Sub{}, x, y);
        break;
      case OpKind::kMul:
        run_plan(plan, out_ptr<float>(out), Mul{}, x, y);
        break;
      case OpKind::kDiv:
        run_plan(plan, out_ptr<float>(out), FloatDiv{}, x, y);
        break;
      case OpKind::kLess:
        run_plan(plan, out_ptr<uint8_t>(out), Less{}, x, y);
        break;
      case OpKind::kGreater:
        run_plan(plan, out_ptr<uint8_t>(out), Greater{}, x, y);
        break;
      default:
        return absl::InternalError(cat(op, ": not a binary op"));
    }
    return absl::OkStatus();
  }

  const int32_t* x = in_ptr<int32_t>(a);
  const int32_t* y = in_ptr<int32_t>(b);
  const auto* ux = reinterpret_cast<const uint32_t*>(x);
  const auto* uy = reinterpret_cast<const uint32_t*>(y);
  switch (kind) {
    case OpKind::kAdd:
      run_plan(plan, out_ptr<uint32_t>(out), Add{}, ux, uy);
      break;
    case OpKind::kSub:
      run_plan(plan, out_ptr<uint32_t>(out), Sub{}, ux, uy);
      break;
    case OpKind::kMul:
      run_plan(plan, out_ptr<uint32_t>(out), Mul{}, ux, uy);
      break;
    case OpKind::kDiv:
      KILN_RETURN_IF_ERROR(int_divisor_check(op, b));
      run_plan(plan, out_ptr<int32_t>(out), IntDiv{}, x, y);
      break;
    case OpKind::kLess:
      run_plan(plan, out_ptr<uint8_t>(out), Less{}, x, y);
      break;
    case OpKind::kGreater:
      run_plan(plan, out_ptr<uint8_t>(out), Greater{}, x, y);
      break;
    default:
      return absl::InternalError(cat(op, ": not a binary op"));
  }
  return absl::OkStatus();
}

absl::Status int_divisor_check(std::string_view op, const View& b) {
  // Every element of b is used when the output is non-empty, so scanning b suffices.
  const auto* y = static_cast<const int32_t*>(b.data);
  const int64_t nb = b.shape->num_elements();
  uint32_t zeros = 0;
  for (int64_t i = 0; i < nb; ++i) zeros |= y[i] == 0 ? 1u : 0u;
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
  switch (a.dtype) {
    case DType::kFloat32:
      run_plan(plan, out_ptr<float>(out), Select{}, c, in_ptr<float>(a), in_ptr<float>(b));
      break;
    case DType::kInt32:
      run_plan(plan, out_ptr<int32_t>(out), Select{}, c, in_ptr<int32_t>(a), in_ptr<int32_t>(b));
      break;
    case DType::kBool:
      run_plan(plan, out_ptr<uint8_t>(out), Select{}, c, in_ptr<uint8_t>(a), in_ptr<uint8_t>(b));
      break;
  }
  return absl::OkStatus();
}

absl::Status run_broadcast(const View& in, const MutableView& out) {
  constexpr std::string_view op = "broadcast";
  KILN_RETURN_IF_ERROR(check_out_dtype(op, in.dtype, out.dtype));
  Plan plan;
  const Shape* shapes[] = {in.shape};
  KILN_RETURN_IF_ERROR(make_plan(op, *out.shape, shapes, plan));
  if (plan.total == 0) return absl::OkStatus();
  switch (in.dtype) {
    case DType::kFloat32:
      run_plan(plan, out_ptr<float>(out), Identity{}, in_ptr<float>(in));
      break;
    case DType::kInt32:
      run_plan(plan, out_ptr<int32_t>(out), Identity{}, in_ptr<int32_t>(in));
      break;
    case DType::kBool:
      run_plan(plan, out_ptr<uint8_t>(out), Identity{}, in_ptr<uint8_t>(in));
      break;
  }
  return absl::OkStatus();
}

}  // namespace kiln::kernels::internal
