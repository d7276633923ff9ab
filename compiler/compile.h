// kiln — lowering IR to native code. The only interface the rest of kiln sees of LLVM; no
// LLVM header appears here or in any header that includes this one.
//
// Input: a verified Function whose types are fully defined, normally after the `fuse` pass.
// Each top-level op lowers as follows:
//   fusion / lone elementwise op → one loop nest over the result's elements, SIMD-vectorized,
//                                  broadcast index math hoisted out of the inner loop
//   const                        → constant data in the module
//   anything else (reduce_*, matmul, ...) → a call to kiln_rt_kernel_call (runtime/kernel_call.h)
// The entry point has the C signature
//   int32_t entry(const void* const* args, void* const* results, void* workspace)
// and returns 0 or an error code (then kiln_rt_last_error() has the message).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "ir/function.h"

namespace kiln::compiler {

struct CompileOptions {
  std::string cpu;       // empty = the host CPU (llvm::sys::getHostCPUName)
  std::string features;  // empty = the host's features; else "+avx2,+fma,..."
  int opt_level = 3;     // 0..3, the LLVM pipeline level
};

// Compiled native code for one Function with concrete types. Thread-safe to run() concurrently.
class Executable {
 public:
  virtual ~Executable() = default;
  // `args[i]` points to a dense row-major buffer of the i-th argument's type; `results[i]` to a
  // preallocated buffer of the i-th result's type. Results may not alias arguments.
  virtual absl::Status run(std::span<const void* const> args,
                           std::span<void* const> results) const = 0;
  // Bytes of scratch memory one run() needs for intermediate values.
  virtual int64_t workspace_bytes() const = 0;
  // The optimized LLVM IR and the assembly of what was compiled (kept for introspection).
  virtual const std::string& llvm_ir() const = 0;
  virtual const std::string& asm_text() const = 0;
};

// Lowers, optimizes for the target and JIT-compiles `fn`.
absl::StatusOr<std::unique_ptr<Executable>> compile(const ir::Function& fn,
                                                    const CompileOptions& options = {});

// The optimized LLVM IR / assembly `compile` would produce (for kiln-opt --emit=llvm|asm).
absl::StatusOr<std::string> emit_llvm_ir(const ir::Function& fn,
                                         const CompileOptions& options = {});
absl::StatusOr<std::string> emit_asm(const ir::Function& fn, const CompileOptions& options = {});

}  // namespace kiln::compiler
