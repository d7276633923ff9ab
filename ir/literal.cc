// kiln — literal element access.
#include "ir/literal.h"

#include <cassert>

namespace kiln::ir {

Literal::Literal(Type type) : type_(std::move(type)) {
  assert(type_.shape.is_fully_defined());
  bytes_.assign(static_cast<size_t>(type_.shape.num_elements() * dtype_size(type_.dtype)), 0);
}

double Literal::get(int64_t i) const {
  switch (type_.dtype) {
    case DType::kFloat32: {
      float v;
      std::memcpy(&v, bytes_.data() + 4 * i, 4);
      return v;
    }
    case DType::kInt32: {
      int32_t v;
      std::memcpy(&v, bytes_.data() + 4 * i, 4);
      return v;
    }
    case DType::kBool:
      return bytes_[i] ? 1.0 : 0.0;
  }
  return 0;
}

void Literal::set(int64_t i, double v) {
  switch (type_.dtype) {
    case DType::kFloat32: {
      float f = static_cast<float>(v);
      std::memcpy(bytes_.data() + 4 * i, &f, 4);
      break;
    }
    case DType::kInt32: {
      int32_t n = static_cast<int32_t>(v);
      std::memcpy(bytes_.data() + 4 * i, &n, 4);
      break;
    }
    case DType::kBool:
      bytes_[i] = v != 0 ? 1 : 0;
      break;
  }
}

Literal Literal::scalar(DType dtype, double v) {
  Literal lit(Type{dtype, Shape{}});
  lit.set(0, v);
  return lit;
}

Literal Literal::from_doubles(Type type, const std::vector<double>& values) {
  Literal lit(std::move(type));
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < lit.num_elements(); ++i) {
    lit.set(static_cast<int64_t>(i), values[i]);
  }
  return lit;
}

}  // namespace kiln::ir
