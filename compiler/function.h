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
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
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

struct FunctionOptions {
  std::string name = "fn";  // the IR function's name (@name) and the name in error messages
  // The pass pipeline run on every trace (see passes/pass_manager.h, kDefaultPipeline).
  std::string pipeline = "const-fold,fuse,dce";
};

namespace config {
// When true, kiln::function calls the original callable eagerly (a debugging switch, as TF's
// tf.config.run_functions_eagerly).
void run_functions_eagerly(bool enable);
bool functions_run_eagerly();
}  // namespace config

// Counters of one kiln::function's cache.
struct CacheStats {
  int64_t calls = 0;           // calls through the cache
  int64_t hits = 0;            // calls that found compiled code
  int64_t traces = 0;          // traces (= compiles) done
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

class FunctionCore {
 public:
  explicit FunctionCore(FunctionOptions options);
  ~FunctionCore();
  // Looks up (or traces and compiles) the specialization for `args` and runs it.
  std::vector<Tensor> call(std::span<const Tensor> args, TraceThunk thunk, const void* ctx);
  ConcreteFunction concrete(std::span<const TensorSpec> specs, TraceThunk thunk, const void* ctx);
  int trace_count() const;
  CacheStats cache_stats() const;
  std::vector<TraceRecord> trace_log() const;
  const FunctionOptions& options() const { return options_; }

  struct State;  // the cache and its log (function.cc)

 private:
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

  // Calls with Tensors: compiled code for this signature (tracing and compiling on a miss).
  template <typename... Args>
  requires(std::is_convertible_v<const Args&, const Tensor&>&&...) auto operator()(
      const Args&... args) const {
    using R = std::decay_t<std::invoke_result_t<const F&, const Args&...>>;
    if (config::functions_run_eagerly()) return (*fn_)(args...);
    const std::array<Tensor, sizeof...(Args)> tensors{Tensor(args)...};
    return internal::unpack_results<R>(
        core_->call(tensors, &trace_thunk<sizeof...(Args)>, fn_.get()));
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
