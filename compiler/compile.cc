// kiln — compile(): lower, optimize and JIT-link a Function; the Executable that runs it.
#include "compiler/compile.h"

#include <chrono>
#include <mutex>
#include <new>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "compiler/disk_cache.h"
#include "compiler/jit.h"
#include "compiler/lower.h"
#include "compiler/resolve_shapes.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "passes/buffer_plan.h"
#include "runtime/kernel_call.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

using EntryFn = int32_t (*)(const void* const* args, void* const* results, void* workspace,
                            const int64_t* dims);

constexpr std::align_val_t kWorkspaceAlign{64};

struct AlignedDelete {
  void operator()(void* p) const { ::operator delete(p, kWorkspaceAlign); }
};
using Workspace = std::unique_ptr<void, AlignedDelete>;

// Workspaces are reused across runs so that repeated calls do not page-fault on fresh memory;
// each concurrent run takes its own from a free list. A run that needs more than a free
// workspace holds (a polymorphic function called with larger shapes) replaces it by a larger one.
class WorkspacePool {
 public:
  struct Sized {
    Workspace w;
    int64_t bytes = 0;
  };

  Sized take(int64_t bytes) {
    Sized s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        s = std::move(free_.back());
        free_.pop_back();
      }
    }
    if (s.bytes < bytes || !s.w) {
      s.w = Workspace(::operator new(static_cast<size_t>(bytes), kWorkspaceAlign, std::nothrow));
      s.bytes = s.w ? bytes : 0;
    }
    return s;
  }
  void give_back(Sized s) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(s));
  }

 private:
  std::mutex mu_;
  std::vector<Sized> free_;
};

// True if a value of `fn` (in any region) has a type with unknown dims.
bool has_unknown_dims(const ir::Function& fn) {
  bool unknown = false;
  for (const ir::Type& t : fn.argument_types()) unknown |= !t.shape.is_fully_defined();
  ir::walk(fn.body(), [&](const ir::Op& op) {
    for (int i = 0; i < op.num_results(); ++i) {
      unknown |= !op.result(i)->type().shape.is_fully_defined();
    }
  });
  return unknown;
}

// What a polymorphic executable keeps to bind shapes: its own copy of the function (the one it
// was lowered from) and the table layout.
struct Polymorphic {
  std::unique_ptr<ir::Module> module;
  const ir::Function* fn = nullptr;
  std::vector<LoweredModule::TableEntry> dims_entries;
  std::vector<LoweredModule::WorkspaceEntry> workspace_entries;
  int32_t table_size = 0;
};

int64_t byte_size(const ir::Type& type) {
  return type.shape.num_elements() * dtype_size(type.dtype);
}

class JitExecutable final : public Executable {
 public:
  JitExecutable(std::unique_ptr<LoweredModule> lowered, std::unique_ptr<JitCode> code,
                std::string llvm_ir, const CompileOptions& options, const CompileInfo& info)
      : options_(options),
        info_(info),
        code_(std::move(code)),
        entry_(reinterpret_cast<EntryFn>(code_->address())),
        kernel_calls_(std::move(lowered->kernel_calls)),
        arg_types_(std::move(lowered->arg_types)),
        result_types_(std::move(lowered->result_types)),
        error_messages_(std::move(lowered->error_messages)),
        workspace_bytes_(lowered->workspace_bytes),
        llvm_ir_(std::move(llvm_ir)) {
    // (Unknown dims count 0 here; a polymorphic call's sizes are in its ShapeBinding.)
    for (const ir::Type& t : arg_types_)
      memory_.argument_bytes += std::max<int64_t>(0, byte_size(t));
    for (const ir::Type& t : result_types_)
      memory_.result_bytes += std::max<int64_t>(0, byte_size(t));
    memory_.workspace_bytes = workspace_bytes_;
    memory_.workspace_bytes_without_reuse = lowered->workspace_bytes_without_reuse;
    memory_.peak_bytes = memory_.result_bytes + memory_.workspace_bytes;
    if (lowered->polymorphic) {
      poly_ = std::make_unique<Polymorphic>();
      poly_->dims_entries = std::move(lowered->dims_entries);
      poly_->workspace_entries = std::move(lowered->workspace_entries);
      poly_->table_size = lowered->table_size;
    }
  }

  // Takes the function the code was lowered from (a polymorphic executable resolves shapes on it).
  void keep_function(std::unique_ptr<ir::Module> module) {
    if (!poly_) return;
    poly_->module = std::move(module);
    poly_->fn = poly_->module->functions().front().get();
  }

