// kiln — dtype names, shapes and broadcasting.
#include "ir/types.h"

#include <algorithm>

#include "absl/strings/str_join.h"

namespace kiln {

namespace {

struct DTypeInfo {
  DType dtype;
  std::string_view name, ir_name;
  int64_t size;
};

constexpr DTypeInfo kDTypeInfos[] = {
    {DType::kFloat16, "float16", "f16", 2}, {DType::kBFloat16, "bfloat16", "bf16", 2},
    {DType::kFloat32, "float32", "f32", 4}, {DType::kFloat64, "float64", "f64", 8},
    {DType::kInt32, "int32", "i32", 4},     {DType::kInt64, "int64", "i64", 8},
    {DType::kBool, "bool", "bool", 1},
};

const DTypeInfo* info_of(DType dtype) {
  for (const DTypeInfo& info : kDTypeInfos) {
    if (info.dtype == dtype) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view dtype_name(DType dtype) {
  const DTypeInfo* info = info_of(dtype);
  return info ? info->name : "?";
}

std::string_view dtype_ir_name(DType dtype) {
  const DTypeInfo* info = info_of(dtype);
  return info ? info->ir_name : "?";
}

std::optional<DType> dtype_from_ir_name(std::string_view name) {
  for (const DTypeInfo& info : kDTypeInfos) {
    if (info.ir_name == name) return info.dtype;
  }
  return std::nullopt;
}

int64_t dtype_size(DType dtype) {
  const DTypeInfo* info = info_of(dtype);
  return info ? info->size : 0;
}

bool is_floating(DType dtype) {
  return dtype == DType::kFloat32 || dtype == DType::kFloat64 || is_half(dtype);
}

bool is_integer(DType dtype) { return dtype == DType::kInt32 || dtype == DType::kInt64; }

bool is_half(DType dtype) { return dtype == DType::kFloat16 || dtype == DType::kBFloat16; }

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
