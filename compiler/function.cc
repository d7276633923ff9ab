// kiln — kiln::function's engine: signature keys, the trace → passes → JIT pipeline, the cache.
#include "compiler/function.h"

#include <cxxabi.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <mutex>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "compiler/compile.h"
#include "compiler/disk_cache.h"
#include "compiler/resolve_shapes.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/pass_manager.h"
#include "runtime/evaluator.h"
#include "runtime/gradients/emitter.h"
#include "runtime/numerics.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace config {
namespace {
std::atomic<bool> run_eagerly{false};
}
void run_functions_eagerly(bool enable) { run_eagerly = enable; }
bool functions_run_eagerly() { return run_eagerly; }
}  // namespace config

namespace internal {

// True if concrete `s` fits `declared` (same rank, equal known dims).
bool fits(const Shape& s, const Shape& declared) {
  if (s.rank() != declared.rank()) return false;
  for (int i = 0; i < s.rank(); ++i) {
    if (declared[i] >= 0 && s[i] != declared[i]) return false;
  }
  return true;
}

// "f32[3, 4]", "f32[None, 5]": a type as input_signature messages show it.
std::string spec_string(DType dtype, const Shape& shape) {
  return cat(dtype_ir_name(dtype), shape.to_string());
}

// Everything about one specialization.
class ConcreteImpl {
 public:
  std::string name;
  std::vector<ir::Type> arg_types;
  std::vector<ir::Type> result_types;
  std::string traced_ir;
  std::string optimized_ir;
  std::unique_ptr<compiler::Executable> executable;
  bool polymorphic = false;  // arg_types have unknown dims: shapes are bound per call
  double trace_seconds = 0, pass_seconds = 0, compile_seconds = 0;
  std::vector<std::pair<std::string, double>> pass_timings;  // in pipeline order
  int64_t bytes = 0;  // what CacheStats::bytes counts for this entry
  // Variables the trace captured: extra arguments after the user's (in this order), and, for
  // those it wrote, extra results after the user's (in this order).
  std::vector<std::shared_ptr<internal::VariableState>> captured, written;
  size_t num_user_results = 0;
  // The structure of the user's results (nest::flatten), to rebuild them.
  std::shared_ptr<const std::string> result_structure;
  // Per written Variable, a recycled old value (see store_variables), guarded by a try-lock:
  // calls on several threads at once simply allocate.
  mutable std::vector<Tensor> spare;
  mutable std::atomic_flag spare_busy;

  std::vector<Tensor> run(std::span<const Tensor> user_args) const {
    if (user_args.size() + captured.size() != arg_types.size()) {
      throw InvalidArgumentError(cat(name, ": expected ", arg_types.size() - captured.size(),
                                     " argument(s) but got ", user_args.size()));
    }
    if (!captured.empty()) {
      std::vector<Tensor> all(user_args.begin(), user_args.end());
      for (const auto& v : captured) all.push_back(v->value);
      std::vector<Tensor> results = run_all(all);
      all.clear();  // the old values are now held only by their Variables (or by the caller)
      return store_variables(std::move(results));
    }
    return run_all(user_args);
  }

  // The memory of a call with `user_shapes` (and the captured Variables' shapes).
  MemoryStats memory_stats(std::span<const Shape> user_shapes) const {
    if (user_shapes.size() + captured.size() != arg_types.size()) {
      throw InvalidArgumentError(cat(name, ": expected ", arg_types.size() - captured.size(),
                                     " argument shape(s) but got ", user_shapes.size()));
    }
    std::vector<Shape> shapes(user_shapes.begin(), user_shapes.end());
    for (const auto& v : captured) shapes.push_back(v->value.shape());
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (!shapes[i].is_fully_defined() || !fits(shapes[i], arg_types[i].shape)) {
        throw InvalidArgumentError(cat(name, ": argument #", i, " of shape ", shapes[i],
                                       " does not fit this function, which was compiled for ",
                                       arg_types[i].to_string()));
      }
    }
    if (!executable) return MemoryStats{};
    absl::StatusOr<MemoryStats> m = executable->memory_stats(shapes);
    if (!m.ok())
      throw_if_error(absl::Status(m.status().code(), cat(name, ": ", m.status().message())));
    return *m;
  }

  // Stores the written Variables' new values and drops them from the results. An old value
  // whose storage nothing else shares is kept to hold that Variable's next new value.
  std::vector<Tensor> store_variables(std::vector<Tensor> results) const {
    const bool keep = !spare_busy.test_and_set(std::memory_order_acquire);
    if (keep && spare.size() != written.size()) spare.resize(written.size());
    for (size_t i = 0; i < written.size(); ++i) {
      Tensor old = std::exchange(written[i]->value, std::move(results[num_user_results + i]));
      if (keep && old.storage_is_unique()) spare[i] = std::move(old);
    }
    if (keep) spare_busy.clear(std::memory_order_release);
    results.resize(num_user_results);
    return results;
  }