  absl::Status run(std::span<const void* const> args,
                   std::span<void* const> results) const override {
    if (poly_) {
      return absl::FailedPreconditionError(
          "a function with unknown dims runs through bind() and run_bound()");
    }
    KILN_RETURN_IF_ERROR(check_buffers("argument", args, arg_types_));
    KILN_RETURN_IF_ERROR(check_buffers("result", results, result_types_));
    return run_entry(args, results, workspace_bytes_, nullptr);
  }

  bool polymorphic() const override { return poly_ != nullptr; }

  absl::StatusOr<std::shared_ptr<const ShapeBinding>> bind(
      std::span<const Shape> arg_shapes) const override {
    if (!poly_) {
      auto b = std::make_shared<ShapeBinding>();
      if (arg_shapes.size() != arg_types_.size()) {
        return absl::InvalidArgumentError(
            cat("expected ", arg_types_.size(), " argument shape(s) but got ", arg_shapes.size()));
      }
      for (size_t i = 0; i < arg_shapes.size(); ++i) {
        if (!(arg_shapes[i] == arg_types_[i].shape)) {
          return absl::InvalidArgumentError(cat("argument ", i, " has shape ", arg_shapes[i],
                                                " but its type is ", arg_types_[i].to_string()));
        }
      }
      b->arg_shapes.assign(arg_shapes.begin(), arg_shapes.end());
      for (const ir::Type& t : result_types_) b->result_shapes.push_back(t.shape);
      b->workspace_bytes = workspace_bytes_;
      b->memory = memory_;
      return std::shared_ptr<const ShapeBinding>(std::move(b));
    }
    // The key: rank and dims of each argument, built on the stack for a few small arguments.
    absl::InlinedVector<int64_t, 16> key;
    for (const Shape& s : arg_shapes) {
      key.push_back(s.rank());
      key.insert(key.end(), s.begin(), s.end());
    }
    const std::string_view key_view(reinterpret_cast<const char*>(key.data()),
                                    key.size() * sizeof(int64_t));
    {
      std::lock_guard<std::mutex> lock(bind_mu_);
      if (last_binding_ && last_key_ == key_view) return last_binding_;
      auto it = bindings_.find(absl::string_view(key_view.data(), key_view.size()));
      if (it != bindings_.end()) {
        last_binding_ = it->second;
        last_key_.assign(key_view);
        return it->second;
      }
    }
    KILN_ASSIGN_OR_RETURN(auto types, resolve_shapes(*poly_->fn, arg_shapes));
    auto b = std::make_shared<ShapeBinding>();
    b->arg_shapes.assign(arg_shapes.begin(), arg_shapes.end());
    auto type_of = [&](const ir::Value* v) -> const ir::Type& {
      auto it = types.find(v);
      return it == types.end() ? v->type() : it->second;
    };
    for (const ir::Value* v : poly_->fn->body().terminator()->operands()) {
      b->result_shapes.push_back(type_of(v).shape);
    }
    b->table.assign(poly_->table_size, 0);
    for (const LoweredModule::TableEntry& e : poly_->dims_entries) {
      const Shape& s = type_of(e.value).shape;
      std::copy(s.begin(), s.end(), b->table.begin() + e.slot);
    }
    // Buffers sized at run time, each as its largest value for these shapes, after the
    // fixed-size ones; without buffer-plan's sharing each value with unknown dims would have
    // its own (the fixed-size values are in memory_.workspace_bytes_without_reuse).
    int64_t ws = workspace_bytes_;
    int64_t without_reuse = memory_.workspace_bytes_without_reuse;
    for (const LoweredModule::WorkspaceEntry& e : poly_->workspace_entries) {
      b->table[e.slot] = ws;
      int64_t bytes = 0;
      for (const ir::Value* v : e.values) {
        const int64_t value_bytes = passes::workspace_bytes(type_of(v));
        bytes = std::max(bytes, value_bytes);
        if (!v->type().shape.is_fully_defined()) without_reuse += value_bytes;
      }
      ws += bytes;
    }
    b->workspace_bytes = ws;
    MemoryStats& m = b->memory;
    for (size_t i = 0; i < arg_shapes.size(); ++i) {
      m.argument_bytes += arg_shapes[i].num_elements() * dtype_size(arg_types_[i].dtype);
    }
    for (size_t i = 0; i < b->result_shapes.size(); ++i) {
      m.result_bytes += b->result_shapes[i].num_elements() * dtype_size(result_types_[i].dtype);
    }
    m.workspace_bytes = ws;
    m.workspace_bytes_without_reuse = without_reuse;
    m.peak_bytes = m.result_bytes + m.workspace_bytes;
    std::lock_guard<std::mutex> lock(bind_mu_);
    if (bindings_.size() >= kMaxBindings) bindings_.clear();
    last_binding_ = bindings_.emplace(std::string(key_view), std::move(b)).first->second;
    last_key_.assign(key_view);
    return last_binding_;
  }

