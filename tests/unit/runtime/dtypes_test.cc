// kiln — float16, bfloat16, float64 and int64 eagerly: creation, printing, the cast matrix,
// arithmetic (16-bit floats computed in float32 and rounded per op), errors, random, indices.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/random.h"
#include "runtime/variable.h"
#include "support/error.h"
#include "support/half.h"
#include "tests/unit/tensor_util.h"

namespace kiln {
namespace {

std::string message_of(auto&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no exception)";
}

// `x` as a value of `dtype` (round to nearest for floats, through float for the 16-bit ones;
// truncation toward zero for integers; != 0 for bool).
double represent(double x, DType dtype) {
  switch (dtype) {
    case DType::kFloat16:
      return Half(static_cast<float>(x)).to_float();
    case DType::kBFloat16:
      return BFloat16(static_cast<float>(x)).to_float();
    case DType::kFloat32:
      return static_cast<float>(x);
    case DType::kFloat64:
      return x;
    case DType::kInt32:
    case DType::kInt64:
      return std::trunc(x);
    case DType::kBool:
      return x != 0 ? 1 : 0;
  }
  return 0;
}

TEST(DTypesTest, NamesSizesAndKinds) {
  EXPECT_EQ(dtype_name(float16), "float16");
  EXPECT_EQ(dtype_name(bfloat16), "bfloat16");
  EXPECT_EQ(dtype_name(float64), "float64");
  EXPECT_EQ(dtype_name(int64), "int64");
  EXPECT_EQ(dtype_ir_name(bfloat16), "bf16");
  EXPECT_EQ(dtype_from_ir_name("i64"), int64);
  EXPECT_EQ(dtype_size(float16), 2);
  EXPECT_EQ(dtype_size(bfloat16), 2);
  EXPECT_EQ(dtype_size(float64), 8);
  EXPECT_EQ(dtype_size(int64), 8);
  EXPECT_TRUE(is_floating(bfloat16));
  EXPECT_TRUE(is_floating(float64));
  EXPECT_FALSE(is_floating(int64));
  EXPECT_TRUE(is_integer(int64));
}

TEST(DTypesTest, HalfConversionRoundsToNearestEven) {
  EXPECT_EQ(Half(0.1f).bits, 0x2e66);  // 0.0999755859375
  EXPECT_EQ(Half(65504.f).bits, 0x7bff);
  EXPECT_EQ(Half(65519.f).bits, 0x7bff);
  EXPECT_EQ(Half(65520.f).bits, 0x7c00);  // halfway to 65536: rounds to even, i.e. inf
  EXPECT_EQ(Half(5.9604645e-8f).bits, 0x0001);
  EXPECT_EQ(Half(2.9802322e-8f).bits, 0x0000);     // 2^-25: a tie, to even (0)
  EXPECT_EQ(Half(1.f + 1.f / 2048).bits, 0x3c00);  // tie between 1 and 1 + 2^-10: to even
  EXPECT_EQ(Half(-2.f).to_float(), -2.f);
  EXPECT_TRUE(std::isnan(Half(std::nanf("")).to_float()));
  EXPECT_EQ(BFloat16(1.f + 1.f / 256).bits, 0x3f80);  // tie: to even (1.0)
  EXPECT_EQ(BFloat16(1.f + 3.f / 512).bits, 0x3f81);  // above the tie: up
  EXPECT_EQ(BFloat16(0.1f).to_float(), 0.10009765625f);
  EXPECT_TRUE(std::isnan(BFloat16(std::nanf("")).to_float()));
}

TEST(DTypesTest, Creation) {
  EXPECT_EQ(constant(0.1, float64).item<double>(), 0.1);  // full precision
  const int64_t big = (int64_t{1} << 53) + 1;             // not a double
  EXPECT_EQ(constant(big).dtype(), int64);
  EXPECT_EQ(constant(big).item<int64_t>(), big);
  EXPECT_EQ(constant(big, int64).item<int64_t>(), big);
  EXPECT_EQ(constant(std::vector<double>{0.5, 1e-300}, Shape{2}).to_vector<double>(),
            (std::vector<double>{0.5, 1e-300}));
  EXPECT_EQ(constant(std::vector<int64_t>{big, -big}, Shape{1, 2}).to_vector<int64_t>(),
            (std::vector<int64_t>{big, -big}));
  const Tensor h = constant(std::vector<Half>{Half(1.5f), Half(-0.25f)}, Shape{2});
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_EQ(h.to_vector<Half>()[1].to_float(), -0.25f);
  EXPECT_EQ(constant(0.1, bfloat16).item<BFloat16>().to_float(), 0.10009765625f);
  EXPECT_EQ(constant({{1, 2}, {3, 4}}, int64).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 2, 3, 4}));
  EXPECT_EQ(zeros({2}, float16).to_vector<Half>()[0].to_float(), 0.f);
  EXPECT_EQ(ones({2}, bfloat16).to_vector<BFloat16>()[1].to_float(), 1.f);
  EXPECT_EQ(range(0, 3, 1, int64).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(message_of([&] { constant(0.5, float64).item<float>(); }),
            "requested elements of type float32 from a float64 tensor");
}

