// kiln — Variable: a named, mutable tensor of fixed dtype and shape (tf.Variable).
//
// A Variable reads as a Tensor in every op (implicit conversion to const Tensor&). Assignments
// check dtype and shape first and leave the value untouched when they fail. Storage is
// copy-on-write: Tensors read from a Variable before an assign keep their old values.
//
// Inside kiln::function a Variable is not baked in: the first read or write of it in a trace
// makes it an extra (captured) argument of the traced function, reads see the latest value
// written in the trace, and the final value of every Variable the trace wrote becomes an extra
// result that the call stores back. So reads and writes keep program order, and each call sees
// the Variable's value at call time. A Variable is a handle on shared state: the compiled
// function keeps it alive and finds it even after the Variable object moved.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/indexing.h"
#include "runtime/ops.h"
#include "runtime/tape_hooks.h"
#include "runtime/tensor.h"

namespace kiln {
namespace ir {
enum class OpKind : uint16_t;
}

namespace internal {
struct VariableState {
  std::string name;
  bool trainable = true;
  uint64_t id = 0;
  Tensor value;
};
}  // namespace internal

struct VariableOptions {
  std::string name = "Variable";
  bool trainable = true;
};

class Variable;

// The result of v["0, 1"] / v.index({...}): a view of part of a Variable that can be assigned
// (NumPy broadcasting of the value to the slice) or read as a Tensor.
class VariableSlice {
 public:
  VariableSlice(Variable& var, std::vector<Index> indices)
      : var_(&var), indices_(std::move(indices)) {}
  // Writes `value` (broadcast to the slice's shape, same dtype) into the slice. Inside
  // kiln::function this traces to strided_update of the Variable's value (a new whole value).
  void assign(const Tensor& value);
  template <Scalar S>
  void assign(S s);
  // The slice's current contents.
  Tensor read() const;
  operator Tensor() const { return read(); }

 private:
  Variable* var_;
  std::vector<Index> indices_;
};

class Variable {
 public:
  explicit Variable(const Tensor& initial, VariableOptions options = {});
  // A Variable is one object (slices refer to it): it moves but does not copy.
  Variable(const Variable&) = delete;
  Variable& operator=(const Variable&) = delete;
  Variable(Variable&&) = default;
  Variable& operator=(Variable&&) = default;
  template <Scalar S>
  explicit Variable(S initial, VariableOptions options = {})
      : Variable(constant(initial), std::move(options)) {}

  const std::string& name() const { return state_->name; }
  bool trainable() const { return state_->trainable; }
  DType dtype() const { return state_->value.dtype(); }
  const Shape& shape() const { return state_->value.shape(); }
  int rank() const { return state_->value.rank(); }
  // Unique for the life of the process (never reused).
  uint64_t id() const { return state_->id; }
  // Internal: the shared state (kiln::function keeps the Variables it captured by this).
  const std::shared_ptr<internal::VariableState>& state() const { return state_; }

  // The current value. A copy of the returned Tensor keeps this value across later assigns.
  // Reading it while a GradientTape records makes the tape watch it (if trainable); reading it
  // while tracing gives the traced function's symbolic value of it.
  const Tensor& value() const {
    if (internal::tapes_live() || internal::tracing()) return read_hooked();
    return state_->value;
  }
  operator const Tensor&() const { return value(); }

  // value := x. x must have the Variable's dtype and shape (TF has no broadcasting here).
  void assign(const Tensor& x);
  void assign_add(const Tensor& delta);
  void assign_sub(const Tensor& delta);
  // C++ scalars take the Variable's dtype and are broadcast (v.assign(0) zeroes v).
  template <Scalar S>
  void assign(S s) {
    assign(broadcast_to(scalar_operand(value(), s, "assign"), shape()));
  }
  template <Scalar S>
  void assign_add(S s) {
    assign_add(scalar_operand(value(), s, "assign_add"));
  }
  template <Scalar S>
  void assign_sub(S s) {
    assign_sub(scalar_operand(value(), s, "assign_sub"));
  }

  // Sliced access: v["0, 1"].assign(42), v[":, 2"].assign(t), v.index({0, kiln::all}).
  VariableSlice operator[](std::string_view index);
  template <std::integral I>
  VariableSlice operator[](I i) {
    return VariableSlice(*this, {Index(i)});
  }
  VariableSlice index(std::initializer_list<Index> indices);

  std::string to_string() const;

 private:
  friend class VariableSlice;
  // Replaces the value with `x` (already checked).
  void set(const Tensor& x);
  // The value's storage, copied first if another Tensor shares it.
  void* writable_data();
  // value := value op delta (add/sub), in place when the storage is not shared.
  void update(ir::OpKind kind, std::string_view op, const Tensor& delta);

  // Checks that `x` is a defined Tensor of the Variable's dtype (for `op`'s message).
  void check_value(std::string_view op, const Tensor& x) const;
  // value() while a tape or a trace is active.
  const Tensor& read_hooked() const;

  std::shared_ptr<internal::VariableState> state_;
};

template <Scalar S>
void VariableSlice::assign(S s) {
  assign(scalar_operand(var_->value(), s, "assign"));
}

std::ostream& operator<<(std::ostream& os, const Variable& v);

}  // namespace kiln
