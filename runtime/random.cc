// kiln — Philox4x32-10 and the distributions built on it.
#include "runtime/random.h"

#include <cmath>
#include <mutex>
#include <random>

#include "support/error.h"
#include "support/str.h"

namespace kiln::random {
namespace {

// Hands out the stream's 32-bit words; a call discards the unused rest of its last block, so
// each call advances the counter by whole blocks.
class Words {
 public:
  explicit Words(Generator& g) : g_(g) {}
  uint32_t next() {
    if (used_ == 4) {
      block_ = g_.next_block();
      used_ = 0;
    }
    return block_[used_++];
  }
  // Uniform in [0, 1) with 24 random bits (exact in float32).
  double unit() { return (next() >> 8) * 0x1p-24; }
  // Uniform in [0, 1) with 53 random bits (for float64).
  double unit53() {
    const uint64_t x = (static_cast<uint64_t>(next()) << 32) | next();
    return static_cast<double>(x >> 11) * 0x1p-53;
  }
  // Uniform in (0, 1].
  double unit_open() { return ((next() >> 8) + 1) * 0x1p-24; }
  // A pair of standard normals (Box-Muller).
  std::pair<double, double> normals() {
    const double r = std::sqrt(-2.0 * std::log(unit_open()));
    const double theta = 2.0 * M_PI * unit();
    return {r * std::cos(theta), r * std::sin(theta)};
  }

 private:
  Generator& g_;
  std::array<uint32_t, 4> block_{};
  int used_ = 4;
};

void check_float(const char* op, DType dtype) {
  if (!is_floating(dtype)) {
    throw InvalidArgumentError(
        cat("random.", op, ": dtype must be floating point, got ", dtype_name(dtype)));
  }
}

void check_shape(const char* op, const Shape& shape) {
  if (!shape.is_fully_defined()) {
    throw InvalidArgumentError(cat("random.", op, ": shape ", shape, " is not fully defined"));
  }
}

void check_no_seed(const char* op, const std::optional<uint64_t>& seed) {
  if (seed) {
    throw InvalidArgumentError(cat("random.", op,
                                   ": a Generator has its own seed; pass .seed only to the "
                                   "free functions (kiln::random::",
                                   op, ")"));
  }
}

// Stores `v` rounded to float dtype `dtype` as element i of `out`.
void put_float(void* out, DType dtype, int64_t i, double v) {
  switch (dtype) {
    case DType::kFloat64:
      static_cast<double*>(out)[i] = v;
      break;
    case DType::kFloat16:
      static_cast<Half*>(out)[i] = Half(static_cast<float>(v));
      break;
    case DType::kBFloat16:
      static_cast<BFloat16*>(out)[i] = BFloat16(static_cast<float>(v));
      break;
    default:
      static_cast<float*>(out)[i] = static_cast<float>(v);
      break;
  }
}

Generator& global_generator(std::unique_lock<std::mutex>& lock) {
  static std::mutex mu;
  static Generator g = Generator::non_deterministic();
  lock = std::unique_lock<std::mutex>(mu);
  return g;
}

template <typename F>
Tensor with_seed(const std::optional<uint64_t>& seed, F&& f) {
  if (seed) {
    Generator g = Generator::from_seed(*seed);
    return f(g);
  }
  std::unique_lock<std::mutex> lock;
  return f(global_generator(lock));
}

NormalOptions without_seed(NormalOptions o) {
  o.seed.reset();
  return o;
}
UniformOptions without_seed(UniformOptions o) {
  o.seed.reset();
  return o;
}

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57, kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k[0] += kW0;
      k[1] += kW1;
    }
    const uint64_t p0 = static_cast<uint64_t>(kM0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k[1], static_cast<uint32_t>(p0)};
  }
  return c;
}

Generator Generator::from_seed(uint64_t seed) { return Generator(seed); }

Generator Generator::non_deterministic() {
  std::random_device rd;
  return Generator((static_cast<uint64_t>(rd()) << 32) | rd());
}

std::array<uint32_t, 4> Generator::next_block() {
  const uint64_t n = counter_++;
  return philox4x32_10({static_cast<uint32_t>(n), static_cast<uint32_t>(n >> 32), 0, 0},
                       {static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32)});
}

