// kiln — compile(): lower, optimize and JIT-link a Function; the Executable that runs it.
#include "compiler/compile.h"

#include <chrono>
#include <mutex>
#include <new>
#include <vector>

#include "compiler/disk_cache.h"
#include "compiler/jit.h"
#include "compiler/lower.h"
#include "ir/printer.h"
#include "runtime/kernel_call.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

using EntryFn = int32_t (*)(const void* const* args, void* const* results, void* workspace);

constexpr std::align_val_t kWorkspaceAlign{64};

struct AlignedDelete {
  void operator()(void* p) const { ::operator delete(p, kWorkspaceAlign); }
};
using Workspace = std::unique_ptr<void, AlignedDelete>;

// Workspaces are reused across runs so that repeated calls do not page-fault on fresh memory;
// each concurrent run takes its own from a free list.
class WorkspacePool {
 public:
  explicit WorkspacePool(int64_t bytes) : bytes_(bytes) {}

  Workspace take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        Workspace w = std::move(free_.back());
        free_.pop_back();
        return w;
      }
    }
    return Workspace(::operator new(static_cast<size_t>(bytes_), kWorkspaceAlign, std::nothrow));
  }
  void give_back(Workspace w) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(w));
  }

 private:
  const int64_t bytes_;
  std::mutex mu_;
  std::vector<Workspace> free_;
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
        workspaces_(lowered->workspace_bytes),
        llvm_ir_(std::move(llvm_ir)) {
    for (const ir::Type& t : arg_types_) memory_.argument_bytes += byte_size(t);
    for (const ir::Type& t : result_types_) memory_.result_bytes += byte_size(t);
    memory_.workspace_bytes = workspace_bytes_;
    memory_.workspace_bytes_without_reuse = lowered->workspace_bytes_without_reuse;
    memory_.peak_bytes = memory_.result_bytes + memory_.workspace_bytes;
  }

  absl::Status run(std::span<const void* const> args,
                   std::span<void* const> results) const override {
    KILN_RETURN_IF_ERROR(check_buffers("argument", args, arg_types_));
    KILN_RETURN_IF_ERROR(check_buffers("result", results, result_types_));
    Workspace workspace;
    if (workspace_bytes_ > 0) {
      workspace = workspaces_.take();
      if (!workspace) {
        return absl::ResourceExhaustedError(
            cat("cannot allocate a workspace of ", workspace_bytes_, " bytes"));
      }
    }
    const int32_t rc = entry_(args.data(), results.data(), workspace.get());
    if (workspace) workspaces_.give_back(std::move(workspace));
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
  MemoryStats memory_stats() const override { return memory_; }
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

absl::StatusOr<std::unique_ptr<Executable>> compile(const ir::Function& fn,
                                                    const CompileOptions& options) {
  // Each object links into a JITDylib of its own, so the entry symbol need not be unique.
  const std::string symbol = entry_symbol(fn.name(), "");
  // Lowering also creates the KernelCall objects the code refers to, so it runs on a disk hit
  // too (the module it builds is then dropped: a few hundred microseconds at most).
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<LoweredModule> lowered, lower_function(fn, symbol));
  const std::vector<ExternalSymbol> externals = kernel_call_symbols(*lowered);
  CompileInfo info;
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
        return std::make_unique<JitExecutable>(std::move(lowered), *std::move(code),
                                               std::move(found.entry.llvm_ir), options, info);
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
  return std::make_unique<JitExecutable>(std::move(lowered), std::move(code),
                                         std::move(output.llvm_ir), options, info);
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
