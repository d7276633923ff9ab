// kiln — the loop-nest emitter shared by elementwise loops (lower_elementwise.cc) and reduce
// fusions (lower_reduce.cc); private to compiler/*.cc.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "compiler/lower.h"

namespace llvm {
class BasicBlock;
class FunctionCallee;
class Type;
}  // namespace llvm

namespace kiln::compiler::loop_nest {

// Row-major strides of `shape` (elements).
inline std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.rank());
  int64_t s = 1;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

// A buffer the loop nest reads or writes, with its strides over the merged loop dims.
struct Buffer {
  llvm::Value* ptr = nullptr;
  DType dtype = DType::kFloat32;
  std::vector<int64_t> strides;       // per loop level
  int level = -1;                     // innermost level with a non-zero stride; -1 = invariant
  std::vector<llvm::Value*> offsets;  // offset at each level, emitted lazily
};

class LoopNestEmitter {
 public:
  LoopNestEmitter(llvm::Module& module, const ElementwiseGroup& group);
  ~LoopNestEmitter();

  absl::StatusOr<ElementwiseFunction> emit(const std::string& name);

 protected:
  absl::Status check_shapes();
  void plan_loops();
  std::vector<int64_t> strides_over_output(const Shape& shape) const;
  int add_buffer(llvm::Value* ptr, DType dtype, const Shape& shape);
  int add_buffer_with_strides(llvm::Value* ptr, DType dtype, const std::vector<int64_t>& st);
  bool only_transposed(const ir::Value* v) const;
  absl::StatusOr<std::vector<int64_t>> transposed_strides(const ir::Op& op) const;
  void build_skeleton(llvm::Function* fn);
  void emit_range_caller(llvm::Function* outer, llvm::Function* range, bool checks_division);
  void set_level(int level);  // insertion point: before the terminator of level's block
  llvm::Value* offset(Buffer& buf, int level);
  llvm::Value* element_ptr(Buffer& buf, int level);
  llvm::Type* memory_type(DType dtype);
  llvm::Value* from_memory(llvm::Value* x, DType dtype);
  llvm::Value* to_memory(llvm::Value* x, DType dtype);
  llvm::Value* float_to_bf16_bits(llvm::Value* x);
  llvm::Value* round_to(llvm::Value* x, DType dtype);
  absl::Status emit_op(const ir::Op& op);
  absl::StatusOr<llvm::Value*> compute(const ir::Op& op, const std::vector<llvm::Value*>& args);

  llvm::Module& module_;
  llvm::LLVMContext& ctx_;
  // An llvm::IRBuilder<> (deleted as one: IRBuilderBase has no virtual destructor).
  std::unique_ptr<llvm::IRBuilderBase, void (*)(llvm::IRBuilderBase*)> builder_;
  llvm::IRBuilderBase& b_;
  const ElementwiseGroup& group_;

  // Merged loop dims: sizes (each >= 2) and, per output dim, which level it belongs to (-1 when
  // the dim has size 1).
  std::vector<int64_t> loop_sizes_;
  std::vector<int> dim_level_;
  // level_blocks_[l + 1] is where code of level l goes (index 0 = the function entry).
  std::vector<llvm::BasicBlock*> level_blocks_;
  std::vector<llvm::Value*> ivs_;       // induction variable per level
  llvm::Function* range_fn_ = nullptr;  // the loop function (its arguments are the buffers)
  // Bounds of the outermost level (arguments of the loop function).
  llvm::Value* level0_begin_ = nullptr;
  llvm::Value* level0_end_ = nullptr;

  std::vector<Buffer> buffers_;
  struct Computed {
    llvm::Value* value;
    int level;
  };
  absl::flat_hash_map<const ir::Value*, Computed> values_;
  llvm::Value* div_flag_ = nullptr;  // the i8 flag of ElementwiseFunction::checks_division
};

// Elements a parallel chunk gets at least, and so the size below which a loop stays on the
// calling thread (a range below two chunks). Chosen so that waking a worker (some microseconds)
// costs little against the chunk's work.
inline constexpr int64_t kParallelGrainElements = int64_t{1} << 16;

// Declares `void kiln_rt_parallel_for(ptr fn, ptr ctx, i64 n, i64 grain, i64 align)` in `module`.
llvm::FunctionCallee parallel_for_callee(llvm::Module& module);

}  // namespace kiln::compiler::loop_nest
