// kiln — dispatch: eager execution or IR emission for every op.
#include "runtime/dispatch.h"

#include <vector>

#include "absl/container/inlined_vector.h"
#include "runtime/kernels/kernels.h"
#include "runtime/numerics.h"
#include "runtime/tape_hooks.h"
#include "runtime/trace.h"
#include "support/call_site.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

// Out of line: tracing is not the eager fast path.
[[gnu::noinline]] Tensor record(TraceContext& trace, ir::OpKind kind,
                                std::span<const Tensor> inputs, const ir::Attrs& attrs) {
  std::vector<ir::Value*> operands;
  std::vector<ir::Type> types;
  for (const Tensor& t : inputs) {
    operands.push_back(trace.value_of(t));
    types.push_back(operands.back()->type());
  }
  ir::Type result = value_or_throw(ir::infer_type(kind, types, attrs));
  const ir::Location loc = trace.call_site_location();
  // The IR broadcasts implicitly only from rank 0; anything else gets an explicit broadcast.
  if (ir::is_elementwise(kind) && kind != ir::OpKind::kBroadcast) {
    for (ir::Value*& v : operands) {
      if (v->type().shape.rank() != 0 && !(v->type().shape == result.shape)) {
        ir::Attrs battrs{{"shape", result.shape.dims()}};
        v = value_or_throw(
            trace.builder().create(ir::OpKind::kBroadcast, {v}, std::move(battrs), loc));
      }
    }
  }
  ir::Value* out = value_or_throw(trace.builder().create(kind, std::move(operands), attrs, loc));
  return Tensor::symbolic(out, trace.id());
}

// The dtypes and shapes of concrete inputs; a symbolic tensor here outlived its trace. Inline
// storage keeps the common case (up to four inputs) free of heap allocation.
absl::InlinedVector<ir::Type, 4> eager_input_types(ir::OpKind kind,
                                                   std::span<const Tensor> inputs) {
  absl::InlinedVector<ir::Type, 4> types;
  for (const Tensor& t : inputs) {
    if (t.is_symbolic()) {
      throw FailedPreconditionError(cat(ir::mnemonic(kind),
                                        ": a symbolic Tensor from a finished trace was used "
                                        "outside its function"));
    }
    types.push_back(ir::Type{t.dtype(), t.shape()});
  }
  return types;
}

// check_numerics: the op that produced a NaN or Inf, and the user's line that called it (a
// stack walk, on this error path only).
[[gnu::noinline]] void check_result(ir::OpKind kind, const Tensor& out) {
  if (auto bad = internal::first_non_finite(out.raw_data(), out.dtype(), out.num_elements())) {
    const CallSite site = user_call_site();
    throw InvalidArgumentError(cat("check_numerics: '", ir::mnemonic(kind), "' produced ", *bad,
                                   " of its result ", ir::Type{out.dtype(), out.shape()},
                                   site.known() ? cat(" (called from ", site.to_string(), ")")
                                                : std::string(" (call site unknown)")));
  }
}

}  // namespace

ir::Attrs reduction_attrs(const std::optional<std::vector<int64_t>>& axis, bool keepdims) {
  ir::Attrs attrs;
  if (axis) attrs["axes"] = *axis;
  if (keepdims) attrs["keepdims"] = true;
  return attrs;
}

Tensor dispatch(ir::OpKind kind, std::span<const Tensor> inputs, const ir::Attrs& attrs) {
  if (internal::tapes_live()) {
    Tensor out = dispatch_untaped(kind, inputs, attrs);
    internal::record_op(kind, attrs, inputs, std::span<const Tensor>(&out, 1));
    return out;
  }
  return dispatch_untaped(kind, inputs, attrs);
}

