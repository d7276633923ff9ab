// kiln — Variable: a named, mutable tensor of fixed dtype and shape (tf.Variable).
//
// A Variable reads as a Tensor in every op (implicit conversion to const Tensor&). Assignments
// check dtype and shape first and leave the value untouched when they fail. Storage is
// copy-on-write: Tensors read from a Variable before an assign keep their old values.
//
// Limitation (for now): inside kiln::function a Variable is captured like any concrete Tensor,
// i.e. its value at trace time becomes a constant of the traced function, and assigning to a
// Variable while tracing is an error. Tracing Variables as IR reads/writes comes later; the
// unique id() is what that will key on.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/indexing.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"

namespace kiln {
namespace ir {
enum class OpKind : uint16_t;
}

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
  // Writes `value` (broadcast to the slice's shape, same dtype) into the slice.
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

  const std::string& name() const { return name_; }
  bool trainable() const { return trainable_; }
  DType dtype() const { return value_.dtype(); }
  const Shape& shape() const { return value_.shape(); }
  int rank() const { return value_.rank(); }
  // Unique for the life of the process (never reused).
  uint64_t id() const { return id_; }

  // The current value. A copy of the returned Tensor keeps this value across later assigns.
  const Tensor& value() const { return value_; }
  operator const Tensor&() const { return value_; }

  // value := x. x must have the Variable's dtype and shape (TF has no broadcasting here).
  void assign(const Tensor& x);
  void assign_add(const Tensor& delta);
  void assign_sub(const Tensor& delta);
  // C++ scalars take the Variable's dtype and are broadcast (v.assign(0) zeroes v).
  template <Scalar S>
  void assign(S s) {
    assign(broadcast_to(scalar_operand(value_, s, "assign"), shape()));
  }
  template <Scalar S>
  void assign_add(S s) {
    assign_add(scalar_operand(value_, s, "assign_add"));
  }
  template <Scalar S>
  void assign_sub(S s) {
    assign_sub(scalar_operand(value_, s, "assign_sub"));
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

  std::string name_;
  bool trainable_;
  uint64_t id_;
  Tensor value_;
};

template <Scalar S>
void VariableSlice::assign(S s) {
  assign(scalar_operand(var_->value(), s, "assign"));
}

std::ostream& operator<<(std::ostream& os, const Variable& v);

}  // namespace kiln
