// kiln — the loop-nest emitter shared by elementwise loops (lower_elementwise.cc) and reduce
// fusions (lower_reduce.cc); private to compiler/*.cc.
#pragma once

#include <algorithm>
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

// Row-major strides of a fully defined `shape` (elements).
inline std::vector<int64_t> row_major_strides(const Shape& shape) {
  std::vector<int64_t> strides(shape.rank());
  int64_t s = 1;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

// A size or stride in elements: `c` times the run-time sizes of the output dims `dims` (sorted;
// empty when the value is a constant, always so for fully defined shapes).
struct Extent {
  int64_t c = 0;
  std::vector<int> dims;
  bool is(int64_t v) const { return dims.empty() && c == v; }
  friend bool operator==(const Extent& a, const Extent& b) {
    return a.c == b.c && (a.c == 0 || a.dims == b.dims);
  }
  friend Extent operator*(const Extent& a, const Extent& b) {
    Extent r{a.c * b.c, a.dims};
    r.dims.insert(r.dims.end(), b.dims.begin(), b.dims.end());
    std::sort(r.dims.begin(), r.dims.end());
    if (r.c == 0) r.dims.clear();
    return r;
  }
};

// A buffer the loop nest reads or writes, with its strides over the merged loop dims.
struct Buffer {
  llvm::Value* ptr = nullptr;
  DType dtype = DType::kFloat32;
  std::vector<Extent> strides;        // per loop level
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
  std::vector<Extent> strides_over_output(const Shape& shape) const;
  llvm::Value* extent_value(const Extent& e);
  int add_buffer(llvm::Value* ptr, DType dtype, const Shape& shape);
  int add_buffer_with_strides(llvm::Value* ptr, DType dtype, const std::vector<Extent>& st);
  bool only_transposed(const ir::Value* v) const;
  absl::StatusOr<std::vector<Extent>> transposed_strides(const ir::Op& op) const;
  void build_skeleton(llvm::Function* fn);
  void emit_range_caller(llvm::Function* outer, llvm::Function* range);
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
  std::vector<Extent> loop_sizes_;
  std::vector<int> dim_level_;
  llvm::Value* dims_arg_ = nullptr;  // the output's int64 dims (shapes with unknown dims only)
  llvm::BasicBlock* entry_block_ = nullptr;
  std::vector<llvm::Value*> out_dims_;  // loaded run-time sizes per output dim (lazily)
  // level_blocks_[l + 1] is where code of level l goes (index 0 = the function entry).
  std::vector<llvm::BasicBlock*> level_blocks_;
  std::vector<llvm::Value*> ivs_;       // induction variable per level
  llvm::Function* range_fn_ = nullptr;  // the loop function (its arguments are the buffers)
  unsigned first_buffer_arg_ = 0;       // 2 when it takes (begin, end) of the outermost level
  // Bounds of the outermost level when the loop runs in parallel chunks (else 0 and its size).
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