  // A result buffer for result `i` of `shape`: a written Variable's recycled old value if one
  // fits, else fresh storage.
  Tensor result_tensor(size_t i, const Shape& shape) const {
    const DType dtype = result_types[i].dtype;
    if (i >= num_user_results && !spare_busy.test_and_set(std::memory_order_acquire)) {
      Tensor t;
      const size_t w = i - num_user_results;
      if (w < spare.size() && spare[w].defined() && spare[w].dtype() == dtype &&
          spare[w].shape() == shape) {
        t = std::move(spare[w]);
        spare[w] = Tensor();
      }
      spare_busy.clear(std::memory_order_release);
      if (t.defined()) return t;
    }
    return Tensor::empty(dtype, shape);
  }

  std::vector<Tensor> run_all(std::span<const Tensor> args) const {
    constexpr size_t kInline = 8;
    const void* arg_inline[kInline];
    void* res_inline[kInline];
    std::vector<const void*> arg_heap;
    std::vector<void*> res_heap;
    const void** arg_ptrs = arg_inline;
    void** res_ptrs = res_inline;
    if (args.size() > kInline) arg_ptrs = (arg_heap.resize(args.size()), arg_heap.data());
    if (result_types.size() > kInline)
      res_ptrs = (res_heap.resize(result_types.size()), res_heap.data());
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i].dtype() != arg_types[i].dtype || !fits(args[i].shape(), arg_types[i].shape)) {
        throw InvalidArgumentError(cat(
            name, ": argument #", i, " is a ", dtype_name(args[i].dtype()), " tensor of shape ",
            args[i].shape(), "; this function was ", "compiled for ", arg_types[i].to_string()));
      }
      arg_ptrs[i] = args[i].raw_data();
    }
    if (config::check_numerics_enabled()) return run_checked(args);
    std::shared_ptr<const compiler::ShapeBinding> binding;
    if (polymorphic) {
      absl::InlinedVector<Shape, kInline> shapes;
      for (const Tensor& a : args) shapes.push_back(a.shape());
      absl::StatusOr<std::shared_ptr<const compiler::ShapeBinding>> b = executable->bind(shapes);
      if (!b.ok()) {
        throw_if_error(absl::Status(b.status().code(), cat(name, ": ", b.status().message())));
      }
      binding = *std::move(b);
    }
    std::vector<Tensor> results;
    results.reserve(result_types.size());
    for (size_t i = 0; i < result_types.size(); ++i) {
      results.push_back(
          result_tensor(i, binding ? binding->result_shapes[i] : result_types[i].shape));
      res_ptrs[i] = results.back().mutable_raw_data();
    }
    const std::span<const void* const> arg_span(arg_ptrs, args.size());
    const std::span<void* const> res_span(res_ptrs, result_types.size());
    absl::Status s = binding ? executable->run_bound(arg_span, res_span, *binding)
                             : executable->run(arg_span, res_span);
    if (!s.ok()) throw_if_error(absl::Status(s.code(), cat(name, ": ", s.message())));
    return results;
  }

  // check_numerics mode: the optimized IR op by op on the eager kernels, checking every result.
  std::vector<Tensor> run_checked(std::span<const Tensor> args) const {
    auto module = ir::parse_module(optimized_ir, {.filename = name + ".ir"});
    if (!module.ok() || (*module)->functions().empty()) {
      throw InternalError(cat(name, ": cannot re-read the optimized IR for check_numerics"));
    }
    const ir::Function& fn = *(*module)->functions().front();
    if (polymorphic) {
      // The interpreter runs on the types these argument shapes give.
      std::vector<Shape> shapes;
      for (const Tensor& a : args) shapes.push_back(a.shape());
      auto types = compiler::resolve_shapes(fn, shapes);
      if (!types.ok()) {
        throw_if_error(
            absl::Status(types.status().code(), cat(name, ": ", types.status().message())));
      }
      for (const auto& [value, type] : *types) const_cast<ir::Value*>(value)->set_type(type);
    }
    std::vector<ir::Literal> lits;
    for (const Tensor& a : args) {
      ir::Literal lit(ir::Type{a.dtype(), a.shape()});
      std::memcpy(lit.data(), a.raw_data(), lit.size_bytes());
      lits.push_back(std::move(lit));
    }
    NumericsCheckingEvaluator evaluator(fn);
    auto out = ir::interpret(fn, lits, evaluator);
    if (!out.ok())
      throw_if_error(absl::Status(out.status().code(), cat(name, ": ", out.status().message())));
    std::vector<Tensor> results;
    for (const ir::Literal& l : *out) {
      results.push_back(from_buffer(l.data(), l.type().dtype, l.type().shape));
    }
    return results;
  }
};

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The cache key: the number of Tensor leaves, for each its dtype, rank and dims, then the
// call's structure (containers, static values; empty when every argument is a Tensor).
using Key = std::string;

