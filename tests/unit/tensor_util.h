// kiln — test helpers for reading tensor elements whatever their dtype.
#pragma once

#include <cstdint>

#include "runtime/tensor.h"
#include "support/half.h"

namespace kiln {

// Element i of any concrete tensor as a double.
inline double at(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kFloat16:
      return t.data<Half>()[i].to_float();
    case DType::kBFloat16:
      return t.data<BFloat16>()[i].to_float();
    case DType::kFloat32:
      return t.data<float>()[i];
    case DType::kFloat64:
      return t.data<double>()[i];
    case DType::kInt32:
      return t.data<int32_t>()[i];
    case DType::kInt64:
      return static_cast<double>(t.data<int64_t>()[i]);
    case DType::kBool:
      return t.data<bool>()[i] ? 1 : 0;
  }
  return 0;
}

}  // namespace kiln
