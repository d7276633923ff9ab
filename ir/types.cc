// kiln — dtype names, shapes and broadcasting.
#include "ir/types.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace kiln {

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "float32";
    case DType::kInt32:
      return "int32";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

std::string_view dtype_ir_name(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "f32";
    case DType::kInt32:
      return "i32";
    case DType::kBool:
      return "bool";
  }
  return "?";
}

std::optional<DType> dtype_from_ir_name(std::string_view name) {
  if (name == "f32") return DType::kFloat32;
  if (name == "i32") return DType::kInt32;
  if (name == "bool") return DType::kBool;
  return std::nullopt;
}

int64_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return 4;
    case DType::kInt32:
      return 4;
    case DType::kBool:
      return 1;
  }
  return 0;
}

bool is_floating(DType dtype) { return dtype == DType::kFloat32; }

bool Shape::is_fully_defined() const {
  return std::none_of(dims_.begin(), dims_.end(), [](int64_t d) { return d < 0; });
}

std::string Shape::to_string() const {
  std::string out = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) out += ", ";
    out += dims_[i] < 0 ? std::string("None") : std::to_string(dims_[i]);
  }
  return out + "]";
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape.to_string(); }
std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  if (a == b) return a;  // the common case, without building a new dims vector
  const int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = a.rank() - rank + i, ib = b.rank() - rank + i;
    const int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da == db) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (db == 1) {
      out[i] = da;
    } else if (da < 0 || db < 0) {
      // An unknown dim against a known one: the result takes the known one (> 1).
      out[i] = da < 0 ? db : da;
    } else {
      return std::nullopt;
    }
  }
  return Shape(std::move(out));
}

namespace ir {

std::string Type::to_string() const {
  std::string out(dtype_ir_name(dtype));
  out += "[";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i) out += ",";
    out += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return out + "]";
}

}  // namespace ir
}  // namespace kiln
