// kiln — the matmul epilogue stage of `fuse` (passes/fuse_matmul.cc).
#pragma once

#include "ir/function.h"

namespace kiln::passes {

// Turns each 2-D float32 matmul whose result feeds only a chain of elementwise ops (each reading
// the chain's previous value and otherwise only row-broadcast vectors or scalars) into a
// `fusion {kind = "matmul"}`: operands (A, B, epilogue operands...), region = the matmul, then
// the chain. Works on the ops of `body` only (not on nested regions). Returns true if it changed
// anything.
bool fuse_matmul_epilogues(ir::Block& body);

}  // namespace kiln::passes
