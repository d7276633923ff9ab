// kiln — Variable: checked assignment, copy-on-write storage and sliced assignment.
#include "runtime/variable.h"

#include <atomic>
#include <cstring>

#include "ir/ops.h"
#include "runtime/dispatch.h"
#include "runtime/kernels/kernels.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

std::atomic<uint64_t> g_next_id{1};

void require_concrete(std::string_view op, const Tensor& x) {
  if (!x.defined()) throw InvalidArgumentError(cat(op, ": the value is an empty Tensor"));
  if (x.is_symbolic()) {
    throw InvalidArgumentError(cat(op,
                                   ": the value is a symbolic Tensor (from kiln::function "
                                   "tracing); Variables hold concrete values"));
  }
}

void check_dtype(std::string_view op, const std::string& name, DType want, DType got) {
  if (want != got) {
    throw InvalidArgumentError(cat(op, ": variable '", name, "' has dtype ", dtype_name(want),
                                   " but the value is a ", dtype_name(got), " tensor"));
  }
}

}  // namespace

Variable::Variable(const Tensor& initial, VariableOptions options)
    : state_(std::make_shared<internal::VariableState>()) {
  state_->name = std::move(options.name);
  state_->trainable = options.trainable;
  state_->id = g_next_id.fetch_add(1);
  if (TraceContext* trace = TraceContext::current(); trace && !trace->variable_creation_allowed()) {
    throw InvalidArgumentError(
        cat("Variable '", state_->name, "' is created while tracing ", trace->function_name(),
            " again: a kiln::function may create Variables only on its first trace (create it "
            "outside the function, or once and keep it, as a layer's weights)"));
  }
  require_concrete("Variable", initial);
  state_->value = initial.alias();
}

const Tensor& Variable::read_hooked() const {
  const Tensor* t = &state_->value;
  if (TraceContext* trace = TraceContext::current()) t = &trace->read_variable(*this);
  if (internal::tapes_live()) internal::note_variable_read(*this, *t);
  return *t;
}

void Variable::set(const Tensor& x) {
  if (state_->value.storage_is_unique()) {
    std::memmove(state_->value.mutable_raw_data(), x.raw_data(),
                 state_->value.num_elements() * dtype_size(state_->value.dtype()));
  } else {
    state_->value = x.alias();  // share x's storage; a later in-place write copies first
  }
}

void* Variable::writable_data() {
  if (!state_->value.storage_is_unique()) {
    state_->value =
        from_buffer(state_->value.raw_data(), state_->value.dtype(), state_->value.shape());
  }
  return state_->value.mutable_raw_data();
}

void Variable::check_value(std::string_view op, const Tensor& x) const {
  if (!x.defined()) throw InvalidArgumentError(cat(op, ": the value is an empty Tensor"));
  check_dtype(op, state_->name, dtype(), x.dtype());
}

void Variable::assign(const Tensor& x) {
  check_value("assign", x);
  if (!(x.shape() == shape())) {
    throw InvalidArgumentError(cat("assign: Cannot assign to variable '", state_->name,
                                   "' due to variable shape ", shape(), " and value shape ",
                                   x.shape(), " are incompatible"));
  }
  if (TraceContext* trace = TraceContext::current()) {
    trace->write_variable(*this, x);
    return;
  }
  require_concrete("assign", x);
  set(x);
}

void Variable::assign_add(const Tensor& delta) { update(ir::OpKind::kAdd, "assign_add", delta); }
void Variable::assign_sub(const Tensor& delta) { update(ir::OpKind::kSub, "assign_sub", delta); }

