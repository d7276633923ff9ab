// kiln — fuse's multi-output step (passes/fuse_multi.cc), run on each block after the
// single-output groups are built.
#pragma once

#include "ir/function.h"

namespace kiln::passes {

// Merges related loop fusions and lone elementwise ops of one shape into multi-output loop
// fusions (see fuse_multi.cc); true if anything changed.
bool merge_multi_output(ir::Block& body);

}  // namespace kiln::passes