TEST(DTypesTest, PrintsLikeNumPy) {
  EXPECT_EQ(constant(std::vector<double>{0.1, 1.0, 0.1 + 0.2}, Shape{3}).to_string(),
            "kiln.Tensor([0.1 1. 0.30000000000000004], shape=(3,), dtype=float64)");
  EXPECT_EQ(constant(0.1, float16).to_string(), "kiln.Tensor(0.1, shape=(), dtype=float16)");
  // NumPy: np.float16(0.1) + np.float16(0.2) -> 0.2998 (the sum is rounded to float16).
  EXPECT_EQ((constant(0.1, float16) + constant(0.2, float16)).to_string(),
            "kiln.Tensor(0.2998, shape=(), dtype=float16)");
  EXPECT_EQ(constant({{1.5, -2.0}, {65504.0, 1e-7}}, float16).to_string(),
            "kiln.Tensor(\n[[1.5 -2.]\n [65504. 1e-07]], shape=(2, 2), dtype=float16)");
  EXPECT_EQ(constant({3.0, 0.1}, bfloat16).to_string(),
            "kiln.Tensor([3. 0.1], shape=(2,), dtype=bfloat16)");
  EXPECT_EQ(constant(std::numeric_limits<int64_t>::min()).to_string(),
            "kiln.Tensor(-9223372036854775808, shape=(), dtype=int64)");
}

TEST(DTypesTest, CastMatrix) {
  const std::vector<double> values = {0, 1, -2.75, 3.5, 1000, -0.5};
  for (DType from : kAllDTypes) {
    const Tensor x = cast(constant(std::vector<double>(values), Shape{6}), from);
    for (DType to : kAllDTypes) {
      const Tensor y = cast(x, to);
      ASSERT_EQ(y.dtype(), to);
      for (int64_t i = 0; i < 6; ++i) {
        const double want = represent(represent(values[i], from), to);
        EXPECT_EQ(at(y, i), want) << dtype_name(from) << " -> " << dtype_name(to) << " of "
                                  << values[i];
      }
    }
  }
  // float -> int: nan and out-of-range give the lowest value; int64 -> int32 wraps.
  const Tensor wide = constant(std::vector<double>{1e30, std::nan(""), -1e30}, Shape{3});
  EXPECT_EQ(cast(wide, int64).to_vector<int64_t>(),
            std::vector<int64_t>(3, std::numeric_limits<int64_t>::min()));
  EXPECT_EQ(cast(constant(int64_t{1} << 32 | 7), int32).item<int32_t>(), 7);
  // float64 -> float16 rounds through float32 (as Eigen::half, so TF, does).
  EXPECT_EQ(cast(constant(65520.0, float64), float16).item<Half>().bits, 0x7c00);
}