void Variable::update(ir::OpKind kind, std::string_view op, const Tensor& delta) {
  check_value(op, delta);
  auto b = broadcast_shapes(shape(), delta.shape());
  if (!b || !(*b == shape())) {
    throw InvalidArgumentError(cat(op, ": Cannot update variable '", state_->name, "' with shape ",
                                   shape(), " using a Tensor with shape ", delta.shape(),
                                   ", shapes must be equal"));
  }
  if (TraceContext* trace = TraceContext::current()) {
    const Tensor current = trace->read_variable(*this);
    const Tensor operands[] = {current, delta};
    trace->write_variable(*this, dispatch_untaped(kind, operands));
    return;
  }
  require_concrete(op, delta);
  if (!state_->value.storage_is_unique()) {
    // A new value no tape has seen: gradients do not flow through assignments.
    const Tensor operands[] = {state_->value, delta};
    state_->value = dispatch_untaped(kind, operands);
    return;
  }
  // In place: elementwise kernels may write over an input of the output's shape.
  const kernels::View in[2] = {{state_->value.raw_data(), dtype(), &state_->value.shape()},
                               {delta.raw_data(), delta.dtype(), &delta.shape()}};
  throw_if_error(kernels::run(
      kind, {}, in, kernels::MutableView{state_->value.mutable_raw_data(), dtype(), &shape()}));
}

VariableSlice Variable::operator[](std::string_view index) {
  return VariableSlice(*this, parse_index(index));
}

VariableSlice Variable::index(std::initializer_list<Index> indices) {
  return VariableSlice(*this, std::vector<Index>(indices));
}

std::string Variable::to_string() const {
  return cat("<kiln.Variable '", state_->name, "' shape=", shape(), " dtype=", dtype_name(dtype()),
             ", value=", state_->value.to_string(), ">");
}

std::ostream& operator<<(std::ostream& os, const Variable& v) { return os << v.to_string(); }

Tensor VariableSlice::read() const { return var_->value().index(indices_); }

void VariableSlice::assign(const Tensor& value) {
  Variable& var = *var_;
  if (!value.defined()) throw InvalidArgumentError("assign: the value is an empty Tensor");
  const NormalizedIndex n = normalize_index(indices_, var.shape());
  check_dtype("assign", var.name(), var.dtype(), value.dtype());
  auto b = broadcast_shapes(value.shape(), n.result);
  if (!b || !(*b == n.result)) {
    throw InvalidArgumentError(cat("assign: Cannot assign a value of shape ", value.shape(),
                                   " to a slice of shape ", n.result, " of variable '", var.name(),
                                   "' (shape ", var.shape(), ")"));
  }
  if (TraceContext* trace = TraceContext::current()) {
    // The whole new value, as strided_update of the current one (docs/ir-format.md).
    ir::Attrs attrs{{"begin", n.begin}, {"end", n.end}, {"strides", n.strides}};
    if (!n.shrink_axis.empty()) attrs["shrink_axis"] = n.shrink_axis;
    if (!n.new_axis.empty()) attrs["new_axis"] = n.new_axis;
    const Tensor operands[] = {trace->read_variable(var), value};
    trace->write_variable(var, dispatch_untaped(ir::OpKind::kStridedUpdate, operands, attrs));
    return;
  }
  require_concrete("assign", value);
  const Tensor src = value.shape() == n.result ? value : broadcast_to(value, n.result);
  if (n.result.num_elements() == 0) return;
  // Walk the slice's input coordinates in row-major order; `src` is dense in that order.
  const Shape& shape = var.shape();
  const int rank = shape.rank();
  const int64_t size = dtype_size(var.dtype());
  std::vector<int64_t> len(rank), step(rank), idx(rank, 0);
  int64_t base = 0, stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    const int64_t bg = n.begin[d], e = n.end[d], st = n.strides[d];
    len[d] = st > 0 ? (e - bg + st - 1) / st : (bg - e - st - 1) / -st;
    step[d] = stride * st;
    base += bg * stride;
    stride *= shape[d];
  }
  const char* from = static_cast<const char*>(src.raw_data());
  char* to = static_cast<char*>(var.writable_data()) + base * size;
  const int64_t count = n.result.num_elements();
  for (int64_t k = 0; k < count; ++k) {
    int64_t at = 0;
    for (int d = 0; d < rank; ++d) at += idx[d] * step[d];
    std::memcpy(to + at * size, from + k * size, size);
    for (int d = rank - 1; d >= 0; --d) {
      if (++idx[d] < len[d]) break;
      idx[d] = 0;
    }
  }
}

}  // namespace kiln
