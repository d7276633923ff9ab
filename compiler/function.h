// kiln — kiln::function: trace a C++ callable of Tensors into IR, optimize it, JIT-compile it,
// and cache the compiled code per input signature (dtype and shape of each argument).
//
//   auto huber = kiln::function(huber_loss_fxn);
//   huber(y_true, y_pred);   // first call with these shapes: trace, optimize, compile, run
//   huber(y_true, y_pred);   // same signature: straight to the compiled code
//   huber.trace_count();     // 1
//
// KILN_DUMP=<dir> writes, for every compiled specialization, numbered files:
//   <name>.<n>.0000.traced.kir, <name>.<n>.0001.after_<pass>.kir, ..., <name>.<n>.llvm.ll,
//   <name>.<n>.s     (n counts compiles in the process)
// KILN_LOG_RETRACES=1 prints one line per trace with its reason to stderr.
//
// Caches: compiled specializations live in an in-memory LRU bounded by count and by bytes
// (FunctionOptions::max_cache_entries, max_cache_bytes). KILN_CACHE_DIR=<dir> (or
// FunctionOptions::cache_dir) adds an on-disk cache of compiled objects shared by processes: a
// trace that misses in memory still traces and optimizes (the key includes the optimized IR), but
// then links the stored object instead of running LLVM. See docs/architecture.md, "Caches".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ir/types.h"
#include "runtime/tensor.h"

namespace kiln {

// An unknown dimension in a TensorSpec (TF's None).
inline constexpr int64_t None = Shape::kUnknownDim;

// The dtype and shape of a Tensor argument.
struct TensorSpec {
  TensorSpec(Shape shape, DType dtype = DType::kFloat32) : shape(std::move(shape)), dtype(dtype) {}
  Shape shape;
  DType dtype;
};

// What a retrace (a trace after the first) does beyond being logged with its reason.
enum class RetracePolicy {
  kAllow,  // trace silently
  kWarn,   // from the `warn_after_traces`-th trace on, print a warning with the reason (as TF)
  kError,  // throw FailedPreconditionError naming the reason; the cache stays as it was
};

struct FunctionOptions {
  std::string name = "fn";  // the IR function's name (@name) and the name in error messages
  // The pass pipeline run on every trace: passes::kDefaultPipeline (passes/pass_manager.h; a
  // test keeps the two equal).
  std::string pipeline = "autodiff,const-fold,simplify,cse,fuse,dce";
  // The cache keeps at most this many specializations, dropping the least recently used
  // (0 = unbounded; negative bounds are an InvalidArgumentError).
  int64_t max_cache_entries = 64;
  // ... and at most this many bytes (CacheStats::bytes; 0 = unbounded), dropping the least
  // recently used; the newest specialization stays even if it alone is larger.
  int64_t max_cache_bytes = int64_t{256} << 20;
  // The on-disk cache directory; empty = the environment variable KILN_CACHE_DIR (unset or
  // empty = no disk cache). An unwritable directory only costs a warning.
  std::string cache_dir;
  bool disk_cache = true;  // false: no disk cache, whatever cache_dir and KILN_CACHE_DIR say
  RetracePolicy on_retrace = RetracePolicy::kWarn;
  int warn_after_traces = 5;
};

namespace config {
// When true, kiln::function calls the original callable eagerly (a debugging switch, as TF's
// tf.config.run_functions_eagerly).
void run_functions_eagerly(bool enable);
bool functions_run_eagerly();
}  // namespace config

// Counters of one kiln::function's cache.
struct CacheStats {
  int64_t calls = 0;      // calls through the cache
  int64_t hits = 0;       // calls that found compiled code
  int64_t traces = 0;     // traces (= compiles) done
  int64_t evictions = 0;  // specializations dropped by the LRU bound
  int64_t entries = 0;    // specializations cached now
  // Bytes the cached specializations hold: per entry, the object code and the constants in it,
  // the optimized LLVM IR and the traced and optimized IR texts kept for introspection, and
  // one workspace (assembly generated on request is not counted).
  int64_t bytes = 0;
  int64_t disk_hits = 0;       // compiles that linked an object from the on-disk cache
  int64_t disk_misses = 0;     // compiles that found no valid object there (then compiled)
  int64_t disk_writes = 0;     // objects stored in the on-disk cache
  double trace_seconds = 0;    // total time tracing
  double pass_seconds = 0;     // total time in the pass pipeline
  double compile_seconds = 0;  // total time lowering, optimizing and JIT-compiling
};

// Why a trace happened: "first trace", or the first argument that differs from the closest
// signature traced before ("arg 0: shape [32, 5] -> [16, 5]", "arg 1: dtype float32 -> int32").
struct TraceRecord {
  int index = 0;
  std::string signature;  // "(f32[32,5], f32[32,1])"
  std::string reason;
};

namespace internal {
class FunctionCore;
class ConcreteImpl;
// Traces the user's callable: given symbolic arguments, returns its results. `ctx` is the
// wrapper's callable.
using TraceThunk = std::vector<Tensor> (*)(const void* ctx, std::span<const Tensor> args);
}  // namespace internal

// One traced, optimized and compiled specialization of a kiln::function.
class ConcreteFunction {
 public:
  explicit ConcreteFunction(std::shared_ptr<internal::ConcreteImpl> impl)
      : impl_(std::move(impl)) {}
  // The optimized IR as text (after the pass pipeline).
  std::string ir() const;
  // The IR as traced, before any pass.
  std::string traced_ir() const;
  // The optimized LLVM IR and the assembly of the compiled code.
  std::string llvm_ir() const;
  std::string asm_text() const;
  // Seconds spent tracing, in the pass pipeline, and in LLVM (lowering + optimization + JIT).
  double trace_seconds() const;
  double pass_seconds() const;
  double compile_seconds() const;
  // Runs the compiled code. Argument dtypes and shapes must match the signature.
  std::vector<Tensor> operator()(std::span<const Tensor> args) const;

