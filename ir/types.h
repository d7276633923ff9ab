// kiln — the vocabulary every layer shares: element types (DType), shapes, and IR value types.
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/inlined_vector.h"

namespace kiln {

// Element types. The IR spells them f16/bf16/f32/f64/i32/i64/bool; users see float16, bfloat16,
// float32, float64, int32, int64, bool. float16 and bfloat16 tensors hold kiln::Half and
// kiln::BFloat16 (support/half.h); ops compute them in float32 and round each result back.
enum class DType : uint8_t { kFloat32, kInt32, kBool, kFloat16, kBFloat16, kFloat64, kInt64 };

inline constexpr DType float16 = DType::kFloat16;
inline constexpr DType bfloat16 = DType::kBFloat16;
inline constexpr DType float32 = DType::kFloat32;
inline constexpr DType float64 = DType::kFloat64;
inline constexpr DType int32 = DType::kInt32;
inline constexpr DType int64 = DType::kInt64;
inline constexpr DType bool_ = DType::kBool;

// Every dtype, in the order of the names above (for tests and tables).
inline constexpr DType kAllDTypes[] = {DType::kFloat16, DType::kBFloat16, DType::kFloat32,
                                       DType::kFloat64, DType::kInt32,    DType::kInt64,
                                       DType::kBool};

// "float32", "int64", "bool" ... — the names used in user-facing messages.
std::string_view dtype_name(DType dtype);
// "f32", "i64", "bool" ... — the names used in IR text.
std::string_view dtype_ir_name(DType dtype);
std::optional<DType> dtype_from_ir_name(std::string_view name);
// Bytes per element.
int64_t dtype_size(DType dtype);
// float16, bfloat16, float32, float64.
bool is_floating(DType dtype);
// int32, int64.
bool is_integer(DType dtype);
// float16 and bfloat16: stored in 16 bits, computed in float32.
bool is_half(DType dtype);

// A tensor shape: a list of dimensions, each >= 0 or kUnknownDim ("?" in IR text).
class Shape {
 public:
  static constexpr int64_t kUnknownDim = -1;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(const std::vector<int64_t>& dims) : dims_(dims.begin(), dims.end()) {}

  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t dim(int i) const { return dims_[i]; }
  // A copy of the dimensions (Shapes keep up to kInlineRank dims without heap allocation).
  std::vector<int64_t> dims() const { return std::vector<int64_t>(dims_.begin(), dims_.end()); }
  const int64_t* begin() const { return dims_.data(); }
  const int64_t* end() const { return dims_.data() + dims_.size(); }
  bool is_fully_defined() const;
  // Product of the dimensions; -1 if any is unknown. A rank-0 shape has one element. (Inline:
  // eager dispatch asks for it several times per op.)
  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : dims_) {
      if (d < 0) return -1;
      n *= d;
    }
    return n;
  }

  // "[2, 3]" as TF prints a TensorShape; unknown dims print as "None".
  std::string to_string() const;

  friend bool operator==(const Shape& a, const Shape& b) {
    return a.rank() == b.rank() && std::equal(a.begin(), a.end(), b.begin());
  }

  static constexpr int kInlineRank = 6;

 private:
  absl::InlinedVector<int64_t, kInlineRank> dims_;
};

std::ostream& operator<<(std::ostream& os, const Shape& shape);
std::ostream& operator<<(std::ostream& os, DType dtype);

// NumPy broadcasting of two shapes; nullopt if they are incompatible.
std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b);

namespace ir {

// The type of an IR value: element type and shape, printed "f32[32,1]" ("f32[]" for scalars,
// "?" for unknown dims).
struct Type {
  DType dtype = DType::kFloat32;
  Shape shape;

  std::string to_string() const;
  friend bool operator==(const Type& a, const Type& b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
};

}  // namespace ir
}  // namespace kiln