// A key built in place: on the stack for up to kInline bytes (a few Tensor arguments), so that
// a cache hit allocates nothing for it.
class KeyBuilder {
 public:
  static constexpr size_t kInline = 256;
  void put(int64_t v) { append(&v, sizeof(v)); }
  void append(const void* p, size_t n) {
    if (heap_.empty() && size_ + n <= kInline) {
      std::memcpy(inline_ + size_, p, n);
      size_ += n;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_, size_);
    heap_.append(static_cast<const char*>(p), n);
  }
  std::string_view view() const {
    return heap_.empty() ? std::string_view(inline_, size_) : std::string_view(heap_);
  }

 private:
  char inline_[kInline];
  size_t size_ = 0;
  std::string heap_;
};

template <typename Spec>
Key make_key(std::span<const Spec> specs, std::string_view structure = {}) {
  Key key;
  key.reserve(8 + specs.size() * 24 + structure.size());
  auto put = [&key](int64_t v) { key.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
  put(static_cast<int64_t>(specs.size()));
  for (const Spec& s : specs) {
    const Shape& shape = s.shape();
    put(static_cast<int64_t>(s.dtype()));
    put(shape.rank());
    for (int64_t d : shape) put(d);
  }
  key += structure;
  return key;
}

using nest::Leaf;
using nest::Signature;

bool same_leaf(const Leaf& a, const Leaf& b) {
  return a.kind == b.kind && a.what == b.what && a.key == b.key &&
         (a.kind != Leaf::kTensor || a.type == b.type);
}

// The signature of a call whose arguments are all Tensors of `types`.
Signature flat_signature(std::span<const ir::Type> types) {
  Signature sig;
  for (size_t i = 0; i < types.size(); ++i) {
    sig.leaves.push_back(Leaf{cat("arg ", i), Leaf::kTensor, types[i], "", "", ""});
    sig.args.push_back(types[i].to_string());
  }
  return sig;
}

Signature describe_call(DescribeThunk describe, const void* ctx, std::span<const ir::Type> types) {
  if (!describe) return flat_signature(types);
  Signature sig;
  describe(ctx, types, &sig);
  return sig;
}

// The structure part of a key (after the Tensor leaves' types).
std::string_view key_structure(const Key& key) {
  size_t pos = 0;
  auto get = [&] {
    int64_t v = 0;
    if (pos + sizeof(v) <= key.size()) std::memcpy(&v, key.data() + pos, sizeof(v));
    pos += sizeof(v);
    return v;
  };
  const int64_t n = get();
  for (int64_t i = 0; i < n; ++i) {
    get();  // dtype
    pos += static_cast<size_t>(get()) * sizeof(int64_t);
  }
  return pos >= key.size() ? std::string_view() : std::string_view(key).substr(pos);
}

struct TypeView {
  const ir::Type* type;
  DType dtype() const { return type->dtype; }
  const Shape& shape() const { return type->shape; }
};

struct SpecView {
  const TensorSpec* spec;
  DType dtype() const { return spec->dtype; }
  const Shape& shape() const { return spec->shape; }
};

std::atomic<int> dump_counter{0};

// Writes `text` to `dir/file` via a temporary file and a rename, so a reader never sees half.
void write_dump(const std::string& dir, const std::string& file, const std::string& text) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/" + file;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;  // dumps are best effort: never fail a compile because of them
    out << text;
  }
  std::filesystem::rename(tmp, path, ec);
}

// KILN_DUMP's <name>.<n>.timings.txt: one line per phase, "<phase> <milliseconds>", in order.
std::string timings_text(const ConcreteImpl& impl) {
  std::string out;
  auto line = [&](std::string_view phase, double ms) {
    char number[32];
    std::snprintf(number, sizeof(number), "%.3f", ms);
    out += cat(phase, " ", number, "\n");
  };
  const compiler::CompileInfo& info = impl.executable->info();
  line("trace", impl.trace_seconds * 1e3);
  for (const auto& [name, seconds] : impl.pass_timings) line(cat("pass:", name), seconds * 1e3);
  line("lower", info.lower_ms);
  line("llvm-opt", info.optimize_ms);
  line("codegen", info.codegen_ms);
  line("link", info.link_ms);
  line("total", (impl.trace_seconds + impl.pass_seconds + impl.compile_seconds) * 1e3);
  return out;
}

std::string signature_string(const Signature& sig) {
  std::string out = "(";
  for (size_t i = 0; i < sig.args.size(); ++i) {
    out += i ? ", " : "";
    out += sig.args[i];
  }
  return out + ")";
}

// Runs `trace`; a kiln::Error it throws is rethrown as the same type with the function's name
// and signature in front: "in kiln::function 'step' traced with (f32[2,3]): matmul: ...".
template <typename Trace>
std::vector<Tensor> trace_with_context(const std::string& name, const std::string& signature,
                                       Trace&& trace) {
  auto context = [&](const Error& e) {
    return cat("in kiln::function '", name, "' traced with ", signature, ": ", e.what());
  };
  try {
    return trace();
  } catch (const InvalidArgumentError& e) {
    throw InvalidArgumentError(context(e));
  } catch (const FailedPreconditionError& e) {
    throw FailedPreconditionError(context(e));
  } catch (const UnimplementedError& e) {
    throw UnimplementedError(context(e));
  } catch (const InternalError& e) {
    throw InternalError(context(e));
  } catch (const Error& e) {
    throw Error(context(e));
  }
}