 private:
  std::shared_ptr<internal::ConcreteImpl> impl_;
};

namespace internal {

// A non-Tensor argument: part of the cache key by value, as Python values are in TF.
struct StaticArg {
  int position;      // argument position in the call
  std::string key;   // exact encoding for the cache key
  std::string repr;  // readable value for retrace reasons ("3", "true", "\"relu\"")
};

template <typename T>
inline constexpr bool kIsTensorArg = std::is_convertible_v<const T&, const Tensor&>;

// Encodes a static argument. Supported: bool, integers, floating point (by bits), enums,
// strings, and any type with a std::hash specialization (keyed by its hash).
template <typename T>
StaticArg make_static_arg(int position, const T& v) {
  StaticArg a{position, "", ""};
  if constexpr (std::is_same_v<T, bool>) {
    a.key = v ? "b1" : "b0";
    a.repr = v ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    a.repr = std::to_string(v);
    a.key = "i" + a.repr;
  } else if constexpr (std::is_floating_point_v<T>) {
    const double d = static_cast<double>(v);
    uint64_t bits;
    static_assert(sizeof(bits) == sizeof(d));
    __builtin_memcpy(&bits, &d, sizeof(d));
    a.key = "f" + std::to_string(bits);
    a.repr = std::to_string(d);
  } else if constexpr (std::is_enum_v<T>) {
    a.repr = std::to_string(static_cast<std::underlying_type_t<T>>(v));
    a.key = "e" + a.repr;
  } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
    const std::string_view sv = v;
    a.key = "s" + std::to_string(sv.size()) + ":" + std::string(sv);
    a.repr = "\"" + std::string(sv) + "\"";
  } else {
    static_assert(
        requires { std::hash<T>{}(v); },
        "a kiln::function argument must be a Tensor, a number, bool, enum, string, or "
        "a type with a std::hash specialization");
    a.key = "h" + std::to_string(std::hash<T>{}(v));
    a.repr = "<hash " + a.key.substr(1) + ">";
  }
  return a;
}

class FunctionCore {
 public:
  explicit FunctionCore(FunctionOptions options);
  ~FunctionCore();
  // Looks up (or traces and compiles) the specialization for the Tensor arguments `args` and
  // the non-Tensor arguments `statics`, and runs it.
  std::vector<Tensor> call(std::span<const Tensor> args, std::span<const StaticArg> statics,
                           TraceThunk thunk, const void* ctx);
  ConcreteFunction concrete(std::span<const TensorSpec> specs, TraceThunk thunk, const void* ctx);
  int trace_count() const;
  CacheStats cache_stats() const;
  std::vector<TraceRecord> trace_log() const;
  const FunctionOptions& options() const { return options_; }

  struct State;  // the cache and its log (function.cc)

 private:
  // The specialization for `key`: from the cache, or traced and compiled by this thread while
  // other callers of the same signature wait.
  std::shared_ptr<ConcreteImpl> get_or_build(std::string key,
                                             const std::function<std::vector<ir::Type>()>& types,
                                             std::span<const StaticArg> statics, TraceThunk thunk,
                                             const void* ctx, bool count_hit);
  void evict_if_needed(const std::string& keep);  // with State::mu held

  FunctionOptions options_;
  std::unique_ptr<State> state_;
};

template <typename R>
R unpack_results(std::vector<Tensor>&& results) {
  if constexpr (std::is_same_v<R, Tensor>) {
    return std::move(results[0]);
  } else if constexpr (std::is_same_v<R, std::vector<Tensor>>) {
    return std::move(results);
  } else {
    return [&]<size_t... I>(std::index_sequence<I...>) { return R{std::move(results[I])...}; }
    (std::make_index_sequence<std::tuple_size_v<R>>());
  }
}

template <typename R>
std::vector<Tensor> pack_results(R&& r) {
  using D = std::decay_t<R>;
  if constexpr (std::is_same_v<D, Tensor>) {
    return {std::forward<R>(r)};
  } else if constexpr (std::is_same_v<D, std::vector<Tensor>>) {
    return std::forward<R>(r);
  } else {
    return std::apply([](auto&&... t) { return std::vector<Tensor>{Tensor(t)...}; }, r);
  }
}

}  // namespace internal

