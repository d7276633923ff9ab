// kiln — the IR verifier: the invariants every pass may assume and must preserve.
//
//  - every op's operand count matches its arity; its result type equals infer_type(...)
//  - elementwise ops in IR have operands of one shape, except rank-0 operands (the one implicit
//    broadcast); any other broadcast is an explicit `broadcast` op
//  - SSA: every operand is defined before use, in the same block or an enclosing one; fusion
//    regions are isolated from above (use only their own arguments and values)
//  - every block ends with the right terminator (`return` in a function, `yield` in a fusion);
//    a fusion's result types equal its yield's operand types and its region arguments' types
//    equal its operands' types
//  - a const has a literal of its result type
// Errors: "line:col: error: 'sub': operand #1 is f32[16,1], expected f32[32,1] or f32[]"
#pragma once

#include <span>

#include "absl/status/status.h"
#include "ir/function.h"

namespace kiln::ir {

absl::Status verify(const Function& fn);
absl::Status verify(const Module& module);

// The elementwise-operand rule alone, on the operand types of one `kind` op (OK for ops that are
// not elementwise). The message has no location:
//   "'sub': operand #1 is f32[16,1], expected f32[32,1] or f32[]"
// Unknown dims ('?') match any size. The parser applies it before type inference.
absl::Status verify_elementwise_operands(OpKind kind, std::span<const Type> operand_types);

}  // namespace kiln::ir