// Traces `thunk` on symbolic arguments of `types`, optimizes and compiles.
// `signature` describes the call for the disk cache key.
std::shared_ptr<ConcreteImpl> build(const FunctionOptions& options, std::span<const ir::Type> types,
                                    const std::string& signature, TraceThunk thunk, const void* ctx,
                                    bool first_trace) {
  auto impl = std::make_shared<ConcreteImpl>();
  impl->name = options.name;
  impl->arg_types.assign(types.begin(), types.end());

  // 1) Trace.
  auto t0 = Clock::now();
  ir::Module module;
  ir::Function& fn = module.add_function(options.name);
  {
    TraceContext trace(&fn);
    trace.set_variable_creation_allowed(first_trace);
    std::vector<Tensor> args;
    for (const ir::Type& t : types) args.push_back(trace.add_argument(t));
    std::string result_structure;
    std::vector<Tensor> results = trace_with_context(
        options.name, signature, [&] { return thunk(ctx, args, &result_structure); });
    impl->result_structure = std::make_shared<const std::string>(std::move(result_structure));
    trace.set_results(results);
    impl->num_user_results = results.size();
    for (const VariableCapture& c : trace.variables()) {
      impl->captured.push_back(c.state);
      impl->arg_types.push_back(ir::Type{c.state->value.dtype(), c.state->value.shape()});
      if (c.written) impl->written.push_back(c.state);
    }
  }
  impl->trace_seconds = seconds_since(t0);
  impl->traced_ir = ir::print(module);
  const char* dump_env = std::getenv("KILN_DUMP");
  const std::string dump_dir = dump_env ? dump_env : "";
  const std::string dump_prefix =
      dump_dir.empty() ? "" : cat(options.name, ".", dump_counter++, ".");
  if (!dump_dir.empty()) write_dump(dump_dir, dump_prefix + "0000.traced.kir", impl->traced_ir);

  // 2) Optimize.
  t0 = Clock::now();
  KernelEvaluator evaluator;
  RuleDifferentiator differentiator;
  passes::PassManagerOptions pm_options;
  if (!dump_dir.empty()) {
    pm_options.after_pass = [&](int index, std::string_view pass, const ir::Module& m) {
      char number[16];
      std::snprintf(number, sizeof(number), "%04d", index + 1);
      write_dump(dump_dir, cat(dump_prefix, number, ".after_", pass, ".kir"), ir::print(m));
    };
  }
  passes::PassManager pm(
      passes::PassContext{.evaluator = &evaluator, .differentiator = &differentiator},
      std::move(pm_options));
  throw_if_error(pm.add_pipeline(options.pipeline));
  absl::StatusOr<bool> ran = pm.run(module);
  if (!ran.ok()) {
    throw_if_error(absl::Status(ran.status().code(),
                                cat(options.name, ": optimizing the traced IR failed: ",
                                    ran.status().message(), "\ntraced IR:\n", impl->traced_ir)));
  }
  impl->pass_seconds = seconds_since(t0);
  for (const passes::PassTiming& t : pm.timings())
    impl->pass_timings.emplace_back(t.name, t.seconds);
  // With locations: ops traced with a known C++ call site (check_numerics) keep it.
  impl->optimized_ir = ir::print(module, {.print_locations = true});
  impl->result_types = fn.result_types();

  // 3) Compile.
  t0 = Clock::now();
  compiler::CompileOptions compile_options;
  if (options.disk_cache) {
    const char* env = std::getenv("KILN_CACHE_DIR");
    compile_options.cache_dir = !options.cache_dir.empty() ? options.cache_dir : env ? env : "";
    if (!compile_options.cache_dir.empty()) {
      compile_options.cache_max_bytes = options.disk_cache_max_bytes > 0
                                            ? options.disk_cache_max_bytes
                                            : compiler::disk_cache_max_bytes_from_env();
    }
    // The IR fixes the Tensor types; the name and the result split do the rest.
    compile_options.cache_signature = cat(options.name, signature, " -> ", impl->num_user_results,
                                          " result(s), ", impl->written.size(), " written");
  }
  absl::StatusOr<std::unique_ptr<compiler::Executable>> exe =
      compiler::compile(fn, compile_options);
  if (!exe.ok()) {
    throw_if_error(absl::Status(exe.status().code(),
                                cat(options.name, ": compiling failed: ", exe.status().message())));
  }
  impl->executable = std::move(*exe);
  impl->polymorphic = impl->executable->polymorphic();
  impl->compile_seconds = seconds_since(t0);
  impl->bytes = impl->executable->info().object_bytes +
                static_cast<int64_t>(impl->executable->llvm_ir().size() + impl->traced_ir.size() +
                                     impl->optimized_ir.size()) +
                impl->executable->workspace_bytes();
  if (!dump_dir.empty()) {
    write_dump(dump_dir, dump_prefix + "llvm.ll", impl->executable->llvm_ir());
    write_dump(dump_dir, dump_prefix + "s", impl->executable->asm_text());
    write_dump(dump_dir, dump_prefix + "timings.txt", timings_text(*impl));
  }
  return impl;
}

