// kiln — private interface of the lowering (compiler/lower*.cc); included only by compiler/*.cc.
//
// Lowering turns one ir::Function into an LLVM module holding the entry function
//   int32_t entry(const void* const* args, void* const* results, void* workspace,
//                 const int64_t* dims)
// (see compile.h; `dims` is the dims table of a function with unknown dims, else unused). It is
// target-independent; jit.cc sets the triple/data layout, optimizes and generates code. LLVM types
// appear here only as forward declarations.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"
#include "runtime/kernel_call.h"

namespace llvm {
class LLVMContext;
class Module;
class Function;
class IRBuilderBase;
class Value;
}  // namespace llvm

namespace kiln::compiler {

// An LLVM module produced from one ir::Function, with what its code refers to.
struct LoweredModule {
  LoweredModule();
  ~LoweredModule();
  LoweredModule(const LoweredModule&) = delete;
  LoweredModule& operator=(const LoweredModule&) = delete;

  // Declared first so it is destroyed last: `module` lives in `context`.
  std::unique_ptr<llvm::LLVMContext> context;
  std::unique_ptr<llvm::Module> module;
  std::string entry_name;       // the external symbol of the entry function
  int64_t workspace_bytes = 0;  // the buffers of fixed size (those of `workspace_entries` follow)
  // The workspace every value of fixed size would need with a slot of its own (no buffer-plan
  // sharing); the values with unknown dims in `workspace_entries` add their run-time bytes.
  int64_t workspace_bytes_without_reuse = 0;
  int num_args = 0;
  int num_results = 0;
  std::vector<ir::Type> arg_types;
  std::vector<ir::Type> result_types;
  // One per op run through kiln_rt_kernel_call. The code refers to kernel_calls[i] through the
  // external symbol kernel_call_symbol(i), defined at link time as its address, so whoever links
  // the code must keep them alive (the Executable takes them over).
  std::vector<std::unique_ptr<kernels::KernelCall>> kernel_calls;
  // A function with unknown dims ('?') reads them at run time from the dims table (the entry's
  // `dims`): for each value in `dims_entries`, its dims from table[slot]; for each buffer in
  // `workspace_entries`, its workspace byte offset from table[slot]. Such a buffer holds
  // `values` (one value, or the members of a buffer-plan slot, never live at the same time, at
  // least one with unknown dims); it is as large as the largest of them for the run-time shapes,
  // 64-byte aligned, and the buffers follow the `workspace_bytes` of fixed-size ones, in this
  // order. Empty for functions of fully defined types.
  struct TableEntry {
    const ir::Value* value;
    int32_t slot;
  };
  struct WorkspaceEntry {
    int32_t slot;
    std::vector<const ir::Value*> values;
  };
  std::vector<TableEntry> dims_entries;
  std::vector<WorkspaceEntry> workspace_entries;
  int32_t table_size = 0;  // int64 slots
  bool polymorphic = false;
  // Errors detected by the compiled code itself (e.g. integer division by zero): the entry
  // returns kCompiledErrorBase + i for error_messages[i] (an InvalidArgument error).
  std::vector<std::string> error_messages;
};

// Return codes of the entry: 0, an absl::StatusCode from kiln_rt_kernel_call (message in
// kiln_rt_last_error()), or kCompiledErrorBase + i (message in LoweredModule::error_messages).
inline constexpr int32_t kCompiledErrorBase = 1 << 16;

// The name under which compiled code refers to LoweredModule::kernel_calls[index].
std::string kernel_call_symbol(int index);

// Lowers `fn` (verified; unknown dims come from the dims table) into a fresh LLVMContext.
// `entry_name` must be a valid symbol name. The code holds no address of this process: it refers to
// everything outside itself by symbol (kernel calls as above, runtime functions as kiln_rt_*), so
// its object file links in any process. Lowering is deterministic: the same `fn` gives the same
// kernel_calls.
absl::StatusOr<std::unique_ptr<LoweredModule>> lower_function(const ir::Function& fn,
                                                              const std::string& entry_name);

// --- elementwise loop nests (lower_elementwise.cc) ---------------------------------------------

// A set of elementwise ops computed in one loop nest over the elements of `shape`:
// a fusion region, or a single elementwise op. `inputs` are the values read from buffers
// (region arguments, or the operands of a lone op); `ops` are computed in order (ir::OpKind
// const/neg/.../select/broadcast); `outputs` are stored, each of `shape`.
struct ElementwiseGroup {
  std::vector<const ir::Value*> inputs;
  std::vector<const ir::Op*> ops;
  std::vector<const ir::Value*> outputs;
  Shape shape;
  // Per input: the output whose buffer holds it (buffer-plan wrote that output over the input,
  // which dies here), or -1. Such an input is read through the output's pointer, element by
  // element before the element is written. Empty = none.
  std::vector<int> input_in_output;
};

struct ElementwiseFunction {
  llvm::Function* function = nullptr;
  // True if the group's shape has unknown dims: the function then takes a trailing
  // `ptr %dims` (after the division flag, if any): the int64 dims of the group's shape.
  bool takes_dims = false;
  // True if the function takes a trailing `ptr %div_by_zero` (an i8 it sets to 1 when an int32
  // `div` meets a zero divisor; the caller zeroes it before the call and checks it after).
  bool checks_division = false;
};

// Emits `define internal void @name(ptr noalias %out0, ..., ptr noalias %in0, ...)` into
// `module`: one pointer per output, then one per input, each a dense row-major buffer of that
// value's type. Errors are Unimplemented/InvalidArgument for groups it cannot lower.
// A shape with unknown dims is allowed: an input's unknown dim must be one of the output (its
// run-time size equals the output's, which the caller checks); size-1 dims are the only
// broadcast ones.
absl::StatusOr<ElementwiseFunction> emit_elementwise_function(llvm::Module& module,
                                                              const ElementwiseGroup& group,
                                                              const std::string& name);

// --- 2-D float32 products (lower_matmul.cc) ----------------------------------------------------

// True if `op` is lowered by emit_matmul_function: a `fusion {kind = "matmul"}`, or a 2-D
// float32 matmul small enough for generated loops (larger lone matmuls stay kernel calls).
bool lowers_as_matmul(const ir::Op& op);

// Emits `define internal void @name(ptr noalias %c, ptr %a, ptr %b, ptr %e0, ...)` computing
// `op` (see lowers_as_matmul): one pointer for the result, then one per operand of `op`.
// Errors are InvalidArgument for a malformed fusion region, Unimplemented for shapes or dtypes
// it does not compile.
absl::StatusOr<llvm::Function*> emit_matmul_function(llvm::Module& module, const ir::Op& op,
                                                     const std::string& name);

// --- reduce fusions (lower_reduce.cc) ------------------------------------------------------------

// Emits the function of a `fusion {kind = "reduce"}` region (its arguments as `inputs`, its
// ops, its one yielded value as `outputs[0]`), with emit_elementwise_function's signature: one
// output pointer, then one per input. Errors: Unimplemented for regions it cannot lower (see
// lower_reduce.cc), InvalidArgument for malformed ones.
absl::StatusOr<ElementwiseFunction> emit_reduce_function(llvm::Module& module,
                                                         const ElementwiseGroup& group,
                                                         const std::string& name);

// --- math polynomials (lower_math.cc) -----------------------------------------------------------

// exp/log of a float or a vector of floats, as branch-free IR the loop vectorizer can widen.
// Inserted at `builder`'s insertion point. Errors are documented in lower_math.cc.
llvm::Value* emit_exp_f32(llvm::IRBuilderBase& builder, llvm::Value* x);
llvm::Value* emit_log_f32(llvm::IRBuilderBase& builder, llvm::Value* x);
// e^x - 1 without cancellation near 0 (range reduction as exp, then 2^n p + (2^n - 1)).
llvm::Value* emit_expm1_f32(llvm::IRBuilderBase& builder, llvm::Value* x);

}  // namespace kiln::compiler
