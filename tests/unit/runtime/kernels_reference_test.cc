// kiln — eager kernels against naive index-by-index references on random shapes, and the
// accuracy of large float32 sums against a double reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "ir/literal.h"
#include "ir/ops.h"
#include "runtime/kernels/kernels.h"
#include "support/half.h"

namespace kiln::kernels {
namespace {

using ir::Attrs;
using ir::Literal;
using ir::OpKind;
using ir::Type;

// Row-major multi-index of flat index `i` in `shape`.
std::vector<int64_t> unravel(int64_t i, const Shape& shape) {
  std::vector<int64_t> idx(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    idx[d] = i % shape[d];
    i /= shape[d];
  }
  return idx;
}

// Flat index into `in` (right-aligned, broadcast) of the output multi-index `idx`.
int64_t broadcast_index(const std::vector<int64_t>& idx, const Shape& in) {
  const int offset = static_cast<int>(idx.size()) - in.rank();
  int64_t flat = 0;
  for (int d = 0; d < in.rank(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : idx[offset + d]);
  return flat;
}

Literal random_literal(DType dtype, const Shape& shape, std::mt19937& rng) {
  Literal l(Type{dtype, shape});
  std::uniform_int_distribution<int> dist(-9, 9);
  for (int64_t i = 0; i < l.num_elements(); ++i) {
    int v = dist(rng);
    if (dtype == bool_) v = v > 0;
    l.set(i, v == 0 && dtype != bool_ ? 1 : v);  // no zero divisors
  }
  return l;
}

// A random shape of rank <= 4 and, for each input, a random broadcastable version of it.
Shape random_shape(std::mt19937& rng) {
  std::uniform_int_distribution<int> rank_dist(0, 4), dim_dist(1, 7);
  std::vector<int64_t> dims(rank_dist(rng));
  for (int64_t& d : dims) d = dim_dist(rng) == 1 ? 1 : dim_dist(rng) + 1;
  return Shape(dims);
}
Shape broadcastable_from(const Shape& out, std::mt19937& rng) {
  std::uniform_int_distribution<int> drop(0, out.rank()), coin(0, 2);
  std::vector<int64_t> dims(out.begin() + drop(rng), out.end());
  for (int64_t& d : dims) d = coin(rng) == 0 ? 1 : d;
  return Shape(dims);
}

// `v` rounded to `dtype` (float16 and bfloat16 through float, as their kernels compute).
double round_to(double v, DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return static_cast<float>(v);
    case DType::kFloat16:
      return Half(static_cast<float>(v)).to_float();
    case DType::kBFloat16:
      return BFloat16(static_cast<float>(v)).to_float();
    default:
      return v;
  }
}

// Exact in double for these small operands, then rounded once: what a correctly rounded
// operation in the dtype gives (double has more than twice the digits of float, so rounding
// twice through it changes nothing).
double reference_binary(OpKind kind, DType dtype, double a, double b) {
  switch (kind) {
    case OpKind::kAdd:
      return round_to(a + b, dtype);
    case OpKind::kSub:
      return round_to(a - b, dtype);
    case OpKind::kMul:
      return round_to(a * b, dtype);
    case OpKind::kDiv:
      return is_floating(dtype) ? round_to(a / b, dtype) : std::trunc(a / b);
    case OpKind::kLess:
      return a < b;
    case OpKind::kGreater:
      return a > b;
    default:
      return 0;
  }
}

absl::Status run_into(OpKind kind, const Attrs& attrs, std::vector<const Literal*> ins,
                      Literal& out) {
  std::vector<View> views;
  for (const Literal* l : ins) views.push_back(View{l->data(), l->type().dtype, &l->type().shape});
  return run(kind, attrs, views, MutableView{out.data(), out.type().dtype, &out.type().shape});
}

TEST(Reference, BinaryAndSelectBroadcasting) {
  std::mt19937 rng(42);
  for (int iter = 0; iter < 300; ++iter) {
    const Shape out_shape = random_shape(rng);
    const Shape sa = broadcastable_from(out_shape, rng), sb = broadcastable_from(out_shape, rng);
    auto bs = broadcast_shapes(sa, sb);
    ASSERT_TRUE(bs.has_value());
    for (DType dtype : {float32, int32, float64, int64, float16, bfloat16}) {
      Literal a = random_literal(dtype, sa, rng), b = random_literal(dtype, sb, rng);
      for (OpKind kind : {OpKind::kAdd, OpKind::kSub, OpKind::kMul, OpKind::kDiv, OpKind::kLess,
                          OpKind::kGreater}) {
        const bool cmp = kind == OpKind::kLess || kind == OpKind::kGreater;
        Literal out(Type{cmp ? bool_ : dtype, *bs});
        ASSERT_TRUE(run_into(kind, {}, {&a, &b}, out).ok()) << sa << " " << sb;
        for (int64_t i = 0; i < out.num_elements(); ++i) {
          const auto idx = unravel(i, *bs);
          const double want = reference_binary(kind, dtype, a.get(broadcast_index(idx, sa)),
                                               b.get(broadcast_index(idx, sb)));
          ASSERT_EQ(out.get(i), want) << ir::mnemonic(kind) << " " << sa << " " << sb << " @" << i;
        }
      }
    }
    // select(cond, a, b) with a third independently broadcast shape, and broadcast(a) to the
    // output shape: elements of 1, 2, 4 and 8 bytes.
    const Shape sc = broadcastable_from(out_shape, rng);
    auto full = broadcast_shapes(*bs, sc);
    Literal c = random_literal(bool_, sc, rng);
    for (DType dtype : {float32, float64, float16, int64, bool_}) {
      Literal a = random_literal(dtype, sa, rng), b = random_literal(dtype, sb, rng);
      Literal out(Type{dtype, *full});
      ASSERT_TRUE(run_into(OpKind::kSelect, {}, {&c, &a, &b}, out).ok());
      for (int64_t i = 0; i < out.num_elements(); ++i) {
        const auto idx = unravel(i, *full);
        const double want = c.get(broadcast_index(idx, sc)) != 0 ? a.get(broadcast_index(idx, sa))
                                                                 : b.get(broadcast_index(idx, sb));
        ASSERT_EQ(out.get(i), want) << sc << " " << sa << " " << sb;
      }
      Literal bc(Type{dtype, out_shape});
      ASSERT_TRUE(run_into(OpKind::kBroadcast, {{"shape", out_shape.dims()}}, {&a}, bc).ok());
      for (int64_t i = 0; i < bc.num_elements(); ++i) {
        ASSERT_EQ(bc.get(i), a.get(broadcast_index(unravel(i, out_shape), sa)));
      }
    }
  }
}

// Long [rows, n] iteration spaces with short rows take a widened path (q rows as one);
// rows % q leftover rows, repeated rows, scalars and columns (which disable it) all appear.
TEST(Reference, ShortRowsBroadcasting) {
  std::mt19937 rng(3);
  struct Case {
    Shape out, a, b, c;
  };
  const std::vector<Case> cases = {
      {{1000, 3}, {1000, 3}, {3}, {}},  {{999, 5}, {1, 5}, {999, 5}, {999, 1}},
      {{130, 4}, {4}, {}, {130, 4}},    {{67, 31}, {67, 31}, {31}, {31}},
      {{64, 2}, {64, 2}, {64, 2}, {2}}, {{17, 3, 4}, {3, 4}, {17, 3, 4}, {4}},
  };
  for (const Case& cs : cases) {
    Literal a = random_literal(float32, cs.a, rng), b = random_literal(float32, cs.b, rng);
    Literal c = random_literal(bool_, cs.c, rng);
    Literal sum(Type{float32, cs.out}), sel(Type{float32, cs.out});
    ASSERT_TRUE(run_into(OpKind::kAdd, {}, {&a, &b}, sum).ok());
    ASSERT_TRUE(run_into(OpKind::kSelect, {}, {&c, &a, &b}, sel).ok());
    for (int64_t i = 0; i < sum.num_elements(); ++i) {
      const auto idx = unravel(i, cs.out);
      const double x = a.get(broadcast_index(idx, cs.a)), y = b.get(broadcast_index(idx, cs.b));
      ASSERT_EQ(sum.get(i), x + y) << cs.out << " " << cs.a << " " << cs.b << " @" << i;
      ASSERT_EQ(sel.get(i), c.get(broadcast_index(idx, cs.c)) != 0 ? x : y) << cs.out << " @" << i;
    }
  }
}

TEST(Reference, ReduceEveryAxisSubset) {
  std::mt19937 rng(5);
  for (int iter = 0; iter < 40; ++iter) {
    const Shape shape = random_shape(rng);
    const int rank = shape.rank();
    for (DType dtype : {float32, int32, float64, int64, float16}) {
      Literal x = random_literal(dtype, shape, rng);
      for (int mask = 0; mask < (1 << rank); ++mask) {
        std::vector<int64_t> axes;
        for (int d = 0; d < rank; ++d) {
          if (mask & (1 << d)) axes.push_back(d % 2 ? d - rank : d);  // mix negative axes in
        }
        for (OpKind kind : {OpKind::kReduceSum, OpKind::kReduceMean}) {
          for (bool keepdims : {false, true}) {
            Attrs attrs = {{"axes", axes}, {"keepdims", keepdims}};
            auto type = ir::infer_type(kind, std::vector<Type>{x.type()}, attrs);
            ASSERT_TRUE(type.ok());
            Literal out(*type);
            ASSERT_TRUE(run_into(kind, attrs, {&x}, out).ok());
            // Reference: accumulate into the output element with reduced coordinates dropped.
            std::vector<double> sums(out.num_elements(), 0);
            int64_t count = 1;
            for (int d = 0; d < rank; ++d) count *= (mask & (1 << d)) ? shape[d] : 1;
            for (int64_t i = 0; i < x.num_elements(); ++i) {
              const auto idx = unravel(i, shape);
              int64_t o = 0;
              for (int d = 0; d < rank; ++d) {
                if (!(mask & (1 << d))) o = o * shape[d] + idx[d];
              }
              sums[o] += x.get(i);
            }
            for (int64_t o = 0; o < out.num_elements(); ++o) {
              double want = sums[o];
              if (kind == OpKind::kReduceMean) {
                want = is_integer(dtype) ? std::trunc(want / count) : round_to(want / count, dtype);
              }
              ASSERT_EQ(out.get(o), want) << shape << " mask " << mask << " " << ir::mnemonic(kind);
            }
          }
        }
      }
    }
  }
}

// Float32 buffers too large for Literal's double-based test helpers.
struct Buffer {
  Shape shape;
  std::vector<float> data;
  View view() const { return View{data.data(), float32, &shape}; }
  MutableView mutable_view() { return MutableView{data.data(), float32, &shape}; }
};

TEST(Accuracy, LargeSumsMatchDoubleReference) {
  const int64_t n = int64_t{1} << 24;  // 16M
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  Buffer x{Shape{n}, std::vector<float>(n)};
  double ref = 0;
  for (float& v : x.data) ref += v = dist(rng);
  Buffer out{Shape{}, {0.0f}};
  View in[] = {x.view()};
  ASSERT_TRUE(run(OpKind::kReduceSum, {}, in, out.mutable_view()).ok());
  EXPECT_NEAR(out.data[0], ref, 1e-6 * ref);
  ASSERT_TRUE(run(OpKind::kReduceMean, {}, in, out.mutable_view()).ok());
  EXPECT_NEAR(out.data[0], ref / n, 1e-6 * ref / n);

  // Column sums of [4M, 4] (reduced outer dim) and row sums of [4, 4M] (reduced inner dim).
  const int64_t rows = n / 4;
  std::vector<double> col_ref(4, 0), row_ref(4, 0);
  for (int64_t i = 0; i < n; ++i) col_ref[i % 4] += x.data[i], row_ref[i / rows] += x.data[i];
  Buffer tall{Shape{rows, 4}, x.data};
  Buffer cols{Shape{4}, std::vector<float>(4)};
  View tall_in[] = {tall.view()};
  ASSERT_TRUE(
      run(OpKind::kReduceSum, {{"axes", std::vector<int64_t>{0}}}, tall_in, cols.mutable_view())
          .ok());
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(cols.data[j], col_ref[j], 1e-6 * col_ref[j]);
  Buffer wide{Shape{4, rows}, x.data};
  Buffer sums{Shape{4}, std::vector<float>(4)};
  View wide_in[] = {wide.view()};
  ASSERT_TRUE(
      run(OpKind::kReduceSum, {{"axes", std::vector<int64_t>{-1}}}, wide_in, sums.mutable_view())
          .ok());
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(sums.data[j], row_ref[j], 1e-6 * row_ref[j]);
}

}  // namespace
}  // namespace kiln::kernels
