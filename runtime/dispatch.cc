// kiln — dispatch: eager execution or IR emission for every op.
#include "runtime/dispatch.h"

#include <vector>

#include "runtime/kernels/kernels.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

Tensor record(TraceContext& trace, ir::OpKind kind, std::span<const Tensor> inputs,
              const ir::Attrs& attrs) {
  std::vector<ir::Value*> operands;
  std::vector<ir::Type> types;
  for (const Tensor& t : inputs) {
    operands.push_back(trace.value_of(t));
    types.push_back(operands.back()->type());
  }
  ir::Type result = value_or_throw(ir::infer_type(kind, types, attrs));
  // The IR broadcasts implicitly only from rank 0; anything else gets an explicit broadcast.
  if (ir::is_elementwise(kind) && kind != ir::OpKind::kBroadcast) {
    for (ir::Value*& v : operands) {
      if (v->type().shape.rank() != 0 && !(v->type().shape == result.shape)) {
        ir::Attrs battrs{{"shape", result.shape.dims()}};
        v = value_or_throw(trace.builder().create(ir::OpKind::kBroadcast, {v}, std::move(battrs)));
      }
    }
  }
  ir::Value* out = value_or_throw(trace.builder().create(kind, std::move(operands), attrs));
  return Tensor::symbolic(out, trace.id());
}

}  // namespace

Tensor dispatch(ir::OpKind kind, std::span<const Tensor> inputs, const ir::Attrs& attrs) {
  if (TraceContext* trace = TraceContext::current()) return record(*trace, kind, inputs, attrs);

  // Eager. Small fixed-size arrays keep the common case free of heap traffic for metadata.
  constexpr size_t kMaxInputs = 4;
  if (inputs.size() > kMaxInputs) {
    throw InternalError(cat("dispatch: too many inputs for ", ir::mnemonic(kind)));
  }
  std::vector<ir::Type> types;
  types.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    if (t.is_symbolic()) {
      throw FailedPreconditionError(cat(ir::mnemonic(kind),
                                        ": a symbolic Tensor from a finished trace was used "
                                        "outside its function"));
    }
    types.push_back(ir::Type{t.dtype(), t.shape()});
  }
  ir::Type result = value_or_throw(ir::infer_type(kind, types, attrs));
  Tensor out = Tensor::empty(result.dtype, result.shape);
  kernels::View views[kMaxInputs];
  for (size_t i = 0; i < inputs.size(); ++i) {
    views[i] = kernels::View{inputs[i].raw_data(), inputs[i].dtype(), &inputs[i].shape()};
  }
  kernels::MutableView out_view{out.mutable_raw_data(), out.dtype(), &out.shape()};
  throw_if_error(
      kernels::run(kind, attrs, std::span<const kernels::View>(views, inputs.size()), out_view));
  return out;
}

}  // namespace kiln