Tensor Generator::normal(const Shape& shape, const NormalOptions& o) {
  check_no_seed("normal", o.seed);
  check_float("normal", o.dtype);
  check_shape("normal", shape);
  Tensor t = Tensor::empty(o.dtype, shape);
  void* out = t.mutable_raw_data();
  Words w(*this);
  const int64_t n = t.num_elements();
  for (int64_t i = 0; i < n; i += 2) {
    const auto [z0, z1] = w.normals();
    put_float(out, o.dtype, i, o.mean + o.stddev * z0);
    if (i + 1 < n) put_float(out, o.dtype, i + 1, o.mean + o.stddev * z1);
  }
  return t;
}

Tensor Generator::truncated_normal(const Shape& shape, const NormalOptions& o) {
  check_no_seed("truncated_normal", o.seed);
  check_float("truncated_normal", o.dtype);
  check_shape("truncated_normal", shape);
  Tensor t = Tensor::empty(o.dtype, shape);
  void* out = t.mutable_raw_data();
  Words w(*this);
  const int64_t n = t.num_elements();
  for (int64_t i = 0; i < n;) {
    const auto [z0, z1] = w.normals();
    for (double z : {z0, z1}) {
      if (i < n && std::fabs(z) <= 2.0) put_float(out, o.dtype, i++, o.mean + o.stddev * z);
    }
  }
  return t;
}

Tensor Generator::uniform(const Shape& shape, const UniformOptions& o) {
  check_no_seed("uniform", o.seed);
  check_shape("uniform", shape);
  if (!(o.minval < o.maxval)) {
    throw InvalidArgumentError(
        cat("random.uniform: Need minval < maxval, got ", o.minval, " >= ", o.maxval));
  }
  Tensor t = Tensor::empty(o.dtype, shape);
  Words w(*this);
  const int64_t n = t.num_elements();
  switch (o.dtype) {
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16: {
      void* out = t.mutable_raw_data();
      for (int64_t i = 0; i < n; ++i) {
        const double u = o.dtype == DType::kFloat64 ? w.unit53() : w.unit();
        put_float(out, o.dtype, i, o.minval + (o.maxval - o.minval) * u);
      }
      break;
    }
    case DType::kInt64: {
      // [-2^63, 2^63]: bounds whose difference fits in uint64.
      if (o.minval != std::trunc(o.minval) || o.maxval != std::trunc(o.maxval) ||
          o.minval < -9223372036854775808.0 || o.maxval > 9223372036854775808.0) {
        throw InvalidArgumentError(cat("random.uniform: int64 bounds must be integers in int64 ",
                                       "range, got [", o.minval, ", ", o.maxval, ")"));
      }
      const auto lo = static_cast<int64_t>(o.minval);
      const uint64_t range =
          o.maxval >= 9223372036854775808.0
              ? uint64_t{9223372036854775808u} - static_cast<uint64_t>(lo)
              : static_cast<uint64_t>(static_cast<int64_t>(o.maxval)) - static_cast<uint64_t>(lo);
      auto* out = static_cast<int64_t*>(t.mutable_raw_data());
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t x = (static_cast<uint64_t>(w.next()) << 32) | w.next();
        out[i] = static_cast<int64_t>(static_cast<uint64_t>(lo) + x % range);
      }
      break;
    }
    case DType::kInt32: {
      if (o.minval != std::trunc(o.minval) || o.maxval != std::trunc(o.maxval) ||
          o.minval < INT32_MIN || o.maxval > 1.0 + INT32_MAX) {
        throw InvalidArgumentError(
            cat("random.uniform: int32 bounds must be integers in int32 "
                "range, got [",
                o.minval, ", ", o.maxval, ")"));
      }
      const uint64_t range = static_cast<uint64_t>(o.maxval - o.minval);
      int32_t* out = static_cast<int32_t*>(t.mutable_raw_data());
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t x = (static_cast<uint64_t>(w.next()) << 32) | w.next();
        out[i] = static_cast<int32_t>(static_cast<int64_t>(o.minval) + x % range);
      }
      break;
    }
    default:
      throw InvalidArgumentError(
          cat("random.uniform: dtype must be a float or integer dtype, got ", dtype_name(o.dtype)));
  }
  return t;
}

Tensor normal(const Shape& shape, const NormalOptions& o) {
  return with_seed(o.seed, [&](Generator& g) { return g.normal(shape, without_seed(o)); });
}
Tensor uniform(const Shape& shape, const UniformOptions& o) {
  return with_seed(o.seed, [&](Generator& g) { return g.uniform(shape, without_seed(o)); });
}
Tensor truncated_normal(const Shape& shape, const NormalOptions& o) {
  return with_seed(o.seed,
                   [&](Generator& g) { return g.truncated_normal(shape, without_seed(o)); });
}

}  // namespace kiln::random
