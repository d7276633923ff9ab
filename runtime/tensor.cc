// kiln — Tensor storage, creation and printing.
#include "runtime/tensor.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "ir/function.h"
#include "ir/printer.h"
#include "runtime/kernels/kernels.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace internal {

Buffer::Buffer(int64_t n) : data(kernels::allocate(n)), bytes(n) {}
Buffer::Buffer(int64_t n, void* inline_data) : data(inline_data), bytes(n), owns_data(false) {}
Buffer::~Buffer() {
  if (owns_data) kernels::deallocate(data);
}

}  // namespace internal

namespace {

// Allocates the refcounted tensor metadata (TensorImpl, Buffer, their control blocks) from the
// runtime's per-thread small-block free lists, which cost a fraction of malloc's.
template <typename T>
struct MetadataAllocator {
  using value_type = T;
  MetadataAllocator() = default;
  template <typename U>
  MetadataAllocator(const MetadataAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(kernels::allocate(n * sizeof(T))); }
  void deallocate(T* p, size_t) { kernels::deallocate(p); }
  friend bool operator==(MetadataAllocator, MetadataAllocator) { return true; }
};

// A Buffer with its storage inside (one allocation with the control block, not two).
template <int64_t kCapacity>
struct InlineBuffer : internal::Buffer {
  explicit InlineBuffer(int64_t bytes) : Buffer(bytes, storage) {}
  alignas(64) unsigned char storage[kCapacity];
};

std::shared_ptr<internal::Buffer> make_buffer(int64_t bytes) {
  if (bytes <= 64) {
    return std::allocate_shared<InlineBuffer<64>>(MetadataAllocator<InlineBuffer<64>>(), bytes);
  }
  if (bytes <= 256) {
    return std::allocate_shared<InlineBuffer<256>>(MetadataAllocator<InlineBuffer<256>>(), bytes);
  }
  return std::allocate_shared<internal::Buffer>(MetadataAllocator<internal::Buffer>(), bytes);
}

void require(const std::shared_ptr<internal::TensorImpl>& impl) {
  if (!impl) throw FailedPreconditionError("use of an empty (default-constructed) Tensor");
}

// An integral float below 1e16 as NumPy prints it: "3.", "-0.".
std::string integral_float(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str() + ".";
}

// One element formatted NumPy-style: "1." for integral floats, "0.5", "nan", "inf"; float64 and
// the 16-bit floats with the fewest digits that read back to the same value.
std::string format_element(const Tensor& t, int64_t i) {
  const DType dtype = t.dtype();
  if (is_floating(dtype)) {
    double v = 0;
    switch (dtype) {
      case DType::kFloat32:
        v = static_cast<const float*>(t.raw_data())[i];
        break;
      case DType::kFloat64:
        v = static_cast<const double*>(t.raw_data())[i];
        break;
      case DType::kFloat16:
        v = static_cast<const Half*>(t.raw_data())[i].to_float();
        break;
      default:
        v = static_cast<const BFloat16*>(t.raw_data())[i].to_float();
        break;
    }
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (v == std::floor(v) && std::fabs(v) < 1e16) return integral_float(v);
    if (dtype == DType::kFloat32) {
      std::ostringstream os;
      os.precision(8);
      os << static_cast<float>(v);
      return os.str();
    }
    if (dtype == DType::kFloat64) {
      char buf[64];
      auto r = std::to_chars(buf, buf + sizeof(buf), v);
      return std::string(buf, r.ptr);
    }
    return ir::format_half(static_cast<float>(v), dtype);
  }
  switch (dtype) {
    case DType::kInt32:
      return std::to_string(static_cast<const int32_t*>(t.raw_data())[i]);
    case DType::kInt64:
      return std::to_string(static_cast<const int64_t*>(t.raw_data())[i]);
    case DType::kBool:
      return static_cast<const bool*>(t.raw_data())[i] ? "True" : "False";
    default:
      return "?";
  }
}

// double -> integer, truncating toward zero, saturating; nan gives 0.
template <typename T>
T saturate(double v) {
  if (!(v == v)) return 0;
  if (v <= static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// Stores `v` converted to `dtype` as element i of `data`.
void store(void* data, DType dtype, int64_t i, double v) {
  switch (dtype) {
    case DType::kFloat32:
      static_cast<float*>(data)[i] = static_cast<float>(v);
      break;
    case DType::kFloat64:
      static_cast<double*>(data)[i] = v;
      break;
    case DType::kFloat16:
      static_cast<Half*>(data)[i] = Half(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      static_cast<BFloat16*>(data)[i] = BFloat16(static_cast<float>(v));
      break;
    case DType::kInt32:
      static_cast<int32_t*>(data)[i] = saturate<int32_t>(v);
      break;
    case DType::kInt64:
      static_cast<int64_t*>(data)[i] = saturate<int64_t>(v);
      break;
    case DType::kBool:
      static_cast<bool*>(data)[i] = v != 0;
      break;
  }
}

// The same for an integer value (exact for int64).
void store_int(void* data, DType dtype, int64_t i, int64_t v) {
  switch (dtype) {
    case DType::kInt32:
      static_cast<int32_t*>(data)[i] = static_cast<int32_t>(v);
      break;
    case DType::kInt64:
      static_cast<int64_t*>(data)[i] = v;
      break;
    default:
      store(data, dtype, i, static_cast<double>(v));
      break;
  }
}

// Prints dims [dim, rank) of the block starting at element `offset`, NumPy-style, eliding
// the middle of long dimensions when `summarize` is set.
void print_block(std::string& out, const Tensor& t, int dim, int64_t offset, bool summarize) {
  const Shape& s = t.shape();
  if (dim == s.rank()) {
    out += format_element(t, offset);
    return;
  }
  int64_t stride = 1;
  for (int d = dim + 1; d < s.rank(); ++d) stride *= s[d];
  const int64_t n = s[dim];
  constexpr int64_t kEdge = 3;
  const bool elide = summarize && n > 2 * kEdge;
  out += "[";
  int printed = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (elide && i == kEdge) i = n - kEdge;  // "..." stands for the middle
    if (printed++ > 0) {
      out += dim + 1 == s.rank()
                 ? std::string(" ")
                 : std::string(s.rank() - dim - 1, '\n') + std::string(dim + 1, ' ');
    }
    if (elide && i == n - kEdge) {
      out += "...";
      out += dim + 1 == s.rank()
                 ? std::string(" ")
                 : std::string(s.rank() - dim - 1, '\n') + std::string(dim + 1, ' ');
    }
    print_block(out, t, dim + 1, offset + i * stride, summarize);
  }
  out += "]";
}

std::string shape_tuple(const Shape& s) {
  std::string out = "(";
  for (int i = 0; i < s.rank(); ++i) {
    if (i) out += ", ";
    out += s[i] < 0 ? std::string("None") : std::to_string(s[i]);
  }
  if (s.rank() == 1) out += ",";
  return out + ")";
}

template <typename T, typename U>
Tensor from_nested(std::initializer_list<std::initializer_list<U>> values, DType dtype) {
  const int64_t rows = static_cast<int64_t>(values.size());
  const int64_t cols = rows ? static_cast<int64_t>(values.begin()->size()) : 0;
  std::vector<double> flat;
  for (const auto& row : values) {
    if (static_cast<int64_t>(row.size()) != cols) {
      throw InvalidArgumentError(cat("constant: nested list rows have different lengths (", cols,
                                     " vs. ", row.size(), ")"));
    }
    for (U v : row) flat.push_back(static_cast<double>(v));
  }
  Tensor t = Tensor::empty(dtype, Shape{rows, cols});
  for (size_t i = 0; i < flat.size(); ++i) store(t.mutable_raw_data(), dtype, i, flat[i]);
  return t;
}

template <typename U>
Tensor from_list(std::initializer_list<U> values, DType dtype) {
  Tensor t = Tensor::empty(dtype, Shape{static_cast<int64_t>(values.size())});
  size_t i = 0;
  for (U v : values) {
    if constexpr (std::is_integral_v<U>) {
      store_int(t.mutable_raw_data(), dtype, i, v);
    } else {
      store(t.mutable_raw_data(), dtype, i, v);
    }
    ++i;
  }
  return t;
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, Shape shape, DType dtype) {
  if (!shape.is_fully_defined() || shape.num_elements() != static_cast<int64_t>(values.size())) {
    throw InvalidArgumentError(
        cat("constant: ", values.size(), " values do not fill a tensor of shape ", shape));
  }
  Tensor t = Tensor::empty(dtype, std::move(shape));
  T* out = static_cast<T*>(t.mutable_raw_data());
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace

DType Tensor::dtype() const {
  require(impl_);
  return impl_->dtype;
}

const Shape& Tensor::shape() const {
  require(impl_);
  return impl_->shape;
}

bool Tensor::is_symbolic() const { return impl_ && impl_->value != nullptr; }

const void* Tensor::raw_data() const {
  require(impl_);
  if (!impl_->buffer) {
    throw FailedPreconditionError(
        "this Tensor is symbolic (it stands for a value inside a function being traced) and has "
        "no contents; return it from the function to get its value");
  }
  return impl_->buffer->data;
}

void* Tensor::mutable_raw_data() { return const_cast<void*>(raw_data()); }

void Tensor::check_element_type(DType requested) const {
  if (dtype() != requested) {
    throw InvalidArgumentError(cat("requested elements of type ", dtype_name(requested), " from a ",
                                   dtype_name(dtype()), " tensor"));
  }
}

void Tensor::throw_not_scalar() const {
  throw InvalidArgumentError(cat("item(): the tensor has shape ", shape(), " (", num_elements(),
                                 " elements); item() needs exactly one"));
}

Tensor Tensor::empty(DType dtype, Shape shape) {
  Tensor t;
  t.impl_ = std::allocate_shared<internal::TensorImpl>(MetadataAllocator<internal::TensorImpl>());
  t.impl_->dtype = dtype;
  const int64_t bytes = std::max<int64_t>(shape.num_elements(), 0) * dtype_size(dtype);
  t.impl_->shape = std::move(shape);
  t.impl_->buffer = make_buffer(bytes);
  return t;
}

Tensor Tensor::alias() const {
  Tensor t;
  if (impl_) t.impl_ = std::make_shared<internal::TensorImpl>(*impl_);
  return t;
}

Tensor Tensor::symbolic(ir::Value* value, uint64_t trace_id) {
  Tensor t;
  t.impl_ = std::make_shared<internal::TensorImpl>();
  t.impl_->dtype = value->type().dtype;
  t.impl_->shape = value->type().shape;
  t.impl_->value = value;
  t.impl_->trace_id = trace_id;
  return t;
}

std::string Tensor::to_string() const {
  if (!impl_) return "kiln.Tensor(<empty>)";
  const std::string tail =
      cat(", shape=", shape_tuple(shape()), ", dtype=", dtype_name(dtype()), ")");
  if (is_symbolic()) return "kiln.Tensor(<symbolic>" + tail;
  std::string body;
  print_block(body, *this, 0, 0, num_elements() > 1000);
  return "kiln.Tensor(" + std::string(rank() > 1 ? "\n" : "") + body + tail;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

Tensor constant(int value) { return constant(static_cast<int64_t>(value), DType::kInt32); }
Tensor constant(int64_t value) { return constant(value, DType::kInt64); }
Tensor constant(int value, DType dtype) { return constant(static_cast<int64_t>(value), dtype); }
Tensor constant(int64_t value, DType dtype) {
  Tensor t = Tensor::empty(dtype, Shape{});
  store_int(t.mutable_raw_data(), dtype, 0, value);
  return t;
}
Tensor constant(float value) { return constant(static_cast<double>(value), DType::kFloat32); }
Tensor constant(double value) { return constant(value, DType::kFloat32); }
Tensor constant(bool value) { return constant(value ? 1.0 : 0.0, DType::kBool); }
Tensor constant(double value, DType dtype) {
  Tensor t = Tensor::empty(dtype, Shape{});
  store(t.mutable_raw_data(), dtype, 0, value);
  return t;
}

Tensor constant(std::initializer_list<int> v) { return from_list(v, DType::kInt32); }
Tensor constant(std::initializer_list<float> v) { return from_list(v, DType::kFloat32); }
Tensor constant(std::initializer_list<double> v, DType dtype) { return from_list(v, dtype); }
Tensor constant(std::initializer_list<int> v, DType dtype) { return from_list(v, dtype); }
Tensor constant(std::initializer_list<std::initializer_list<int>> v) {
  return from_nested<int>(v, DType::kInt32);
}
Tensor constant(std::initializer_list<std::initializer_list<float>> v) {
  return from_nested<float>(v, DType::kFloat32);
}
Tensor constant(std::initializer_list<std::initializer_list<int>> v, DType dtype) {
  return from_nested<int>(v, dtype);
}
Tensor constant(std::initializer_list<std::initializer_list<double>> v, DType dtype) {
  return from_nested<double>(v, dtype);
}
Tensor constant(const std::vector<float>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kFloat32);
}
Tensor constant(const std::vector<int32_t>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kInt32);
}
Tensor constant(const std::vector<bool>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kBool);
}
Tensor constant(const std::vector<double>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kFloat64);
}
Tensor constant(const std::vector<int64_t>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kInt64);
}
Tensor constant(const std::vector<Half>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kFloat16);
}
Tensor constant(const std::vector<BFloat16>& v, Shape shape) {
  return from_vector(v, std::move(shape), DType::kBFloat16);
}

Tensor from_buffer(const void* data, DType dtype, Shape shape) {
  if (!shape.is_fully_defined()) {
    throw InvalidArgumentError(cat("from_buffer: shape ", shape, " is not fully defined"));
  }
  Tensor t = Tensor::empty(dtype, std::move(shape));
  std::memcpy(t.mutable_raw_data(), data, t.num_elements() * dtype_size(dtype));
  return t;
}

}  // namespace kiln
