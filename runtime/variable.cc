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

void require_eager(std::string_view op, const std::string& name) {
  if (TraceContext::current()) {
    throw UnimplementedError(
        cat(op, ": assigning to Variable '", name, "' inside kiln::function is not supported yet"));
  }
}

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
    : name_(std::move(options.name)),
      trainable_(options.trainable),
      id_(g_next_id.fetch_add(1)),
      value_(initial.alias()) {
  require_concrete("Variable", initial);
}

void Variable::set(const Tensor& x) {
  if (value_.storage_is_unique()) {
    std::memmove(value_.mutable_raw_data(), x.raw_data(),
                 value_.num_elements() * dtype_size(value_.dtype()));
  } else {
    value_ = x.alias();  // share x's storage; a later in-place write copies first
  }
}

void* Variable::writable_data() {
  if (!value_.storage_is_unique()) {
    value_ = from_buffer(value_.raw_data(), value_.dtype(), value_.shape());
  }
  return value_.mutable_raw_data();
}

void Variable::assign(const Tensor& x) {
  require_eager("assign", name_);
  require_concrete("assign", x);
  check_dtype("assign", name_, dtype(), x.dtype());
  if (!(x.shape() == shape())) {
    throw InvalidArgumentError(cat("assign: Cannot assign to variable '", name_,
                                   "' due to variable shape ", shape(), " and value shape ",
                                   x.shape(), " are incompatible"));
  }
  set(x);
}

void Variable::assign_add(const Tensor& delta) { update(ir::OpKind::kAdd, "assign_add", delta); }
void Variable::assign_sub(const Tensor& delta) { update(ir::OpKind::kSub, "assign_sub", delta); }

void Variable::update(ir::OpKind kind, std::string_view op, const Tensor& delta) {
  require_eager(op, name_);
  require_concrete(op, delta);
  check_dtype(op, name_, dtype(), delta.dtype());
  auto b = broadcast_shapes(shape(), delta.shape());
  if (!b || !(*b == shape())) {
    throw InvalidArgumentError(cat(op, ": Cannot update variable '", name_, "' with shape ",
                                   shape(), " using a Tensor with shape ", delta.shape(),
                                   ", shapes must be equal"));
  }
  if (!value_.storage_is_unique()) {
    value_ = dispatch(kind, {value_, delta});
    return;
  }
  // In place: elementwise kernels may write over an input of the output's shape.
  const kernels::View in[2] = {{value_.raw_data(), dtype(), &value_.shape()},
                               {delta.raw_data(), delta.dtype(), &delta.shape()}};
  throw_if_error(kernels::run(kind, {}, in,
                              kernels::MutableView{value_.mutable_raw_data(), dtype(), &shape()}));
}

VariableSlice Variable::operator[](std::string_view index) {
  return VariableSlice(*this, parse_index(index));
}

VariableSlice Variable::index(std::initializer_list<Index> indices) {
  return VariableSlice(*this, std::vector<Index>(indices));
}

std::string Variable::to_string() const {
  return cat("<kiln.Variable '", name_, "' shape=", shape(), " dtype=", dtype_name(dtype()),
             ", value=", value_.to_string(), ">");
}

std::ostream& operator<<(std::ostream& os, const Variable& v) { return os << v.to_string(); }

Tensor VariableSlice::read() const { return var_->value().index(indices_); }

void VariableSlice::assign(const Tensor& value) {
  Variable& var = *var_;
  require_eager("assign", var.name());
  require_concrete("assign", value);
  const NormalizedIndex n = normalize_index(indices_, var.shape());
  check_dtype("assign", var.name(), var.dtype(), value.dtype());
  auto b = broadcast_shapes(value.shape(), n.result);
  if (!b || !(*b == n.result)) {
    throw InvalidArgumentError(cat("assign: Cannot assign a value of shape ", value.shape(),
                                   " to a slice of shape ", n.result, " of variable '", var.name(),
                                   "' (shape ", var.shape(), ")"));
  }
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
