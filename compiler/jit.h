// kiln — the LLVM back end behind a small interface with no LLVM types: target machines, the
// optimization pipeline, code generation and the process-wide ORC LLJIT. Implemented in jit.cc,
// the one translation unit that includes the (slow to compile) LLJIT/PassBuilder headers.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "compiler/compile.h"

namespace kiln::compiler {

struct LoweredModule;  // compiler/lower.h

// What optimize_and_codegen should produce; OR them together.
enum CodegenParts : unsigned {
  kEmitLlvmIr = 1,  // the optimized LLVM IR as text
  kEmitAsm = 2,     // assembly text (codegen of a clone of the module)
  kEmitObject = 4,  // a relocatable object file, for jit_link
};

struct CodegenOutput {
  std::string llvm_ir;
  std::string asm_text;
  std::string object;
  // Wall-clock milliseconds of the phases, for introspection and benchmarks.
  double optimize_ms = 0;
  double codegen_ms = 0;
};

// Targets `module` at options.cpu/features (the host when empty; code model small, PIC),
// verifies it, runs the LLVM O<opt_level> pipeline on it in place and generates `parts`.
// One TargetMachine per call: safe to call from several threads on different modules.
absl::StatusOr<CodegenOutput> optimize_and_codegen(LoweredModule& module,
                                                   const CompileOptions& options, unsigned parts);

// The assembly of already optimized LLVM IR text (`llvm_ir` as optimize_and_codegen returned it),
// generated with a TargetMachine configured from `options` as optimize_and_codegen configures
// it: the same code as the object file, produced on demand because it roughly doubles codegen time.
absl::StatusOr<std::string> asm_from_llvm_ir(const std::string& llvm_ir,
                                             const CompileOptions& options);

// Code linked into the process-wide JIT (created on first use); unlinked when destroyed.
class JitCode {
 public:
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  // The address of the symbol asked for in jit_link.
  void* address() const { return address_; }

 private:
  friend absl::StatusOr<std::unique_ptr<JitCode>> jit_link(const std::string& object,
                                                           const std::string& symbol);
  struct Resource;
  JitCode();

  std::unique_ptr<Resource> resource_;
  void* address_ = nullptr;
};

// Links the relocatable `object` into the JIT (resolving kiln_rt_* and the C library) and looks
// up `symbol`, which must be unique in the process.
absl::StatusOr<std::unique_ptr<JitCode>> jit_link(const std::string& object,
                                                  const std::string& symbol);

// The CPU name and feature string the host is compiled for (what an empty CompileOptions means).
std::string host_cpu_name();

}  // namespace kiln::compiler
