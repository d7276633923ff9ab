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
// then links the stored object instead of running LLVM. The directory is bounded
// (disk_cache_max_bytes, KILN_CACHE_MAX_BYTES, 1 GiB by default) by removing least recently
// used entries after a write. See docs/architecture.md, "Caches".
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "compiler/compile.h"
#include "compiler/nest.h"
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
  // One TensorSpec per Tensor leaf of the arguments, in order (non-Tensor arguments stay part
  // of the signature by value). Every call must match it: same dtype and rank, and the known
  // dims equal (else InvalidArgumentError). The function is traced once with kiln::None dims
  // unknown ('?' in the IR), compiled once, and that code serves every matching call, whatever
  // the sizes of the None dims. While tracing, x.shape()[i] of such a dim is kiln::None.
  std::vector<TensorSpec> input_signature;
  // Without input_signature: a call that differs from a traced signature only in some dims of
  // same-dtype, same-rank Tensors retraces once with those dims unknown, and later calls that
  // fit the generalized signature reuse its code.
  bool reduce_retracing = false;
  std::string name = "fn";  // the IR function's name (@name) and the name in error messages
  // The pass pipeline run on every trace: passes::kDefaultPipeline (passes/pass_manager.h; a
  // test keeps the two equal).
  std::string pipeline = "autodiff,const-fold,simplify,cse,fuse,dce,buffer-plan";
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
  // The bound of the on-disk cache directory's size: after storing an object, the least
  // recently used entries (other than the new one) are removed until the entries fit.
  // 0 = the environment variable KILN_CACHE_MAX_BYTES, or 1 GiB if it is unset (a value that is
  // not a positive byte count warns once and gives 1 GiB). The directory is never unbounded;
  // negative values are an InvalidArgumentError.
  int64_t disk_cache_max_bytes = 0;
  RetracePolicy on_retrace = RetracePolicy::kWarn;
  int warn_after_traces = 5;
};

namespace config {
// When true, kiln::function calls the original callable eagerly (a debugging switch, as TF's
// tf.config.run_functions_eagerly).
void run_functions_eagerly(bool enable);
bool functions_run_eagerly();
}  // namespace config

using compiler::MemoryStats;

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
  int64_t disk_evictions = 0;  // entries removed from the on-disk cache by its size bound
  double trace_seconds = 0;    // total time tracing
  double pass_seconds = 0;     // total time in the pass pipeline
  double compile_seconds = 0;  // total time lowering, optimizing and JIT-compiling
  // Per phase (totals over the traces): each pass of the pipeline by name, then compile_seconds
  // split into lowering to LLVM IR, the LLVM optimization pipeline, instruction selection and
  // object emission, and JIT-linking (the rest of compile_seconds is the disk cache's work).
  std::map<std::string, double> pass_seconds_by_name;
  double lower_seconds = 0, llvm_opt_seconds = 0, codegen_seconds = 0, link_seconds = 0;
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
// `result_structure` receives the results' structure (nest::flatten).
using TraceThunk = std::vector<Tensor> (*)(const void* ctx, std::span<const Tensor> args,
                                           std::string* result_structure);
// Describes the call's arguments (paths, static values) given the Tensor leaves' types.
using DescribeThunk = void (*)(const void* ctx, std::span<const ir::Type> types,
                               nest::Signature* out);
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
  // Bytes one call uses: arguments, results, the workspace of intermediate values (with and
  // without the buffer-plan pass's sharing) and the peak (results + workspace). With None dims
  // in the signature the sizes depend on the call: memory_stats() then reports the shapes of
  // the most recent call (or memory_stats(shapes) query), and before any the fixed-size part
  // (None dims as 0); memory_stats(shapes) reports a call with those argument shapes (one per
  // Tensor argument; InvalidArgumentError if they do not fit the signature, as the call would).
  MemoryStats memory_stats() const;
  MemoryStats memory_stats(const std::vector<Shape>& arg_shapes) const;
  // Runs the compiled code. Argument dtypes and shapes must match the signature.
  std::vector<Tensor> operator()(std::span<const Tensor> args) const;

 private:
  std::shared_ptr<internal::ConcreteImpl> impl_;
};

namespace internal {

class FunctionCore {
 public:
  explicit FunctionCore(FunctionOptions options);
  ~FunctionCore();
  // Looks up (or traces and compiles) the specialization for the Tensor leaves `args` of a
  // call whose structure (containers, static values; nest::flatten) is `structure`, and runs
  // it. An empty structure means: every argument is a Tensor. `result_structure`, if not
  // null, receives the structure of the results.
  std::vector<Tensor> call(std::span<const Tensor> args, std::string_view structure,
                           DescribeThunk describe, TraceThunk thunk, const void* ctx,
                           std::shared_ptr<const std::string>* result_structure = nullptr);
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
                                             DescribeThunk describe, TraceThunk thunk,
                                             const void* ctx, bool count_hit,
                                             const std::string& reason = {});
  // reduce_retracing: the specialization a call of Tensor leaves `args` that missed in the cache
  // uses, generalizing a traced signature if needed; null if none applies.
  std::shared_ptr<ConcreteImpl> generalized(std::span<const Tensor> args,
                                            std::string_view structure, DescribeThunk describe,
                                            TraceThunk thunk, const void* ctx);
  void evict_if_needed(const std::string& keep);  // with State::mu held

