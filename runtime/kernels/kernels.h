// kiln — the eager-kernel face of every op: computes one op on dense row-major buffers.
// Used by eager dispatch, by the ir::Evaluator implementation (constant folding, the reference
// interpreter) and, through kiln_rt_kernel_call, by compiled code for ops it does not lower.
// This header includes no Eigen; kernels are implemented in runtime/kernels/*.cc.
#pragma once

#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "ir/ops.h"
#include "ir/types.h"

namespace kiln::kernels {

// A dense, row-major, contiguous buffer viewed with its element type and shape.
struct View {
  const void* data;
  DType dtype;
  const Shape* shape;
};
struct MutableView {
  void* data;
  DType dtype;
  const Shape* shape;
};

// Computes `kind` with `attrs` on `inputs` into `output`. Shapes/dtypes are those the op table's
// infer_type gives (callers check them first); elementwise ops accept NumPy-broadcast inputs.
// Returns Unimplemented for ops that have no eager kernel (const, fusion, terminators).
// `output` must not alias an input unless shapes are equal and the op is elementwise.
absl::Status run(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> inputs,
                 const MutableView& output);

// Ops with several results (ir::has_multiple_results: split, top_k): computes `kind` into
// `outputs`, one per result, typed as ir::infer_types gives. Implemented in multi_ops.cc.
absl::Status run_multi(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> inputs,
                       std::span<const MutableView> outputs);

// Allocation for tensor buffers: 64-byte aligned. Never returns nullptr (throws bad_alloc).
void* allocate(int64_t bytes);
void deallocate(void* ptr);

// The eager fast path: out = a op b for `n` float32 elements of one shape (no broadcasting),
// op add/sub/mul/div, without run()'s checks (the caller has done them). Same bits as run().
// False (nothing written) for other ops or n large enough to be worth the thread pool.
bool run_same_shape_f32(ir::OpKind kind, const float* a, const float* b, float* out, int64_t n);

}  // namespace kiln::kernels