  absl::Status run_bound(std::span<const void* const> args, std::span<void* const> results,
                         const ShapeBinding& binding) const override {
    if (args.size() != arg_types_.size() || results.size() != result_types_.size()) {
      return absl::InvalidArgumentError(cat("expected ", arg_types_.size(), " argument(s) and ",
                                            result_types_.size(), " result(s) but got ",
                                            args.size(), " and ", results.size()));
    }
    return run_entry(args, results, binding.workspace_bytes, binding.table.data());
  }

  absl::Status run_entry(std::span<const void* const> args, std::span<void* const> results,
                         int64_t workspace_bytes, const int64_t* table) const {
    WorkspacePool::Sized workspace;
    if (workspace_bytes > 0) {
      workspace = workspaces_.take(workspace_bytes);
      if (!workspace.w) {
        return absl::ResourceExhaustedError(
            cat("cannot allocate a workspace of ", workspace_bytes, " bytes"));
      }
    }
    const int32_t rc = entry_(args.data(), results.data(), workspace.w.get(), table);
    if (workspace.w) workspaces_.give_back(std::move(workspace));
    if (rc == 0) return absl::OkStatus();
    if (rc >= kCompiledErrorBase &&
        rc - kCompiledErrorBase < static_cast<int32_t>(error_messages_.size())) {
      return absl::InvalidArgumentError(error_messages_[rc - kCompiledErrorBase]);
    }
    const char* message = kiln_rt_last_error();
    const auto code = rc > 0 && rc <= static_cast<int32_t>(absl::StatusCode::kUnauthenticated)
                          ? static_cast<absl::StatusCode>(rc)
                          : absl::StatusCode::kInternal;
    return absl::Status(code, message ? message : "compiled code failed");
  }

  int64_t workspace_bytes() const override { return workspace_bytes_; }
  using Executable::memory_stats;
  MemoryStats memory_stats() const override {
    if (!poly_) return memory_;
    std::lock_guard<std::mutex> lock(bind_mu_);
    return last_binding_ ? last_binding_->memory : memory_;
  }
  const CompileInfo& info() const override { return info_; }
  const std::string& llvm_ir() const override { return llvm_ir_; }
  // Generated on first use from the optimized IR (it would double the codegen time of compile).
  const std::string& asm_text() const override {
    std::call_once(asm_once_, [this] {
      absl::StatusOr<std::string> text = asm_from_llvm_ir(llvm_ir_, options_);
      asm_text_ =
          text.ok() ? *std::move(text) : cat("; error: ", std::string(text.status().message()));
    });
    return asm_text_;
  }

 private:
  template <typename T>
  static absl::Status check_buffers(std::string_view what, std::span<T> buffers,
                                    const std::vector<ir::Type>& types) {
    if (buffers.size() != types.size()) {
      return absl::InvalidArgumentError(
          cat("expected ", types.size(), " ", what, "(s) but got ", buffers.size()));
    }
    for (size_t i = 0; i < buffers.size(); ++i) {
      if (!buffers[i] && byte_size(types[i]) > 0) {
        return absl::InvalidArgumentError(
            cat(what, " #", i, " (", types[i].to_string(), ") is a null pointer"));
      }
    }
    return absl::OkStatus();
  }

  const CompileOptions options_;
  const CompileInfo info_;
  std::unique_ptr<JitCode> code_;
  EntryFn entry_;
  // The compiled code holds their addresses.
  std::vector<std::unique_ptr<kernels::KernelCall>> kernel_calls_;
  std::vector<ir::Type> arg_types_;
  std::vector<ir::Type> result_types_;
  std::vector<std::string> error_messages_;
  int64_t workspace_bytes_;
  MemoryStats memory_;
  mutable WorkspacePool workspaces_;
  std::unique_ptr<Polymorphic> poly_;
  // Bindings per argument-shape tuple (dropped all at once past kMaxBindings).
  static constexpr size_t kMaxBindings = 1024;
  mutable std::mutex bind_mu_;
  mutable absl::flat_hash_map<std::string, std::shared_ptr<const ShapeBinding>> bindings_;
  // The latest binding found and its key: a call with the same shapes skips hashing.
  mutable std::shared_ptr<const ShapeBinding> last_binding_;
  mutable std::string last_key_;
  std::string llvm_ir_;
  mutable std::once_flag asm_once_;
  mutable std::string asm_text_;
};