struct TensorView {
  const Tensor* t;
  DType dtype() const { return t->dtype(); }
  const Shape& shape() const { return t->shape(); }
};

}  // namespace

struct FunctionCore::State {
  std::mutex mu;
  // A signature's entry appears when its first caller starts tracing; callers with the same
  // signature wait on the future while other signatures proceed. A failed build removes it.
  struct Entry {
    std::shared_future<std::shared_ptr<ConcreteImpl>> impl;
    std::shared_ptr<ConcreteImpl> ready_impl;  // guarded by mu; set once built
    std::atomic<uint64_t> last_use{0};
    bool ready = false;  // guarded by mu; only ready entries are evicted
    int64_t bytes = 0;   // guarded by mu; ConcreteImpl::bytes once ready
  };
  absl::flat_hash_map<Key, std::shared_ptr<Entry>> cache;
  // The entry the latest hit found, and its key: a call with the same signature compares its
  // key bytes with this one and skips hashing (guarded by mu; reset when the entry is evicted).
  std::shared_ptr<Entry> recent;
  std::string recent_key;
  std::atomic<uint64_t> clock{0};
  int64_t evictions = 0;  // guarded by mu
  int64_t bytes = 0;      // guarded by mu: the sum of the entries' bytes
  std::atomic<int> traces{0};
  std::atomic<int64_t> calls{0}, hits{0};
  std::vector<Signature> traced_signatures;  // in trace order, guarded by mu
  // reduce_retracing: the Tensor leaf types and structure of each trace, and the keys of the
  // generalized (unknown-dim) ones (guarded by mu).
  struct Traced {
    std::vector<ir::Type> types;
    std::string structure;
    Key key;
  };
  std::vector<Traced> traced_types, generalized;
  std::vector<TraceRecord> log;  // guarded by mu
  CacheStats totals;             // guarded by mu (times only)
};

namespace {

// Why `now` needs a trace, compared with the most similar signature traced before (same
// argument count, fewest differing nodes; ties go to the latest): the first node, in argument
// order with containers before their elements, that differs.
std::string retrace_reason(const std::vector<Signature>& seen, const Signature& now) {
  if (seen.empty()) return "first trace";
  auto find = [](const Signature& s, const std::string& path) -> const Leaf* {
    for (const Leaf& l : s.leaves) {
      if (l.path == path) return &l;
    }
    return nullptr;
  };
  const Signature* best = nullptr;
  size_t best_diff = SIZE_MAX;
  for (const Signature& s : seen) {
    if (s.args.size() != now.args.size()) continue;
    size_t diff = s.leaves.size() > now.leaves.size() ? s.leaves.size() - now.leaves.size() : 0;
    for (const Leaf& l : now.leaves) {
      const Leaf* o = find(s, l.path);
      diff += !o || !same_leaf(*o, l);
    }
    if (diff <= best_diff) best = &s, best_diff = diff;
  }
  if (!best) return cat("argument count ", seen.back().args.size(), " -> ", now.args.size());
  for (const Leaf& b : now.leaves) {
    const Leaf* a = find(*best, b.path);
    if (!a) return cat(b.path, ": new");
    if (same_leaf(*a, b)) continue;
    if ((a->kind == Leaf::kTensor) != (b.kind == Leaf::kTensor)) {
      return cat(b.path, ": Tensor <-> non-Tensor value");
    }
    if (a->kind != b.kind || a->what != b.what) {
      return cat(b.path, ": ", a->what, " ", a->value, " -> ", b.what, " ", b.value);
    }
    if (b.kind == Leaf::kTensor) {
      if (a->type.dtype != b.type.dtype) {
        return cat(b.path, ": dtype ", dtype_name(a->type.dtype), " -> ", dtype_name(b.type.dtype));
      }
      return cat(b.path, ": shape ", a->type.shape.to_string(), " -> ", b.type.shape.to_string());
    }
    return cat(b.path, ": ", b.what, " ", a->value, " -> ", b.value);
  }
  return "new signature";
}

}  // namespace

