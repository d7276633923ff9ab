// kiln — private interface of the array-op kernels (class kArray): reduce_more.cc, shape_ops.cc.
#pragma once

#include <span>

#include "absl/status/status.h"
#include "ir/ops.h"
#include "runtime/kernels/kernels.h"

namespace kiln::kernels::internal {

// reduce_max/min/prod/all/any, argmax/argmin, cumsum.
absl::Status run_reduce_more(ir::OpKind kind, const ir::Attrs& attrs, const View& in,
                             const MutableView& out);
// transpose reshape expand_dims squeeze concat tile pad gather one_hot add_n
// unsorted_segment_sum.
absl::Status run_shape_op(ir::OpKind kind, const ir::Attrs& attrs, std::span<const View> in,
                          const MutableView& out);

}  // namespace kiln::kernels::internal