  FunctionOptions options_;
  std::unique_ptr<State> state_;
};

// Results that are a Tensor, a std::vector of Tensors, or a tuple, pair or array of Tensors
// need no recorded structure.
template <typename R>
inline constexpr bool kFlatResult = [] {
  if constexpr (std::is_same_v<R, Tensor> || std::is_same_v<R, std::vector<Tensor>>) {
    return true;
  } else if constexpr (nest::IsTuple<R>::value || nest::IsArray<R>::value) {
    return []<size_t... I>(std::index_sequence<I...>) {
      return (std::is_same_v<std::tuple_element_t<I, R>, Tensor> && ...);
    }
    (std::make_index_sequence<std::tuple_size_v<R>>());
  } else {
    return false;
  }
}();

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
  //
  // Arguments may also be nested structures (compiler/nest.h): std::vector, std::array,
  // std::tuple, std::pair, std::map<std::string, T>, std::optional and KILN_FIELDS structs,
  // with Tensors (or Variables, read as Tensors) and static values at the leaves; the traced
  // callable sees them with Tensor leaves. Results may be such structures of Tensors.
  template <typename... Args>
  auto operator()(const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    if (config::functions_run_eagerly()) return (*fn_)(args...);
    (nest::check_supported<Args>(), ...);
    nest::check_result_type<R>();
    const CallContext<Args...> ctx{fn_.get(), std::tie(args...)};
    if constexpr ((nest::kIsTensor<Args> && ...)) {
      const std::array<Tensor, sizeof...(Args)> tensors{static_cast<const Tensor&>(args)...};
      return finish<R, Args...>(tensors, {}, ctx);
    } else {
      std::vector<Tensor> tensors;
      std::string structure;
      (nest::flatten(args, tensors, structure), ...);
      return finish<R, Args...>(tensors, structure, ctx);
    }
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

  template <typename R, typename... Args>
  R finish(std::span<const Tensor> tensors, std::string_view structure,
           const CallContext<Args...>& ctx) const {
    if constexpr (internal::kFlatResult<R>) {
      return internal::unpack_results<R>(
          core_->call(tensors, structure, &describe_thunk<Args...>, &call_thunk<Args...>, &ctx));
    } else {
      std::shared_ptr<const std::string> result_structure;
      std::vector<Tensor> flat = core_->call(tensors, structure, &describe_thunk<Args...>,
                                             &call_thunk<Args...>, &ctx, &result_structure);
      const char* s = result_structure->data();
      size_t next = 0;
      return nest::unflatten<R>(s, flat, next);
    }
  }

  // An argument as the traced callable sees it: top-level Tensors and static values by
  // reference, structures rebuilt with the symbolic Tensors at their leaves.
  template <typename T>
  using TracedArg =
      std::conditional_t<nest::kIsTensor<T>, const Tensor&,
                         std::conditional_t<std::is_same_v<nest::Rebuilt<T>, T> &&
                                                !nest::HasFields<T> && nest::StaticValue<T>,
                                            const T&, nest::Rebuilt<T>>>;

  template <typename T>
  static TracedArg<T> traced_arg(const T& arg, std::span<const Tensor> sym, size_t& next) {
    if constexpr (nest::kIsTensor<T>) {
      return sym[next++];
    } else if constexpr (std::is_same_v<TracedArg<T>, const T&>) {
      return arg;
    } else {
      return nest::rebuild(arg, sym, next);
    }
  }

  // Re-runs the user's callable with symbolic Tensors at the Tensor leaves and the original
  // values elsewhere.
  template <typename... Args>
  static std::vector<Tensor> call_thunk(const void* ctx, std::span<const Tensor> sym,
                                        std::string* result_structure) {
    const auto& c = *static_cast<const CallContext<Args...>*>(ctx);
    size_t next = 0;
    // Braced initialization evaluates left to right: the leaves are taken in order.
    std::tuple<TracedArg<Args>...> traced = std::apply(
        [&](const Args&... a) {
          return std::tuple<TracedArg<Args>...>{traced_arg(a, sym, next)...};
        },
        c.args);
    std::vector<Tensor> out;
    nest::flatten(std::apply(*c.fn, traced), out, *result_structure);
    return out;
  }

  template <typename... Args>
  static void describe_thunk(const void* ctx, std::span<const ir::Type> types,
                             nest::Signature* out) {
    const auto& c = *static_cast<const CallContext<Args...>*>(ctx);
    size_t next = 0;
    int position = 0;
    std::apply(
        [&](const Args&... a) {
          ((out->args.emplace_back(), nest::describe(a, "arg " + std::to_string(position++), types,
                                                     next, out->leaves, out->args.back())),
           ...);
        },
        c.args);
  }

  template <size_t N>
  static std::vector<Tensor> trace_thunk(const void* ctx, std::span<const Tensor> args,
                                         std::string* result_structure) {
    const F& fn = *static_cast<const F*>(ctx);
    std::vector<Tensor> out;
    [&]<size_t... I>(std::index_sequence<I...>) {
      nest::flatten(fn(args[I]...), out, *result_structure);
    }
    (std::make_index_sequence<N>());
    return out;
  }

  std::shared_ptr<F> fn_;
  std::shared_ptr<internal::FunctionCore> core_;
};

template <typename F>
Function<F> function(F fn, FunctionOptions options = {}) {
  return Function<F>(std::move(fn), std::move(options));
}

}  // namespace kiln
