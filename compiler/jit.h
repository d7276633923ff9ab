// kiln — the LLVM back end behind a small interface with no LLVM types: target machines, the
// optimization pipeline, code generation and the process-wide ORC LLJIT. Implemented in jit.cc,
// the one translation unit that includes the (slow to compile) LLJIT/PassBuilder headers.
#pragma once

#include <memory>
#include <span>
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
// verifies it, runs the LLVM O<opt_level> pipeline on it in place (O2 for small functions at
// level 3) and generates `parts`.
// One TargetMachine per call: safe to call from several threads on different modules.
absl::StatusOr<CodegenOutput> optimize_and_codegen(LoweredModule& module,
                                                   const CompileOptions& options, unsigned parts);

// The assembly of already optimized LLVM IR text (`llvm_ir` as optimize_and_codegen returned it),
// generated with a TargetMachine configured from `options` as optimize_and_codegen configures
// it: the same code as the object file, produced on demand because it roughly doubles codegen time.
absl::StatusOr<std::string> asm_from_llvm_ir(const std::string& llvm_ir,
                                             const CompileOptions& options);

// A symbol the compiled code refers to by name whose address is known only in this process
// (e.g. a KernelCall object), defined for one jit_link.
struct ExternalSymbol {
  std::string name;
  const void* address = nullptr;
};

// Code linked into the process-wide JIT (created on first use), each in a JITDylib of its own, so
// the symbols of one object never collide with another's; unlinked when destroyed.
class JitCode {
 public:
  ~JitCode();
  JitCode(const JitCode&) = delete;
  JitCode& operator=(const JitCode&) = delete;

  // The address of the symbol asked for in jit_link.
  void* address() const { return address_; }

 private:
  friend absl::StatusOr<std::unique_ptr<JitCode>> jit_link(
      const std::string& object, const std::string& symbol,
      std::span<const ExternalSymbol> externals);
  struct Resource;
  JitCode();

  std::unique_ptr<Resource> resource_;
  void* address_ = nullptr;
};

// Links the relocatable `object` into a fresh JITDylib of the JIT (resolving `externals`,
// kiln_rt_* and the C library) and looks up `symbol` in it. The object holds no address of this
// process, so the same bytes link in any process (the on-disk cache relies on it).
absl::StatusOr<std::unique_ptr<JitCode>> jit_link(const std::string& object,
                                                  const std::string& symbol,
                                                  std::span<const ExternalSymbol> externals = {});

// The CPU name and feature string the host is compiled for (what an empty CompileOptions means).
std::string host_cpu_name();
std::string host_cpu_features();
// The LLVM release kiln is built with ("19.1.7").
std::string llvm_version();

}  // namespace kiln::compiler
