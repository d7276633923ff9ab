// kiln — lowering IR to native code. The only interface the rest of kiln sees of LLVM; no
// LLVM header appears here or in any header that includes this one.
//
// Input: a verified Function, normally after the `fuse` pass. Types with unknown dims ('?')
// give polymorphic code (Executable::bind).
// Each top-level op lowers as follows:
//   fusion / lone elementwise op → one loop nest over the result's elements, SIMD-vectorized,
//                                  broadcast index math hoisted out of the inner loop
//   const                        → constant data in the module
//   fusion {kind = "matmul"}, small 2-D float32 matmul → generated loops or sgemm panels with
//                                  the epilogue (lower_matmul.cc)
//   anything else (reduce_*, matmul, ...) → a call to kiln_rt_kernel_call (runtime/kernel_call.h)
// The entry point has the C signature
//   int32_t entry(const void* const* args, void* const* results, void* workspace,
//                 const int64_t* dims)
// and returns 0 or an error code (then kiln_rt_last_error() has the message).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"
#include "ir/types.h"

namespace kiln::compiler {

// The default bound of an on-disk cache directory's size (KILN_CACHE_MAX_BYTES): 1 GiB.
inline constexpr int64_t kDefaultDiskCacheMaxBytes = int64_t{1} << 30;

struct CompileOptions {
  std::string cpu;       // empty = the host CPU (llvm::sys::getHostCPUName)
  std::string features;  // empty = the host's features; else "+avx2,+fma,..."
  // 0..3, the LLVM pipeline level (3: the O2 IR pipeline for functions with at most 1 MiB of
  // arguments, results and workspace, where compile time dominates; see jit.cc)
  int opt_level = 3;
  // The on-disk cache of compiled objects (see disk_cache.h): empty = none. With a
  // directory, compile() first looks for an object stored under the key of (the function's IR,
  // `cache_signature`, the target, versions, thread count) and links it instead of running
  // LLVM; on a miss it compiles and stores the object.
  std::string cache_dir;
  std::string cache_signature;  // the caller's description of the signature, part of the key
  // After storing an object, the directory's kiln entries are trimmed to at most this many
  // bytes, removing the least recently used (see disk_cache_trim); must be > 0.
  int64_t cache_max_bytes = kDefaultDiskCacheMaxBytes;
};

// What compile() did, for statistics.
struct CompileInfo {
  bool disk_hit = false;       // linked an object from the on-disk cache
  bool disk_miss = false;      // looked in the on-disk cache and found no valid entry
  bool disk_write = false;     // stored the object in the on-disk cache
  int64_t disk_evictions = 0;  // entries removed from the on-disk cache to respect its bound
  // Bytes of the relocatable object: the code and the constants it holds.
  int64_t object_bytes = 0;
  // Milliseconds lowering to LLVM IR, in the LLVM optimization pipeline, in instruction
  // selection and object emission, and JIT-linking (optimize and codegen are 0 on a disk hit).
  double lower_ms = 0, optimize_ms = 0, codegen_ms = 0, link_ms = 0;
};

// The memory one run of a compiled function uses, in bytes.
struct MemoryStats {
  int64_t argument_bytes = 0;  // the arguments' buffers (the caller's)
  int64_t result_bytes = 0;    // the results' buffers (allocated per call)
  // Scratch for intermediate values, with the buffer-plan pass's sharing of slots between
  // values that are never live at the same time ...
  int64_t workspace_bytes = 0;
  // ... and what it would be if every intermediate value had a slot of its own.
  int64_t workspace_bytes_without_reuse = 0;
  // The most one call allocates at once: results + workspace (constants live in the code).
  int64_t peak_bytes = 0;
};

// The run-time shapes of one call of a polymorphic Executable (see Executable::bind).
struct ShapeBinding {
  std::vector<Shape> arg_shapes;
  std::vector<Shape> result_shapes;
  std::vector<int64_t> table;   // the dims table the compiled code reads
  int64_t workspace_bytes = 0;  // scratch memory this call needs
  MemoryStats memory;           // the memory a call with these shapes uses
};

// Compiled native code for one Function. Thread-safe to run() concurrently.
//
// A function whose types have unknown dims ('?') compiles once into polymorphic code: before
// running it with argument shapes, bind() infers every unknown dim from them (type inference
// over the function, cached per argument-shape tuple) and run_bound() passes the dims to the
// code, which sizes its loops, copies, kernel calls and workspace from them (the workspace's
// buffer-plan slots that hold values of unknown dims are sized per binding, each as its largest
// member). Its MemoryStats are those of one binding (see memory_stats()).
class Executable {
 public:
  virtual ~Executable() = default;
  // `args[i]` points to a dense row-major buffer of the i-th argument's type; `results[i]` to a
  // preallocated buffer of the i-th result's type. Results may not alias arguments. For a
  // polymorphic executable use bind() and run_bound() instead (run() is then an error).
  virtual absl::Status run(std::span<const void* const> args,
                           std::span<void* const> results) const = 0;
  // True if the function has unknown dims.
  virtual bool polymorphic() const { return false; }
  // The shapes of a call with `arg_shapes` (one per argument, fully defined, fitting the
  // argument types). The binding stays valid as long as the Executable.
  virtual absl::StatusOr<std::shared_ptr<const ShapeBinding>> bind(
      std::span<const Shape> arg_shapes) const = 0;
  // run() with the shapes of `binding` (from this Executable's bind()): `results[i]` holds
  // binding.result_shapes[i].
  virtual absl::Status run_bound(std::span<const void* const> args, std::span<void* const> results,
                                 const ShapeBinding& binding) const = 0;
  // Bytes of scratch memory one run() needs for intermediate values (for a polymorphic
  // executable: those of fixed size; each call adds its binding's).
  virtual int64_t workspace_bytes() const = 0;
  // The memory one run uses. For a polymorphic executable: that of the latest bind() (the
  // shapes of the most recent call), or, before any, the fixed-size part (unknown dims as 0).
  virtual MemoryStats memory_stats() const = 0;
  // The memory a call with `arg_shapes` uses (as bind(); errors are bind()'s).
  absl::StatusOr<MemoryStats> memory_stats(std::span<const Shape> arg_shapes) const;
  // The optimized LLVM IR and the assembly of what was compiled (kept for introspection).
  virtual const std::string& llvm_ir() const = 0;
  virtual const std::string& asm_text() const = 0;
  virtual const CompileInfo& info() const = 0;
};

// Lowers, optimizes for the target and JIT-compiles `fn`.
absl::StatusOr<std::unique_ptr<Executable>> compile(const ir::Function& fn,
                                                    const CompileOptions& options = {});

// The optimized LLVM IR / assembly `compile` would produce (for kiln-opt --emit=llvm|asm).
absl::StatusOr<std::string> emit_llvm_ir(const ir::Function& fn,
                                         const CompileOptions& options = {});
absl::StatusOr<std::string> emit_asm(const ir::Function& fn, const CompileOptions& options = {});

}  // namespace kiln::compiler