Tensor dispatch_untaped(ir::OpKind kind, std::span<const Tensor> inputs, const ir::Attrs& attrs) {
  if (TraceContext* trace = TraceContext::current()) return record(*trace, kind, inputs, attrs);

  // Eager. The most common small op first: float32 add/sub/mul/div of two tensors of one
  // shape needs no inference or kernel checks (same result, same errors: there are none).
  if (inputs.size() == 2 && attrs.empty() &&
      (kind == ir::OpKind::kAdd || kind == ir::OpKind::kSub || kind == ir::OpKind::kMul ||
       kind == ir::OpKind::kDiv)) {
    const Tensor& a = inputs[0];
    const Tensor& b = inputs[1];
    if (a.defined() && b.defined() && !a.is_symbolic() && !b.is_symbolic() &&
        a.dtype() == DType::kFloat32 && b.dtype() == DType::kFloat32 && a.shape() == b.shape()) {
      Tensor out = Tensor::empty(DType::kFloat32, a.shape());
      if (kernels::run_same_shape_f32(kind, static_cast<const float*>(a.raw_data()),
                                      static_cast<const float*>(b.raw_data()),
                                      static_cast<float*>(out.mutable_raw_data()),
                                      a.num_elements())) {
        if (config::check_numerics_enabled()) check_result(kind, out);
        return out;
      }
    }
  }
  // A small fixed-size array keeps the common case free of heap traffic for metadata;
  // variadic ops (concat, add_n) with more inputs use a vector.
  constexpr size_t kInlineInputs = 4;
  const absl::InlinedVector<ir::Type, 4> types = eager_input_types(kind, inputs);
  ir::Type result = value_or_throw(ir::infer_type(kind, types, attrs));
  Tensor out = Tensor::empty(result.dtype, result.shape);
  kernels::View inline_views[kInlineInputs];
  std::vector<kernels::View> heap_views;
  kernels::View* views = inline_views;
  if (inputs.size() > kInlineInputs) {
    heap_views.resize(inputs.size());
    views = heap_views.data();
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    views[i] = kernels::View{inputs[i].raw_data(), inputs[i].dtype(), &inputs[i].shape()};
  }
  kernels::MutableView out_view{out.mutable_raw_data(), out.dtype(), &out.shape()};
  throw_if_error(
      kernels::run(kind, attrs, std::span<const kernels::View>(views, inputs.size()), out_view));
  if (config::check_numerics_enabled()) check_result(kind, out);
  return out;
}

std::vector<Tensor> dispatch_multi(ir::OpKind kind, std::span<const Tensor> inputs,
                                   const ir::Attrs& attrs) {
  std::vector<Tensor> outs = dispatch_multi_untaped(kind, inputs, attrs);
  if (internal::tapes_live()) internal::record_op(kind, attrs, inputs, outs);
  return outs;
}

std::vector<Tensor> dispatch_multi_untaped(ir::OpKind kind, std::span<const Tensor> inputs,
                                           const ir::Attrs& attrs) {
  std::vector<Tensor> outs;
  if (TraceContext* trace = TraceContext::current()) {
    std::vector<ir::Value*> operands;
    for (const Tensor& t : inputs) operands.push_back(trace->value_of(t));
    ir::Op* op = value_or_throw(trace->builder().create_multi(kind, std::move(operands), attrs,
                                                              trace->call_site_location()));
    for (int i = 0; i < op->num_results(); ++i) {
      outs.push_back(Tensor::symbolic(op->result(i), trace->id()));
    }
    return outs;
  }
  const absl::InlinedVector<ir::Type, 4> types = eager_input_types(kind, inputs);
  std::vector<kernels::View> views;
  for (const Tensor& t : inputs)
    views.push_back(kernels::View{t.raw_data(), t.dtype(), &t.shape()});
  const std::vector<ir::Type> results = value_or_throw(ir::infer_types(kind, types, attrs));
  std::vector<kernels::MutableView> out_views;
  for (const ir::Type& r : results) {
    outs.push_back(Tensor::empty(r.dtype, r.shape));
    out_views.push_back(
        kernels::MutableView{outs.back().mutable_raw_data(), r.dtype, &outs.back().shape()});
  }
  throw_if_error(kernels::run_multi(kind, attrs, views, out_views));
  if (config::check_numerics_enabled()) {
    for (const Tensor& t : outs) check_result(kind, t);
  }
  return outs;
}

}  // namespace kiln