// "kiln_<function name>" with characters outside [A-Za-z0-9_] replaced, plus `suffix`.
std::string entry_symbol(const std::string& fn_name, const std::string& suffix) {
  std::string out = "kiln_";
  for (char c : fn_name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  return out + suffix;
}

absl::StatusOr<CodegenOutput> lower_and_codegen(const ir::Function& fn,
                                                const CompileOptions& options, unsigned parts) {
  KILN_ASSIGN_OR_RETURN(auto lowered, lower_function(fn, entry_symbol(fn.name(), "")));
  return optimize_and_codegen(*lowered, options, parts);
}

std::vector<ExternalSymbol> kernel_call_symbols(const LoweredModule& lowered) {
  std::vector<ExternalSymbol> out;
  for (size_t i = 0; i < lowered.kernel_calls.size(); ++i) {
    out.push_back({kernel_call_symbol(static_cast<int>(i)), lowered.kernel_calls[i].get()});
  }
  return out;
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

absl::StatusOr<MemoryStats> Executable::memory_stats(std::span<const Shape> arg_shapes) const {
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<const ShapeBinding> binding, bind(arg_shapes));
  return binding->memory;
}

absl::StatusOr<std::unique_ptr<Executable>> compile(const ir::Function& fn,
                                                    const CompileOptions& options) {
  // Each object links into a JITDylib of its own, so the entry symbol need not be unique.
  const std::string symbol = entry_symbol(fn.name(), "");
  // A polymorphic function is lowered from a copy the executable keeps (to resolve shapes on).
  std::unique_ptr<ir::Module> copy;
  if (has_unknown_dims(fn)) {
    absl::StatusOr<std::unique_ptr<ir::Module>> parsed =
        ir::parse_module(ir::print(fn), {.filename = fn.name() + ".ir"});
    if (!parsed.ok() || (*parsed)->functions().size() != 1) {
      return absl::InternalError(cat("@", fn.name(), ": cannot copy the function: ",
                                     parsed.ok() ? "no function" : parsed.status().message()));
    }
    copy = *std::move(parsed);
  }
  const ir::Function& source = copy ? *copy->functions().front() : fn;
  // Lowering also creates the KernelCall objects the code refers to, so it runs on a disk hit
  // too (the module it builds is then dropped: a few hundred microseconds at most).
  const auto lower_start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LoweredModule> lowered, lower_function(source, symbol));
  const std::vector<ExternalSymbol> externals = kernel_call_symbols(*lowered);
  CompileInfo info;
  info.lower_ms = ms_since(lower_start);
  std::string key;
  if (!options.cache_dir.empty()) {
    key = disk_cache_key(ir::print(fn), options.cache_signature, options);
    DiskCacheLookup found = disk_cache_read(options.cache_dir, key);
    if (found.result == DiskCacheLookup::kHit) {
      const auto start = std::chrono::steady_clock::now();
      absl::StatusOr<std::unique_ptr<JitCode>> code =
          jit_link(found.entry.object, found.entry.entry_symbol, externals);
      // An object that does not link (damaged in a way the checksum cannot see) is recompiled
      // and replaced below.
      if (code.ok()) {
        info.disk_hit = true;
        info.object_bytes = static_cast<int64_t>(found.entry.object.size());
        info.link_ms = ms_since(start);
        auto exe = std::make_unique<JitExecutable>(std::move(lowered), *std::move(code),
                                                   std::move(found.entry.llvm_ir), options, info);
        exe->keep_function(std::move(copy));
        return exe;
      }
    }
    info.disk_miss = true;
  }
  KILN_ASSIGN_OR_RETURN(CodegenOutput output,
                        optimize_and_codegen(*lowered, options, kEmitLlvmIr | kEmitObject));
  info.optimize_ms = output.optimize_ms;
  info.codegen_ms = output.codegen_ms;
  info.object_bytes = static_cast<int64_t>(output.object.size());
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<JitCode> code, jit_link(output.object, symbol, externals));
  info.link_ms = ms_since(start);
  if (!options.cache_dir.empty()) {
    info.disk_write = disk_cache_write(
        options.cache_dir, key, DiskCacheEntry{symbol, std::move(output.object), output.llvm_ir});
    if (info.disk_write) {
      info.disk_evictions = disk_cache_trim(options.cache_dir, options.cache_max_bytes,
                                            disk_cache_path(options.cache_dir, key));
    }
  }
  auto exe = std::make_unique<JitExecutable>(std::move(lowered), std::move(code),
                                             std::move(output.llvm_ir), options, info);
  exe->keep_function(std::move(copy));
  return exe;
}

absl::StatusOr<std::string> emit_llvm_ir(const ir::Function& fn, const CompileOptions& options) {
  KILN_ASSIGN_OR_RETURN(CodegenOutput output, lower_and_codegen(fn, options, kEmitLlvmIr));
  return std::move(output.llvm_ir);
}

absl::StatusOr<std::string> emit_asm(const ir::Function& fn, const CompileOptions& options) {
  KILN_ASSIGN_OR_RETURN(CodegenOutput output, lower_and_codegen(fn, options, kEmitAsm));
  return std::move(output.asm_text);
}

}  // namespace kiln::compiler
