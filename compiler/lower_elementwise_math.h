// kiln — lowering of the elementwise math ops (sqrt ... cast) inside an elementwise loop;
// private to compiler/*.cc. LLVM types appear only as forward declarations.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"

namespace llvm {
class IRBuilderBase;
class Value;
}  // namespace llvm

namespace kiln::compiler {

// The value of elementwise `op` on one element, from its operands' values `args` (float for
// f32/f16/bf16, double for f64, i32/i64 for the integers, i1 for bool), emitted at `builder`'s
// insertion point. `div_flag` is the i8 error flag an int32 mod/floordiv sets on a zero divisor
// (see ElementwiseFunction). Unimplemented for ops this file does not know. float64 exp or log
// (`kind`) of args[0] through libm.
llvm::Value* emit_libm_f64(llvm::IRBuilderBase& builder, ir::OpKind kind,
                           const std::vector<llvm::Value*>& args);

// float32 sin, cos, pow and C's fmod as vectorizable IR (no libm call; compiler/lower_math.cc)
// on one element's float values; the loop vectorizer widens them.
llvm::Value* emit_sin_f32(llvm::IRBuilderBase& builder, llvm::Value* x);
llvm::Value* emit_cos_f32(llvm::IRBuilderBase& builder, llvm::Value* x);
llvm::Value* emit_pow_f32(llvm::IRBuilderBase& builder, llvm::Value* x, llvm::Value* y);
llvm::Value* emit_fmod_f32(llvm::IRBuilderBase& builder, llvm::Value* x, llvm::Value* y);

absl::StatusOr<llvm::Value*> emit_math_op(llvm::IRBuilderBase& builder, const ir::Op& op,
                                          const std::vector<llvm::Value*>& args,
                                          llvm::Value* div_flag);

}  // namespace kiln::compiler