TEST(DTypesTest, Float64AndInt64Arithmetic) {
  EXPECT_EQ((constant(0.1, float64) + constant(0.2, float64)).item<double>(), 0.1 + 0.2);
  EXPECT_EQ(exp(constant(1.0, float64)).item<double>(), std::exp(1.0));
  EXPECT_NEAR(tanh(constant(0.5, float64)).item<double>(), std::tanh(0.5), 1e-16);
  EXPECT_EQ(sqrt(constant(2.0, float64)).item<double>(), std::sqrt(2.0));
  const int64_t big = int64_t{1} << 40;
  EXPECT_EQ((constant(big) * 3 + 5).item<int64_t>(), 3298534883333);
  const int64_t max = std::numeric_limits<int64_t>::max();
  EXPECT_EQ((constant(max) + 1).item<int64_t>(), std::numeric_limits<int64_t>::min());  // wraps
  const Tensor a = constant({-7, 7}, int64), b = constant({2, -2}, int64);
  EXPECT_EQ(div(a, b).to_vector<int64_t>(), (std::vector<int64_t>{-3, -3}));
  EXPECT_EQ(floordiv(a, b).to_vector<int64_t>(), (std::vector<int64_t>{-4, -4}));
  EXPECT_EQ(mod(a, b).to_vector<int64_t>(), (std::vector<int64_t>{1, -1}));
  EXPECT_EQ(abs(a).to_vector<int64_t>(), (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(message_of([&] { div(a, constant({1, 0}, int64)); }), "div: Integer division by zero");
  EXPECT_EQ(reduce_sum(constant(std::vector<int64_t>{max, 2}, Shape{2})).item<int64_t>(),
            std::numeric_limits<int64_t>::min() + 1);
  EXPECT_EQ(reduce_mean(constant({1.0, 2.0, 4.0}, float64)).item<double>(), 7.0 / 3.0);
  EXPECT_EQ(reduce_max(constant(std::vector<int64_t>{3, big, -1}, Shape{3})).item<int64_t>(), big);
  EXPECT_EQ(reduce_prod(constant({1.5, 2.0}, float64)).item<double>(), 3.0);
  EXPECT_EQ(cumsum(constant({1, 2, 3}, int64)).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 3, 6}));
  EXPECT_EQ(argmax(constant({1.0, 9.0, 3.0}, float64), 0, int64).dtype(), int64);
  EXPECT_EQ(argmax(constant({1.0, 9.0, 3.0}, float64), 0, int64).item<int64_t>(), 1);
  EXPECT_EQ(less(constant({1, 5}, int64), constant(3, int64)).to_vector<bool>(),
            (std::vector<bool>{true, false}));
}

TEST(DTypesTest, MatmulEveryNumericDtype) {
  const std::vector<double> want = {19, 22, 43, 50};
  for (DType d : {float16, bfloat16, float32, float64, int32, int64}) {
    const Tensor a = constant({{1, 2}, {3, 4}}, d), b = constant({{5, 6}, {7, 8}}, d);
    const Tensor c = matmul(a, b);
    ASSERT_EQ(c.dtype(), d);
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(at(c, i), want[i]) << dtype_name(d);
    // Transposes and a broadcast batch.
    const Tensor bt = matmul(reshape(a, {1, 2, 2}), b, /*transpose_a=*/true, /*transpose_b=*/true);
    const std::vector<double> want_t = {23, 31, 34, 46};
    for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(at(bt, i), want_t[i]) << dtype_name(d);
  }
  // int64 products wrap.
  const int64_t big = int64_t{1} << 62;
  EXPECT_EQ(matmul(constant(std::vector<int64_t>{big}, Shape{1, 1}),
                   constant(std::vector<int64_t>{4}, Shape{1, 1}))
                .item<int64_t>(),
            0);
}

