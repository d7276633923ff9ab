// kiln — literal element access.
#include "ir/literal.h"

#include <cassert>
#include <limits>

#include "support/half.h"

namespace kiln::ir {

Literal::Literal(Type type) : type_(std::move(type)) {
  assert(type_.shape.is_fully_defined());
  bytes_.assign(static_cast<size_t>(type_.shape.num_elements() * dtype_size(type_.dtype)), 0);
}

namespace {

template <typename T>
T load(const std::vector<uint8_t>& bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + sizeof(T) * i, sizeof(T));
  return v;
}

template <typename T>
void store(std::vector<uint8_t>& bytes, int64_t i, T v) {
  std::memcpy(bytes.data() + sizeof(T) * i, &v, sizeof(T));
}

// double -> integer, truncating toward zero and saturating (nan gives 0).
template <typename T>
T to_integer(double v) {
  if (!(v == v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

}  // namespace

double Literal::get(int64_t i) const {
  switch (type_.dtype) {
    case DType::kFloat32:
      return load<float>(bytes_, i);
    case DType::kFloat64:
      return load<double>(bytes_, i);
    case DType::kFloat16:
      return load<Half>(bytes_, i).to_float();
    case DType::kBFloat16:
      return load<BFloat16>(bytes_, i).to_float();
    case DType::kInt32:
      return load<int32_t>(bytes_, i);
    case DType::kInt64:
      return static_cast<double>(load<int64_t>(bytes_, i));
    case DType::kBool:
      return bytes_[i] ? 1.0 : 0.0;
  }
  return 0;
}

void Literal::set(int64_t i, double v) {
  switch (type_.dtype) {
    case DType::kFloat32:
      store(bytes_, i, static_cast<float>(v));
      break;
    case DType::kFloat64:
      store(bytes_, i, v);
      break;
    case DType::kFloat16:
      store(bytes_, i, Half(static_cast<float>(v)));
      break;
    case DType::kBFloat16:
      store(bytes_, i, BFloat16(static_cast<float>(v)));
      break;
    case DType::kInt32:
      store(bytes_, i, to_integer<int32_t>(v));
      break;
    case DType::kInt64:
      store(bytes_, i, to_integer<int64_t>(v));
      break;
    case DType::kBool:
      bytes_[i] = v != 0 ? 1 : 0;
      break;
  }
}

int64_t Literal::get_int64(int64_t i) const {
  switch (type_.dtype) {
    case DType::kInt32:
      return load<int32_t>(bytes_, i);
    case DType::kInt64:
      return load<int64_t>(bytes_, i);
    case DType::kBool:
      return bytes_[i] ? 1 : 0;
    default:
      return to_integer<int64_t>(get(i));
  }
}

void Literal::set_int64(int64_t i, int64_t v) {
  switch (type_.dtype) {
    case DType::kInt32:
      store(bytes_, i, static_cast<int32_t>(v));
      break;
    case DType::kInt64:
      store(bytes_, i, v);
      break;
    default:
      set(i, static_cast<double>(v));
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