// Records a finished trace (with `mu` held).
static void record_trace(FunctionCore::State& st, const FunctionOptions& options, Signature sig,
                         const ConcreteImpl& impl, const std::string& reason) {
  TraceRecord rec;
  rec.index = static_cast<int>(st.log.size());
  rec.signature = signature_string(sig);
  rec.reason = reason.empty() ? retrace_reason(st.traced_signatures, sig) : reason;
  st.traced_signatures.push_back(std::move(sig));
  st.totals.trace_seconds += impl.trace_seconds;
  st.totals.pass_seconds += impl.pass_seconds;
  st.totals.compile_seconds += impl.compile_seconds;
  const compiler::CompileInfo& info = impl.executable->info();
  for (const auto& [name, seconds] : impl.pass_timings)
    st.totals.pass_seconds_by_name[name] += seconds;
  st.totals.lower_seconds += info.lower_ms / 1e3;
  st.totals.llvm_opt_seconds += info.optimize_ms / 1e3;
  st.totals.codegen_seconds += info.codegen_ms / 1e3;
  st.totals.link_seconds += info.link_ms / 1e3;
  st.totals.disk_hits += info.disk_hit;
  st.totals.disk_misses += info.disk_miss;
  st.totals.disk_writes += info.disk_write;
  st.totals.disk_evictions += info.disk_evictions;
  if (options.on_retrace == RetracePolicy::kWarn && options.warn_after_traces > 0 &&
      rec.index + 1 >= options.warn_after_traces) {
    std::cerr << "kiln: warning: " << rec.index + 1 << " traces of " << options.name
              << " so far; the latest " << rec.signature << " because " << rec.reason
              << ". Tracing is expensive: keep Tensor shapes and dtypes and the non-Tensor "
                 "arguments the same from call to call.\n";
  }
  if (const char* env = std::getenv("KILN_LOG_RETRACES"); env && *env && *env != '0') {
    std::cerr << "kiln: tracing " << options.name << rec.signature << " #" << rec.index << ": "
              << rec.reason << "\n";
  }
  st.log.push_back(std::move(rec));
}

CacheStats FunctionCore::cache_stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  CacheStats s = state_->totals;
  s.calls = state_->calls;
  s.hits = state_->hits;
  s.traces = state_->traces;
  s.evictions = state_->evictions;
  s.entries = static_cast<int64_t>(state_->cache.size());
  s.bytes = state_->bytes;
  return s;
}

std::vector<TraceRecord> FunctionCore::trace_log() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->log;
}

FunctionCore::FunctionCore(FunctionOptions options)
    : options_(std::move(options)), state_(std::make_unique<State>()) {
  if (options_.max_cache_entries < 0 || options_.max_cache_bytes < 0) {
    throw InvalidArgumentError(cat(options_.name, ": max_cache_entries (",
                                   options_.max_cache_entries, ") and max_cache_bytes (",
                                   options_.max_cache_bytes, ") must be >= 0 (0 = unbounded)"));
  }
  if (options_.disk_cache_max_bytes < 0) {
    throw InvalidArgumentError(cat(options_.name, ": disk_cache_max_bytes (",
                                   options_.disk_cache_max_bytes,
                                   ") must be >= 0 (0 = KILN_CACHE_MAX_BYTES or 1 GiB)"));
  }
}
FunctionCore::~FunctionCore() = default;

int FunctionCore::trace_count() const { return state_->traces; }