// Every numeric dtype gives the float32 results on small integers (exact in all of them).
TEST(DTypesTest, ArrayOpsAgreeWithFloat32OnSmallIntegers) {
  using Fn = Tensor (*)(const Tensor&);
  const std::pair<const char*, Fn> ops[] = {
      {"concat",
       [](const Tensor& x) {
         return concat({x, x * 2}, 1);
       }},
      {"stack",
       [](const Tensor& x) {
         return stack({x, -x}, 1);
       }},
      {"tile",
       [](const Tensor& x) {
         return tile(x, {2, 1});
       }},
      {"pad",
       [](const Tensor& x) {
         return pad(x, {{1, 0}, {0, 2}}, 3);
       }},
      {"split", [](const Tensor& x) { return split(x, 2, 1)[1]; }},
      {"transpose", [](const Tensor& x) { return transpose(x); }},
      {"squeeze", [](const Tensor& x) { return squeeze(expand_dims(x, 0)); }},
      {"slice", [](const Tensor& x) { return x["::-1, 1:"]; }},
      {"reduce_prod", [](const Tensor& x) { return reduce_prod(x, std::vector<int64_t>{0}); }},
      {"reduce_min", [](const Tensor& x) { return reduce_min(x, std::vector<int64_t>{1}); }},
      {"reduce_mean", [](const Tensor& x) { return reduce_mean(x * 4, std::vector<int64_t>{1}); }},
      {"cumsum", [](const Tensor& x) { return cumsum(x, 1, true, true); }},
      {"add_n",
       [](const Tensor& x) {
         return add_n({x, x, -x});
       }},
      {"clip", [](const Tensor& x) { return clip_by_value(x, -2, 3); }},
      {"minmax", [](const Tensor& x) { return maximum(x, 1) - minimum(x, -1); }},
      {"compare", [](const Tensor& x) { return cast(logical_or(equal(x, 2), x >= 3), x.dtype()); }},
      {"sign_relu", [](const Tensor& x) { return sign(x) + relu6(x) + relu(x) + round(x); }},
      {"square_abs", [](const Tensor& x) { return square(x) + abs(x); }},
      {"mod_floordiv", [](const Tensor& x) { return mod(x, 3) + floordiv(x, 2); }},
      {"argmin", [](const Tensor& x) { return cast(argmin(x, 1), x.dtype()); }},
      {"top_k", [](const Tensor& x) { return top_k(x, 2).values; }},
      {"gather",
       [](const Tensor& x) {
         return gather(x, constant({3, 0}), 1);
       }},
      {"where", [](const Tensor& x) { return where(x > 0, x, zeros_like(x)); }},
      {"broadcast_to",
       [](const Tensor& x) {
         return broadcast_to(x[":1"], Shape{3, 4});
       }},
      {"matmul", [](const Tensor& x) { return matmul(x, x, false, true); }},
  };
  const Tensor base = constant({{3, -1, 4, 1}, {-5, 0, 2, 6}, {5, -3, 5, 8}}, float32);
  for (auto [name, op] : ops) {
    const Tensor want = op(base);
    for (DType d : {float16, bfloat16, float64, int32, int64}) {
      const Tensor got = op(cast(base, d));
      ASSERT_EQ(got.dtype(), d) << name;
      ASSERT_EQ(got.shape(), want.shape()) << name;
      for (int64_t i = 0; i < want.num_elements(); ++i) {
        EXPECT_EQ(at(got, i), at(want, i)) << name << " " << dtype_name(d) << " element " << i;
      }
    }
  }
  // Float-only composites on the float dtypes.
  for (DType d : {float16, bfloat16, float64}) {
    const Tensor x = cast(base, d);
    EXPECT_NEAR(at(reduce_sum(softmax(x), std::vector<int64_t>{1}), 0), 1.0, 0.01);
    EXPECT_NEAR(at(reduce_logsumexp(x), 0), at(reduce_logsumexp(base), 0), 0.1);
    EXPECT_NEAR(at(log_softmax(x), 0), at(log_softmax(base), 0), 0.05);
  }
}

