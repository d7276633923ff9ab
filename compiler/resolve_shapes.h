// kiln — run-time shapes of a function with unknown dims: type inference over its ops with
// the concrete argument shapes, as a compiled polymorphic function does before each call with
// new shapes (compile.cc caches the result per argument-shape tuple).
#pragma once

#include <span>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "ir/function.h"

namespace kiln::compiler {

// The concrete type of every value of `fn` (its body, cond/while and fusion regions) whose
// declared type has unknown dims, given concrete argument shapes (one per argument of `fn`;
// each must have the argument's rank and agree with its known dims). Errors (InvalidArgument)
// name the value's op: an argument that does not fit, a dim that stays unknown (an op whose
// result size cannot be computed from its operands), a while loop variable whose shape changes,
// cond branches of different shapes, or an elementwise operand whose unknown dim is 1 at run
// time while the result's is not (broadcasting along a dim unknown when traced).
absl::StatusOr<absl::flat_hash_map<const ir::Value*, ir::Type>> resolve_shapes(
    const ir::Function& fn, std::span<const Shape> arg_shapes);

}  // namespace kiln::compiler