std::vector<Tensor> FunctionCore::call(std::span<const Tensor> args, std::string_view structure,
                                       DescribeThunk describe, TraceThunk thunk, const void* ctx,
                                       std::shared_ptr<const std::string>* result_structure) {
  // The key is built in place and looked up without a copy; a hit takes the lock once, copies
  // the compiled specialization's pointer and runs it.
  KeyBuilder key;
  key.put(static_cast<int64_t>(args.size()));
  const std::vector<TensorSpec>& signature = options_.input_signature;
  if (!signature.empty() && signature.size() != args.size()) {
    throw InvalidArgumentError(cat("kiln::function '", options_.name, "': called with ",
                                   args.size(), " Tensor argument(s) but input_signature has ",
                                   signature.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    const Tensor& t = args[i];
    if (t.is_symbolic()) {
      throw UnimplementedError(cat(options_.name,
                                   ": calling a kiln::function from inside "
                                   "another traced function is not supported yet"));
    }
    const Shape* shape = &t.shape();
    if (!signature.empty()) {
      const TensorSpec& spec = signature[i];
      if (t.dtype() != spec.dtype || !fits(*shape, spec.shape)) {
        throw InvalidArgumentError(cat("kiln::function '", options_.name, "': argument ", i, " is ",
                                       spec_string(t.dtype(), *shape), " but input_signature says ",
                                       spec_string(spec.dtype, spec.shape)));
      }
      shape = &spec.shape;  // every matching call shares the signature's key
    }
    key.put(static_cast<int64_t>(t.dtype()));
    key.put(shape->rank());
    key.append(shape->begin(), static_cast<size_t>(shape->rank()) * sizeof(int64_t));
  }
  key.append(structure.data(), structure.size());
  std::shared_ptr<ConcreteImpl> impl;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->calls.fetch_add(1, std::memory_order_relaxed);
    const std::string_view k = key.view();
    State::Entry* entry = nullptr;
    if (state_->recent && state_->recent_key == k) {
      entry = state_->recent.get();
    } else if (auto it = state_->cache.find(absl::string_view(k.data(), k.size()));
               it != state_->cache.end() && it->second->ready_impl) {
      entry = it->second.get();
      state_->recent = it->second;
      state_->recent_key.assign(k);
    }
    if (entry) {
      impl = entry->ready_impl;
      entry->last_use.store(state_->clock.fetch_add(1, std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
      state_->hits.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (!impl && options_.reduce_retracing && signature.empty()) {
    impl = generalized(args, structure, describe, thunk, ctx);
  }
  if (!impl) {
    impl = get_or_build(
        Key(key.view()),
        [&] {
          std::vector<ir::Type> types;
          for (size_t i = 0; i < args.size(); ++i) {
            types.push_back(ir::Type{args[i].dtype(),
                                     signature.empty() ? args[i].shape() : signature[i].shape});
          }
          return types;
        },
        describe, thunk, ctx, /*count_hit=*/true);
  }
  if (result_structure) *result_structure = impl->result_structure;
  return impl->run(args);
}

std::shared_ptr<ConcreteImpl> FunctionCore::generalized(std::span<const Tensor> args,
                                                        std::string_view structure,
                                                        DescribeThunk describe, TraceThunk thunk,
                                                        const void* ctx) {
  // Same dtypes and ranks, and `declared`'s known dims equal `t`'s.
  auto fits_all = [&](const std::vector<ir::Type>& declared) {
    if (declared.size() != args.size()) return false;
    for (size_t i = 0; i < args.size(); ++i) {
      if (declared[i].dtype != args[i].dtype() || !fits(args[i].shape(), declared[i].shape)) {
        return false;
      }
    }
    return true;
  };
  auto same_kind = [&](const std::vector<ir::Type>& traced) {
    if (traced.size() != args.size()) return false;
    for (size_t i = 0; i < args.size(); ++i) {
      if (traced[i].dtype != args[i].dtype() || traced[i].shape.rank() != args[i].shape().rank()) {
        return false;
      }
    }
    return true;
  };
  Key key;
  std::vector<ir::Type> types;
  bool reuses = false;  // a generalized specialization exists for this call
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    for (auto it = state_->generalized.rbegin(); it != state_->generalized.rend(); ++it) {
      if (it->structure == structure && fits_all(it->types)) {
        key = it->key;
        types = it->types;
        reuses = true;
        break;
      }
    }
    if (key.empty()) {
      // The latest trace of the same structure, dtypes and ranks: its differing dims go unknown.
      for (auto it = state_->traced_types.rbegin(); it != state_->traced_types.rend(); ++it) {
        if (it->structure != structure || !same_kind(it->types)) continue;
        types = it->types;
        for (size_t i = 0; i < args.size(); ++i) {
          for (int d = 0; d < types[i].shape.rank(); ++d) {
            if (types[i].shape[d] != args[i].shape()[d]) {
              std::vector<int64_t> dims = types[i].shape.dims();
              dims[d] = Shape::kUnknownDim;
              types[i].shape = Shape(dims);
            }
          }
        }
        std::vector<TypeView> views;
        for (const ir::Type& t : types) views.push_back(TypeView{&t});
        key = make_key(std::span<const TypeView>(views), structure);
        break;
      }
    }
  }
  if (key.empty()) return nullptr;
  // Why (only when it may trace): the concrete call against the traced signatures, then what it
  // generalizes to.
  std::string reason;
  if (!reuses) {
    std::vector<ir::Type> concrete;
    for (const Tensor& t : args) concrete.push_back(ir::Type{t.dtype(), t.shape()});
    const Signature now = describe_call(describe, ctx, concrete);
    std::lock_guard<std::mutex> lock(state_->mu);
    reason = retrace_reason(state_->traced_signatures, now);
  }
  for (size_t i = 0; !reuses && i < args.size(); ++i) {
    if (!(types[i].shape == args[i].shape())) {
      reason += cat("; generalized to ", types[i].shape.to_string());
      break;
    }
  }
  std::shared_ptr<ConcreteImpl> impl = get_or_build(
      key, [&] { return types; }, describe, thunk, ctx, /*count_hit=*/true, reason);
  if (reuses) return impl;
  std::lock_guard<std::mutex> lock(state_->mu);
  bool known = false;
  for (const State::Traced& g : state_->generalized) known |= g.key == key;
  if (!known) state_->generalized.push_back({types, std::string(structure), key});
  return impl;
}

std::shared_ptr<ConcreteImpl> FunctionCore::get_or_build(
    Key key, const std::function<std::vector<ir::Type>()>& types_fn, DescribeThunk describe,
    TraceThunk thunk, const void* ctx, bool count_hit, const std::string& reason) {
  std::optional<std::promise<std::shared_ptr<ConcreteImpl>>> promise;
  bool first_trace = false;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    auto it = state_->cache.find(key);
    if (it != state_->cache.end()) {
      std::shared_ptr<State::Entry> entry = it->second;
      lock.unlock();
      entry->last_use = ++state_->clock;
      if (count_hit) ++state_->hits;
      return entry->impl.get();  // waits while another thread builds it; rethrows its error
    }
    if (options_.on_retrace == RetracePolicy::kError && !state_->traced_signatures.empty()) {
      const std::vector<ir::Type> types = types_fn();
      const Signature sig = describe_call(describe, ctx, types);
      throw FailedPreconditionError(cat(options_.name, ": unexpected retrace for ",
                                        signature_string(sig), " (",
                                        retrace_reason(state_->traced_signatures, sig),
                                        "); this function's RetracePolicy is kError"));
    }
    first_trace = state_->traced_signatures.empty() && state_->cache.empty();
    auto entry = std::make_shared<State::Entry>();
    promise.emplace();
    entry->impl = promise->get_future().share();
    entry->last_use = ++state_->clock;
    state_->cache.emplace(key, std::move(entry));
  }
  // This thread builds; the lock is not held, so other signatures are served meanwhile.
  std::vector<ir::Type> types = types_fn();
  std::string sig_structure;
  Signature sig;
  std::shared_ptr<ConcreteImpl> impl;
  try {
    sig = describe_call(describe, ctx, types);
    impl = build(options_, types, signature_string(sig), thunk, ctx, first_trace);
    sig_structure = std::string(key_structure(key));
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cache.erase(key);  // a failed trace leaves the cache as it was
    }
    promise->set_exception(std::current_exception());
    throw;
  }
  promise->set_value(impl);
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    ++state_->traces;
    state_->traced_types.push_back({types, sig_structure, key});
    record_trace(*state_, options_, std::move(sig), *impl, reason);
    if (auto it = state_->cache.find(key); it != state_->cache.end()) {
      it->second->ready = true;
      it->second->ready_impl = impl;
      it->second->bytes = impl->bytes;
      state_->bytes += impl->bytes;
    }
    evict_if_needed(key);
  }
  return impl;
}

void FunctionCore::evict_if_needed(const std::string& keep) {
  // Least recently used first; entries still being built stay, and so does `keep` (the entry
  // just built: dropping it would make every call retrace). Compiled code lives on while a
  // ConcreteFunction or a running call holds it.
  auto over = [&] {
    return (options_.max_cache_entries > 0 &&
            static_cast<int64_t>(state_->cache.size()) > options_.max_cache_entries) ||
           (options_.max_cache_bytes > 0 && state_->bytes > options_.max_cache_bytes);
  };
  while (over()) {
    auto victim = state_->cache.end();
    for (auto it = state_->cache.begin(); it != state_->cache.end(); ++it) {
      if (!it->second->ready || it->first == keep) continue;
      if (victim == state_->cache.end() || it->second->last_use < victim->second->last_use) {
        victim = it;
      }
    }
    if (victim == state_->cache.end()) return;
    if (victim->second == state_->recent) state_->recent.reset();
    state_->bytes -= victim->second->bytes;
    state_->cache.erase(victim);
    ++state_->evictions;
  }
}

ConcreteFunction FunctionCore::concrete(std::span<const TensorSpec> specs, TraceThunk thunk,
                                        const void* ctx) {
  std::vector<SpecView> vs;
  for (const TensorSpec& s : specs) vs.push_back(SpecView{&s});
  Key key = make_key(std::span<const SpecView>(vs));
  return ConcreteFunction(get_or_build(
      std::move(key),
      [&] {
        std::vector<ir::Type> types;
        for (const TensorSpec& s : specs) types.push_back(ir::Type{s.dtype, s.shape});
        return types;
      },
      nullptr, thunk, ctx, /*count_hit=*/false));
}

}  // namespace internal

namespace nest {
std::string type_name(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(mangled);
}
}  // namespace nest

std::string ConcreteFunction::ir() const { return impl_->optimized_ir; }
std::string ConcreteFunction::traced_ir() const { return impl_->traced_ir; }
std::string ConcreteFunction::llvm_ir() const { return impl_->executable->llvm_ir(); }
std::string ConcreteFunction::asm_text() const { return impl_->executable->asm_text(); }
double ConcreteFunction::trace_seconds() const { return impl_->trace_seconds; }
double ConcreteFunction::pass_seconds() const { return impl_->pass_seconds; }
double ConcreteFunction::compile_seconds() const { return impl_->compile_seconds; }
MemoryStats ConcreteFunction::memory_stats() const {
  return impl_->executable ? impl_->executable->memory_stats() : MemoryStats{};
}
MemoryStats ConcreteFunction::memory_stats(const std::vector<Shape>& arg_shapes) const {
  return impl_->memory_stats(arg_shapes);
}
std::vector<Tensor> ConcreteFunction::operator()(std::span<const Tensor> args) const {
  return impl_->run(args);
}

}  // namespace kiln