TEST(DTypesTest, HalfTypesRoundEveryOp) {
  // 0.1 + 0.2 in float32 is 0.2999267578125 exactly between two float16 values: to even.
  EXPECT_EQ((constant(0.1, float16) + constant(0.2, float16)).item<Half>().to_float(),
            0.2998046875f);
  // Each op rounds: (1 + 2^-11) + 2^-11 stays 1 in float16, though 1 + 2^-10 is representable.
  const Tensor tiny = constant(1.0 / 2048, float16);
  EXPECT_EQ(((constant(1.0, float16) + tiny) + tiny).item<Half>().to_float(), 1.f);
  EXPECT_EQ((constant(1.0, float16) + (tiny + tiny)).item<Half>().to_float(), 1.0009765625f);
  EXPECT_TRUE(std::isinf((constant(60000.0, float16) * 2).item<Half>().to_float()));
  EXPECT_EQ((constant(1.0, bfloat16) + constant(3.0 / 512, bfloat16)).item<BFloat16>().to_float(),
            1.0078125f);
  EXPECT_EQ(exp(constant(1.0, float16)).item<Half>().to_float(), Half(std::exp(1.0f)).to_float());
  // Reductions accumulate in float32 and round once: float16 steps are 1 at 1024, so adding the
  // halves one by one in float16 would stay at 1024.
  EXPECT_EQ(reduce_sum(constant({1024.0, 0.5, 0.5}, float16)).item<Half>().to_float(), 1025.f);
  EXPECT_EQ(argmax(constant({1.0, 9.0, 3.0}, bfloat16)).item<int32_t>(), 1);
  // Ops that only move elements keep the 16 bits.
  const Tensor m = constant({{0.1, 0.2}, {0.3, 0.4}}, float16);
  EXPECT_EQ(at(transpose(m), 1), Half(0.3f).to_float());
  EXPECT_EQ(at(gather(m, constant({1}, int64)), 0), Half(0.3f).to_float());
  EXPECT_EQ(at(where(constant(false), m, m * 2), 3), Half(0.8f).to_float());
  EXPECT_EQ(at(pad(m, {{0, 0}, {1, 0}}, 0.5), 0), 0.5);
  EXPECT_EQ(at(one_hot(constant({2}, int64), 3, 1.0, 0.0, -1, float16), 2), 1.0);
  const auto [values, indices] = top_k(constant({0.5, 3.0, 1.0}, bfloat16), 2);
  EXPECT_EQ(at(values, 0), 3.0);
  EXPECT_EQ(indices.to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));
}

TEST(DTypesTest, ScalarOperandsTakeTheTensorsDtype) {
  EXPECT_EQ((constant(1.0, float16) + 1).dtype(), float16);
  EXPECT_EQ((constant(1.0, float16) * 0.1).item<Half>().to_float(), Half(0.1f).to_float());
  EXPECT_EQ((constant(0.5, float64) + 0.1).item<double>(), 0.5 + 0.1);
  const int64_t big = (int64_t{1} << 60) + 1;
  EXPECT_EQ((constant(int64_t{0}) + big).item<int64_t>(), big);  // exact, not through double
  EXPECT_EQ(message_of([] { constant(int64_t{1}) + 0.5; }),
            "add: cannot convert 0.5 to an int64 operand (the other operand is an int64 tensor); "
            "use kiln::cast");
  EXPECT_EQ(message_of([&] { constant(1) + big; }),
            "add: cannot convert 1152921504606846977 to an int32 operand (the other operand is "
            "an int32 tensor); use kiln::cast");
}

TEST(DTypesTest, DtypeErrorsNameTheNewDtypes) {
  EXPECT_EQ(message_of([] { constant(2.0, float16) + constant(2.0, float32); }),
            "add: input #1 (zero-based) was expected to be a float16 tensor but is a float32 "
            "tensor");
  EXPECT_EQ(message_of([] {
              matmul(constant({{1.0, 2.0}}, float64), constant({{1, 2}}, int64));
            }),
            "matmul: input #1 (zero-based) was expected to be a float64 tensor but is a int64 "
            "tensor");
  EXPECT_EQ(message_of([] { exp(constant(int64_t{1})); }),
            "exp: input #0 (zero-based) is a int64 tensor; expected float16, bfloat16, float32 or "
            "float64");
  EXPECT_EQ(message_of([] { neg(constant(true)); }),
            "neg: input #0 (zero-based) is a bool tensor; expected float16, bfloat16, float32, "
            "float64, int32 or int64");
  EXPECT_EQ(message_of([] { gather(constant({1.0}), constant({0.0})); }),
            "gather: input #1 (zero-based) is a float32 tensor; expected int32 or int64");
  auto a = constant(2.0, float16), b = constant(2.0, float32);
  EXPECT_EQ((a + cast(b, a.dtype())).item<Half>().to_float(), 4.f);
}

