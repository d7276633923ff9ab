// kiln — Tensor: an immutable, reference-counted n-dimensional array, or (while a function is
// being traced) a symbolic stand-in for one that records ops into IR.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "ir/types.h"
#include "runtime/indexing.h"
#include "support/half.h"

namespace kiln {

namespace ir {
class Value;
}

namespace internal {

// Owned, 64-byte aligned storage.
struct Buffer {
  explicit Buffer(int64_t bytes);
  // Storage at `inline_data`, which the Buffer's own allocation holds (small tensors).
  Buffer(int64_t bytes, void* inline_data);
  ~Buffer();
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* data;
  int64_t bytes;
  bool owns_data = true;
};

struct TensorImpl {
  DType dtype;
  Shape shape;
  std::shared_ptr<Buffer> buffer;  // null for symbolic tensors
  ir::Value* value = nullptr;      // the IR value while tracing
  uint64_t trace_id = 0;           // which trace `value` belongs to
};

}  // namespace internal

class Tensor {
 public:
  // An empty handle; most operations on it throw.
  Tensor() = default;

  DType dtype() const;
  const Shape& shape() const;
  int rank() const { return shape().rank(); }
  int64_t num_elements() const { return shape().num_elements(); }
  bool defined() const { return impl_ != nullptr; }
  // True while tracing: the tensor has no values, only an IR value.
  bool is_symbolic() const;

  // Raw element storage (concrete tensors only; throws for symbolic ones).
  const void* raw_data() const;
  template <typename T>
  const T* data() const {
    check_element_type(dtype_of<T>());
    return static_cast<const T*>(raw_data());
  }

  // Copies the elements out; T must match the dtype (float ↔ float32, double ↔ float64,
  // int32_t, int64_t, bool, kiln::Half ↔ float16, kiln::BFloat16 ↔ bfloat16).
  template <typename T>
  std::vector<T> to_vector() const {
    const T* p = data<T>();
    return std::vector<T>(p, p + num_elements());
  }
  // The single element of a tensor with one element.
  template <typename T>
  T item() const {
    if (num_elements() != 1) throw_not_scalar();
    return *data<T>();
  }

  // NumPy-style indexing (runtime/indexing.h): t[":, :1"], t["..., 0:1"], t["newaxis, 1"], or
  // t.index({kiln::all, kiln::slice(kiln::none, 1)}); records a strided_slice op.
  Tensor operator[](std::string_view index) const;
  template <std::integral I>
  Tensor operator[](I i) const {  // t[1] is t["1"]
    return index({Index(i)});
  }
  Tensor index(std::initializer_list<Index> indices) const;
  Tensor index(std::span<const Index> indices) const;

  // NumPy-style text: "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)".
  std::string to_string() const;

  // Internal: a new tensor with fresh storage of `dtype`/`shape` (contents uninitialized).
  static Tensor empty(DType dtype, Shape shape);
  // Internal: a new Tensor object (its own identity, e.g. for GradientTape) sharing this one's
  // storage or IR value.
  Tensor alias() const;
  // Internal: a symbolic tensor for IR value `value` of trace `trace_id`.
  static Tensor symbolic(ir::Value* value, uint64_t trace_id);
  void* mutable_raw_data();
  const internal::TensorImpl* impl() const { return impl_.get(); }
  // Internal: true if no other Tensor shares this one's storage (Variable's copy-on-write).
  bool storage_is_unique() const {
    return impl_ && impl_.use_count() == 1 && impl_->buffer && impl_->buffer.use_count() == 1;
  }

  template <typename T>
  static constexpr DType dtype_of() {
    if constexpr (std::is_same_v<T, float>)
      return DType::kFloat32;
    else if constexpr (std::is_same_v<T, double>)
      return DType::kFloat64;
    else if constexpr (std::is_same_v<T, int32_t>)
      return DType::kInt32;
    else if constexpr (std::is_same_v<T, int64_t>)
      return DType::kInt64;
    else if constexpr (std::is_same_v<T, Half>)
      return DType::kFloat16;
    else if constexpr (std::is_same_v<T, BFloat16>)
      return DType::kBFloat16;
    else {
      static_assert(std::is_same_v<T, bool>,
                    "element type must be float, double, int32_t, int64_t, bool, kiln::Half or "
                    "kiln::BFloat16");
      return DType::kBool;
    }
  }

 private:
  void check_element_type(DType requested) const;
  [[noreturn]] void throw_not_scalar() const;

  std::shared_ptr<internal::TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// ---- Creation -------------------------------------------------------------------------------

// Scalars: C++ int gives int32, int64_t int64, floating point float32, bool bool, unless a
// dtype is given (as tf.constant). With a dtype the value is converted to it: rounded to nearest
// for float16/bfloat16/float32 (float64 keeps it exactly), truncated toward zero for integers.
Tensor constant(int value);
Tensor constant(int64_t value);
Tensor constant(float value);
Tensor constant(double value);
Tensor constant(bool value);
Tensor constant(double value, DType dtype);
Tensor constant(int64_t value, DType dtype);
Tensor constant(int value, DType dtype);
// Nested initializer lists of rank 1 and 2 (`constant({{1, 2, 3}, {4, 5, 6}}, float32)`).
Tensor constant(std::initializer_list<int> values);
Tensor constant(std::initializer_list<float> values);
Tensor constant(std::initializer_list<double> values, DType dtype = DType::kFloat32);
Tensor constant(std::initializer_list<int> values, DType dtype);
Tensor constant(std::initializer_list<std::initializer_list<int>> values);
Tensor constant(std::initializer_list<std::initializer_list<float>> values);
Tensor constant(std::initializer_list<std::initializer_list<int>> values, DType dtype);
Tensor constant(std::initializer_list<std::initializer_list<double>> values,
                DType dtype = DType::kFloat32);
// From host data with an explicit shape; throws if the element count does not match.
Tensor constant(const std::vector<float>& values, Shape shape);
Tensor constant(const std::vector<int32_t>& values, Shape shape);
Tensor constant(const std::vector<bool>& values, Shape shape);
Tensor constant(const std::vector<double>& values, Shape shape);
Tensor constant(const std::vector<int64_t>& values, Shape shape);
Tensor constant(const std::vector<Half>& values, Shape shape);
Tensor constant(const std::vector<BFloat16>& values, Shape shape);
// Copies `shape.num_elements()` elements of `dtype` from `data`.
Tensor from_buffer(const void* data, DType dtype, Shape shape);

}  // namespace kiln
