// kiln — dispatch: the one place every op call goes through. With no trace active it runs the
// op's eager kernel; while a function is being traced it emits the op into the trace's IR.
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "ir/ops.h"
#include "runtime/tensor.h"

namespace kiln {

// Runs or records `kind(inputs) {attrs}`. Throws InvalidArgumentError (with the op table's
// message) when the inputs do not fit the op's signature.
Tensor dispatch(ir::OpKind kind, std::span<const Tensor> inputs, const ir::Attrs& attrs = {});

// Like dispatch, for ops with several results (ir::has_multiple_results: split, top_k).
std::vector<Tensor> dispatch_multi(ir::OpKind kind, std::span<const Tensor> inputs,
                                   const ir::Attrs& attrs = {});

// dispatch / dispatch_multi without recording on GradientTapes (the tape and the autodiff
// expansion use these for ops they emit themselves).
Tensor dispatch_untaped(ir::OpKind kind, std::span<const Tensor> inputs,
                        const ir::Attrs& attrs = {});
std::vector<Tensor> dispatch_multi_untaped(ir::OpKind kind, std::span<const Tensor> inputs,
                                           const ir::Attrs& attrs = {});

// The attributes of a reduction op: `axes` when given (absent = all axes), `keepdims` when set.
ir::Attrs reduction_attrs(const std::optional<std::vector<int64_t>>& axis, bool keepdims);

inline Tensor dispatch(ir::OpKind kind, std::initializer_list<Tensor> inputs,
                       const ir::Attrs& attrs = {}) {
  return dispatch(kind, std::span<const Tensor>(inputs.begin(), inputs.size()), attrs);
}

}  // namespace kiln