TEST(DTypesTest, AttributeAndArgumentErrors) {
  EXPECT_EQ(message_of([] { one_hot(constant({1}, int64), 2, 1.0, 0.0, -1, bool_); }),
            "one_hot: attribute 'dtype' must name a numeric dtype, got \"bool\"");
  EXPECT_EQ(message_of([] {
              argmax(constant({1.0, 2.0}), 0, float32);
            }),
            "argmax: attribute 'output_type' must be \"i32\" or \"i64\", got \"f32\"");
  EXPECT_EQ(message_of([] { fill({2}, 0.5, int64); }), "fill: cannot convert 0.5 to int64");
  EXPECT_EQ(message_of([] {
              pad(constant({1, 2}, int64), {{1, 0}}, 0.5);
            }),
            "pad: cannot convert 0.5 to an int64 constant value");
  EXPECT_EQ(message_of([] { random::uniform({2}, {.minval = 0.5, .maxval = 3, .dtype = int64}); }),
            "random.uniform: int64 bounds must be integers in int64 range, got [0.5, 3)");
}

TEST(DTypesTest, RandomFloatDtypes) {
  for (DType d : {float16, bfloat16, float64}) {
    const Tensor n = random::normal({1000}, {.seed = 3, .dtype = d});
    ASSERT_EQ(n.dtype(), d);
    double sum = 0;
    for (int64_t i = 0; i < 1000; ++i) sum += at(n, i);
    EXPECT_NEAR(sum / 1000, 0.0, 0.15) << dtype_name(d);
    const Tensor u = random::uniform({1000}, {.minval = -2, .maxval = 3, .seed = 4, .dtype = d});
    for (int64_t i = 0; i < 1000; ++i) {
      EXPECT_GE(at(u, i), -2.0);
      EXPECT_LE(at(u, i), 3.0);
    }
  }
  const Tensor u64 = random::uniform({100}, {.minval = -5, .maxval = 5, .seed = 1, .dtype = int64});
  for (int64_t v : u64.to_vector<int64_t>()) {
    EXPECT_GE(v, -5);
    EXPECT_LT(v, 5);
  }
  // float64 uniforms use 53 random bits: not all values are float32s.
  const Tensor u = random::uniform({100}, {.seed = 5, .dtype = float64});
  int not_float = 0;
  for (double v : u.to_vector<double>()) not_float += static_cast<float>(v) != v;
  EXPECT_GT(not_float, 90);
  EXPECT_EQ(message_of([] { random::normal({2}, {.dtype = int64}); }),
            "random.normal: dtype must be floating point, got int64");
}

TEST(DTypesTest, Variables) {
  Variable h(constant({1.0, 2.0}, float16));
  h.assign_add(0.5);
  h["1"].assign(-3);
  EXPECT_EQ(at(h.value(), 0), 1.5);
  EXPECT_EQ(at(h.value(), 1), -3.0);
  const int64_t big = (int64_t{1} << 62) + 3;
  Variable n(constant(int64_t{0}));
  n.assign(big);
  n.assign_sub(1);
  EXPECT_EQ(n.value().item<int64_t>(), big - 1);
  EXPECT_EQ(message_of([&] { n.assign(constant(1)); }),
            "assign: variable 'Variable' has dtype int64 but the value is a int32 tensor");
}

TEST(DTypesTest, Int64Indices) {
  const Tensor params = constant({10.0, 20.0, 30.0}, float64);
  EXPECT_EQ(gather(params, constant({2, 0}, int64)).to_vector<double>(),
            (std::vector<double>{30, 10}));
  EXPECT_EQ(message_of([&] { gather(params, constant({3}, int64)); }),
            "gather: indices[0] = 3 is not in [0, 3)");
  EXPECT_EQ(one_hot(constant({1, 0}, int64), 2, 1.0, 0.0, -1, float64).to_vector<double>(),
            (std::vector<double>{0, 1, 1, 0}));
}

}  // namespace
}  // namespace kiln