// A callable wrapped by kiln::function. Copies share one cache.
template <typename F>
class Function {
 public:
  Function(F fn, FunctionOptions options)
      : fn_(std::make_shared<F>(std::move(fn))),
        core_(std::make_shared<internal::FunctionCore>(std::move(options))) {}

  // Calls with Tensors (traced by dtype and shape) and other values (part of the signature by
  // value): compiled code for this signature, tracing and compiling on a miss.
  template <typename... Args>
  auto operator()(const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    if (config::functions_run_eagerly()) return (*fn_)(args...);
    constexpr size_t kTensors = (size_t{0} + ... + (internal::kIsTensorArg<Args> ? 1 : 0));
    constexpr size_t kStatics = sizeof...(Args) - kTensors;
    std::array<Tensor, kTensors> tensors;
    std::array<internal::StaticArg, kStatics> statics;
    size_t nt = 0, ns = 0;
    int position = 0;
    (collect(args, tensors, statics, nt, ns, position++), ...);
    const CallContext<Args...> ctx{fn_.get(), std::tie(args...)};
    return internal::unpack_results<R>(core_->call(tensors, statics, &call_thunk<Args...>, &ctx));
  }

  // The specialization for `specs`, traced and compiled if it does not exist yet.
  template <typename... Specs>
  ConcreteFunction get_concrete_function(const Specs&... specs) const {
    const std::array<TensorSpec, sizeof...(Specs)> all{TensorSpec(specs)...};
    return core_->concrete(all, &trace_thunk<sizeof...(Specs)>, fn_.get());
  }

  // How many times the callable has been traced.
  int trace_count() const { return core_->trace_count(); }
  // Hits, traces and time spent, for this function's cache.
  CacheStats cache_stats() const { return core_->cache_stats(); }
  // One record per trace, saying why it happened.
  std::vector<TraceRecord> trace_log() const { return core_->trace_log(); }
  // The original callable (runs eagerly).
  const F& python_function() const { return *fn_; }

 private:
  template <typename... Args>
  struct CallContext {
    const F* fn;
    std::tuple<const Args&...> args;
  };

  template <typename T, size_t NT, size_t NS>
  static void collect(const T& arg, std::array<Tensor, NT>& tensors,
                      std::array<internal::StaticArg, NS>& statics, size_t& nt, size_t& ns,
                      int position) {
    if constexpr (internal::kIsTensorArg<T>) {
      tensors[nt++] = Tensor(arg);
    } else {
      statics[ns++] = internal::make_static_arg(position, arg);
    }
  }

  // For each argument position, its index among the Tensor arguments (-1 for static ones).
  template <typename... Args>
  static constexpr std::array<int, sizeof...(Args)> tensor_slots() {
    std::array<int, sizeof...(Args)> out{};
    int n = 0, i = 0;
    ((out[i++] = internal::kIsTensorArg<Args> ? n++ : -1), ...);
    return out;
  }

  // Re-runs the user's callable with symbolic Tensors in the Tensor positions and the original
  // values elsewhere.
  template <typename... Args>
  static std::vector<Tensor> call_thunk(const void* ctx, std::span<const Tensor> sym) {
    const auto& c = *static_cast<const CallContext<Args...>*>(ctx);
    constexpr auto slots = tensor_slots<Args...>();
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return internal::pack_results((*c.fn)(pick<slots[I]>(std::get<I>(c.args), sym)...));
    }
    (std::index_sequence_for<Args...>());
  }

  template <int kSlot, typename T>
  static decltype(auto) pick(const T& arg, std::span<const Tensor> sym) {
    if constexpr (kSlot >= 0) {
      return static_cast<const Tensor&>(sym[kSlot]);
    } else {
      return (arg);
    }
  }

  template <size_t N>
  static std::vector<Tensor> trace_thunk(const void* ctx, std::span<const Tensor> args) {
    const F& fn = *static_cast<const F*>(ctx);
    return [&]<size_t... I>(std::index_sequence<I...>) {
      return internal::pack_results(fn(args[I]...));
    }
    (std::make_index_sequence<N>());
  }

  std::shared_ptr<F> fn_;
  std::shared_ptr<internal::FunctionCore> core_;
};

template <typename F>
Function<F> function(F fn, FunctionOptions options = {}) {
  return Function<F>(std::move(fn), std::move(options));
}

}  // namespace kiln
