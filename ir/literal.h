// kiln — a concrete tensor value inside the IR: the payload of `const` ops and what the
// interpreter and constant folding pass around. Dense, row-major, owned bytes.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "ir/types.h"

namespace kiln::ir {

class Literal {
 public:
  Literal() = default;
  // Zero-filled literal of a fully defined type.
  explicit Literal(Type type);

  const Type& type() const { return type_; }
  int64_t num_elements() const { return type_.shape.num_elements(); }
  void* data() { return bytes_.data(); }
  const void* data() const { return bytes_.data(); }
  int64_t size_bytes() const { return static_cast<int64_t>(bytes_.size()); }

  // Element i converted to/from double (exact for every dtype but i64 beyond 2^53; set rounds
  // to nearest for the float dtypes, truncates toward zero for the integer ones).
  double get(int64_t i) const;
  void set(int64_t i, double v);
  // Integer element access, exact for i32 and i64 (bool reads 0/1; floats truncate).
  int64_t get_int64(int64_t i) const;
  void set_int64(int64_t i, int64_t v);

  static Literal scalar(DType dtype, double v);
  static Literal from_doubles(Type type, const std::vector<double>& values);

  friend bool operator==(const Literal& a, const Literal& b) {
    return a.type_ == b.type_ && a.bytes_ == b.bytes_;
  }

 private:
  Type type_;
  std::vector<uint8_t> bytes_;
};

}  // namespace kiln::ir
