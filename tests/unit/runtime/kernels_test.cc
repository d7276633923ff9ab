// kiln — eager kernels checked against hand-computed values and naive references.
#include "runtime/kernels/kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <tuple>
#include <vector>

#include "ir/literal.h"
#include "ir/ops.h"

namespace kiln::kernels {
namespace {

using ir::Attrs;
using ir::Literal;
using ir::OpKind;
using ir::Type;
using Values = std::vector<double>;

Literal lit(DType dtype, Shape shape, const Values& values) {
  return Literal::from_doubles(Type{dtype, std::move(shape)}, values);
}
Literal f32(Shape shape, const Values& values) { return lit(float32, std::move(shape), values); }
Literal i32(Shape shape, const Values& values) { return lit(int32, std::move(shape), values); }

Values values(const Literal& l) {
  Values out;
  for (int64_t i = 0; i < l.num_elements(); ++i) out.push_back(l.get(i));
  return out;
}

// Runs `kind` on `inputs` into a fresh literal of the type the op table infers.
absl::StatusOr<Literal> eval(OpKind kind, std::vector<const Literal*> inputs, Attrs attrs = {}) {
  std::vector<Type> types;
  std::vector<View> views;
  for (const Literal* in : inputs) types.push_back(in->type());
  auto type = ir::infer_type(kind, types, attrs);
  if (!type.ok()) return type.status();
  for (const Literal* in : inputs)
    views.push_back(View{in->data(), in->type().dtype, &in->type().shape});
  Literal out(*type);
  absl::Status s =
      run(kind, attrs, views, MutableView{out.data(), out.type().dtype, &out.type().shape});
  if (!s.ok()) return s;
  return out;
}

Values eval_values(OpKind kind, std::vector<const Literal*> inputs, Attrs attrs = {}) {
  auto out = eval(kind, std::move(inputs), std::move(attrs));
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? values(*out) : Values{};
}

void expect_near(const Values& got, const Values& want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NEAR(got[i], want[i], rel * std::max(1.0, std::fabs(want[i]))) << "element " << i;
  }
}

constexpr double kIntMin = std::numeric_limits<int32_t>::min();

TEST(Unary, Float) {
  Literal x = f32({4}, {-2, -0.5, 0, 3});
  EXPECT_EQ(eval_values(OpKind::kNeg, {&x}), (Values{2, 0.5, 0, -3}));
  EXPECT_EQ(eval_values(OpKind::kAbs, {&x}), (Values{2, 0.5, 0, 3}));
  EXPECT_EQ(eval_values(OpKind::kSquare, {&x}), (Values{4, 0.25, 0, 9}));
  expect_near(eval_values(OpKind::kExp, {&x}), {std::exp(-2.0), std::exp(-0.5), 1, std::exp(3.0)},
              1e-6);
  Literal y = f32({2, 2}, {1, 2, 0.5, 10});
  expect_near(eval_values(OpKind::kLog, {&y}), {0, std::log(2.0), std::log(0.5), std::log(10.0)},
              1e-6);
  Literal edge = f32({3}, {0, -1, std::numeric_limits<double>::infinity()});
  Values l = eval_values(OpKind::kLog, {&edge});
  EXPECT_EQ(l[0], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_EQ(l[2], std::numeric_limits<double>::infinity());
  // Subnormal inputs keep their own logarithm (not that of the smallest normal float).
  Literal tiny = f32({3}, {1e-40, 1.5e-45, std::numeric_limits<float>::min()});
  expect_near(eval_values(OpKind::kLog, {&tiny}),
              {std::log(1e-40f), std::log(1.5e-45f), std::log(std::numeric_limits<float>::min())},
              1e-6);
}

TEST(Unary, ExpLogLongVectorsMatchLibm) {
  const int n = 1037;  // not a multiple of any vector width
  Values v(n);
  for (int i = 0; i < n; ++i) v[i] = -20.0 + 40.0 * i / n;
  Literal x = f32({n}, v);
  Values e = eval_values(OpKind::kExp, {&x});
  for (int i = 0; i < n; ++i) {
    EXPECT_NEAR(e[i], std::exp(static_cast<float>(v[i])), 2e-7 * std::exp(v[i])) << i;
  }
  for (double& d : v) d = std::fabs(d) + 1e-3;
  Literal p = f32({n}, v);
  Values lg = eval_values(OpKind::kLog, {&p});
  for (int i = 0; i < n; ++i) EXPECT_NEAR(lg[i], std::log(static_cast<float>(v[i])), 3e-7) << i;
}

TEST(Unary, Int32WrapsLikeTf) {
  Literal x = i32({4}, {-3, 0, 5, kIntMin});
  EXPECT_EQ(eval_values(OpKind::kNeg, {&x}), (Values{3, 0, -5, kIntMin}));
  EXPECT_EQ(eval_values(OpKind::kAbs, {&x}), (Values{3, 0, 5, kIntMin}));
  Literal y = i32({3}, {-3, 4, 65536});
  EXPECT_EQ(eval_values(OpKind::kSquare, {&y}), (Values{9, 16, 0}));
}

TEST(Unary, ExpRejectsInt32) {
  Literal x = i32({2}, {1, 2});
  Literal out(Type{int32, Shape{2}});
  View in{x.data(), int32, &x.type().shape};
  absl::Status s =
      run(OpKind::kExp, {}, {&in, 1}, MutableView{out.data(), int32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "exp: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 or "
            "float64");
}

TEST(Binary, FloatSameShape) {
  Literal a = f32({2, 2}, {1, 2, 3, 4});
  Literal b = f32({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(eval_values(OpKind::kAdd, {&a, &b}), (Values{11, 22, 33, 44}));
  EXPECT_EQ(eval_values(OpKind::kSub, {&a, &b}), (Values{-9, -18, -27, -36}));
  EXPECT_EQ(eval_values(OpKind::kMul, {&a, &b}), (Values{10, 40, 90, 160}));
  EXPECT_EQ(eval_values(OpKind::kDiv, {&b, &a}), (Values{10, 10, 10, 10}));
  Literal z = f32({2, 2}, {0, 0, 0, 0});
  Values d = eval_values(OpKind::kDiv, {&a, &z});
  EXPECT_EQ(d[0], std::numeric_limits<double>::infinity());
}

TEST(Binary, Int32) {
  Literal a = i32({5}, {7, -7, 7, -7, kIntMin});
  Literal b = i32({5}, {2, 2, -2, -2, -1});
  EXPECT_EQ(eval_values(OpKind::kDiv, {&a, &b}), (Values{3, -3, -3, 3, kIntMin}));
  EXPECT_EQ(eval_values(OpKind::kAdd, {&a, &b}), (Values{9, -5, 5, -9, 2147483647}));
  EXPECT_EQ(eval_values(OpKind::kSub, {&a, &b}), (Values{5, -9, 9, -5, kIntMin + 1}));
  EXPECT_EQ(eval_values(OpKind::kMul, {&a, &b}), (Values{14, -14, -14, 14, kIntMin}));
  Literal big = i32({1}, {2147483647});
  Literal one = i32({}, {1});
  EXPECT_EQ(eval_values(OpKind::kAdd, {&big, &one}), (Values{kIntMin}));
}

TEST(Binary, IntegerDivisionByZeroIsAnError) {
  Literal a = i32({2, 2}, {1, 2, 3, 4});
  Literal b = i32({2}, {1, 0});
  auto out = eval(OpKind::kDiv, {&a, &b});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "div: Integer division by zero");
}

TEST(Binary, Broadcasting) {
  Literal m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal row = f32({3}, {10, 20, 30});
  EXPECT_EQ(eval_values(OpKind::kAdd, {&m, &row}), (Values{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(eval_values(OpKind::kSub, {&row, &m}), (Values{9, 18, 27, 6, 15, 24}));
  Literal col = f32({2, 1}, {1, 2});
  Literal r13 = f32({1, 3}, {10, 20, 30});
  EXPECT_EQ(eval_values(OpKind::kAdd, {&col, &r13}), (Values{11, 21, 31, 12, 22, 32}));
  EXPECT_EQ(eval_values(OpKind::kMul, {&r13, &col}), (Values{10, 20, 30, 20, 40, 60}));
  Literal s = f32({}, {2});
  EXPECT_EQ(eval_values(OpKind::kMul, {&m, &s}), (Values{2, 4, 6, 8, 10, 12}));
  EXPECT_EQ(eval_values(OpKind::kDiv, {&s, &m}), (Values{2, 1, 2.0f / 3, 0.5, 0.4f, 2.0f / 6}));
  EXPECT_EQ(eval_values(OpKind::kAdd, {&s, &s}), (Values{4}));
  Literal mid = f32({2, 1, 2}, {1, 2, 3, 4});
  Literal three = f32({3, 1}, {10, 20, 30});
  EXPECT_EQ(eval_values(OpKind::kAdd, {&mid, &three}),
            (Values{11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34}));
  Literal ia = i32({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal ib = i32({3}, {1, -2, 3});
  EXPECT_EQ(eval_values(OpKind::kDiv, {&ia, &ib}), (Values{1, -1, 1, 4, -2, 2}));
}

TEST(Binary, EmptyOutput) {
  Literal a = f32({0, 3}, {});
  Literal b = f32({3}, {1, 2, 3});
  auto out = eval(OpKind::kAdd, {&a, &b});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type().shape, (Shape{0, 3}));
}

TEST(Binary, OutputMayAliasAnInput) {
  const int n = 1000;
  Values av(n), bv(n);
  for (int i = 0; i < n; ++i) av[i] = i, bv[i] = 2 * i;
  Literal a = f32({n}, av), b = f32({n}, bv);
  View in[] = {{a.data(), float32, &a.type().shape}, {b.data(), float32, &b.type().shape}};
  ASSERT_TRUE(run(OpKind::kAdd, {}, in, MutableView{a.data(), float32, &a.type().shape}).ok());
  for (int i = 0; i < n; ++i) ASSERT_EQ(a.get(i), 3 * i);
}

TEST(Binary, ShapeThatDoesNotBroadcastIsRejected) {
  Literal a = f32({2, 3}, {});
  Literal b = f32({2}, {});
  Literal out(Type{float32, Shape{2, 3}});
  View in[] = {{a.data(), float32, &a.type().shape}, {b.data(), float32, &b.type().shape}};
  absl::Status s = run(OpKind::kAdd, {}, in, MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Compare, LessGreater) {
  Literal a = f32({2, 2}, {1, 5, 3, 3});
  Literal b = f32({2}, {2, 3});
  auto less = eval(OpKind::kLess, {&a, &b});
  ASSERT_TRUE(less.ok());
  EXPECT_EQ(less->type().dtype, bool_);
  EXPECT_EQ(values(*less), (Values{1, 0, 0, 0}));
  EXPECT_EQ(eval_values(OpKind::kGreater, {&a, &b}), (Values{0, 1, 1, 0}));
  Literal ia = i32({3}, {-1, 0, 1});
  Literal zero = i32({}, {0});
  EXPECT_EQ(eval_values(OpKind::kLess, {&ia, &zero}), (Values{1, 0, 0}));
  EXPECT_EQ(eval_values(OpKind::kGreater, {&ia, &zero}), (Values{0, 0, 1}));
}

TEST(Select, Broadcasting) {
  Literal c = lit(bool_, {2, 1}, {1, 0});
  Literal a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal b = f32({}, {-1});
  EXPECT_EQ(eval_values(OpKind::kSelect, {&c, &a, &b}), (Values{1, 2, 3, -1, -1, -1}));
  Literal c2 = lit(bool_, {3}, {1, 0, 1});
  EXPECT_EQ(eval_values(OpKind::kSelect, {&c2, &a, &b}), (Values{1, -1, 3, 4, -1, 6}));
  Literal ia = i32({3}, {7, 8, 9});
  Literal ib = i32({2, 3}, {0, 0, 0, 1, 1, 1});
  EXPECT_EQ(eval_values(OpKind::kSelect, {&c2, &ia, &ib}), (Values{7, 0, 9, 7, 1, 9}));
  Literal ba = lit(bool_, {3}, {1, 1, 1});
  Literal bb = lit(bool_, {3}, {0, 0, 0});
  EXPECT_EQ(eval_values(OpKind::kSelect, {&c2, &ba, &bb}), (Values{1, 0, 1}));
}

TEST(Broadcast, Copies) {
  Literal row = f32({3}, {1, 2, 3});
  EXPECT_EQ(eval_values(OpKind::kBroadcast, {&row}, {{"shape", std::vector<int64_t>{2, 3}}}),
            (Values{1, 2, 3, 1, 2, 3}));
  Literal col = i32({2, 1}, {1, 2});
  EXPECT_EQ(eval_values(OpKind::kBroadcast, {&col}, {{"shape", std::vector<int64_t>{2, 3}}}),
            (Values{1, 1, 1, 2, 2, 2}));
  Literal s = lit(bool_, {}, {1});
  EXPECT_EQ(eval_values(OpKind::kBroadcast, {&s}, {{"shape", std::vector<int64_t>{2, 2}}}),
            (Values{1, 1, 1, 1}));
  Literal same = f32({2}, {4, 5});
  EXPECT_EQ(eval_values(OpKind::kBroadcast, {&same}, {{"shape", std::vector<int64_t>{2}}}),
            (Values{4, 5}));
}

Attrs reduce_attrs(std::vector<int64_t> axes, bool keepdims = false) {
  return {{"axes", std::move(axes)}, {"keepdims", keepdims}};
}

TEST(Reduce, SumAndMean) {
  Literal x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}), (Values{21}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({0})), (Values{5, 7, 9}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({1})), (Values{6, 15}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({-1})), (Values{6, 15}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({-2, 1})), (Values{21}));
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&x}), (Values{3.5}));
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&x}, reduce_attrs({0})), (Values{2.5, 3.5, 4.5}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({})), (Values{1, 2, 3, 4, 5, 6}));
}

TEST(Reduce, KeepDims) {
  Literal x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto out = eval(OpKind::kReduceSum, {&x}, reduce_attrs({1}, true));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->type().shape, (Shape{2, 1}));
  EXPECT_EQ(values(*out), (Values{6, 15}));
  auto all = eval(OpKind::kReduceMean, {&x}, {{"keepdims", true}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->type().shape, (Shape{1, 1}));
  EXPECT_EQ(values(*all), (Values{3.5}));
}

TEST(Reduce, Rank3Axes) {
  // x[i][j][k] = 100 i + 10 j + k, shape [2, 3, 4].
  Values v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) v.push_back(100 * i + 10 * j + k);
  Literal x = i32({2, 3, 4}, v);
  // Sum over i and k: for each j: sum_i sum_k = 4*(0+100) + 2*4*10j + 2*(0+1+2+3).
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({0, -1})), (Values{412, 492, 572}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({1})),
            (Values{30, 33, 36, 39, 330, 333, 336, 339}));
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&x}, reduce_attrs({1})),
            (Values{10, 11, 12, 13, 110, 111, 112, 113}));
}

TEST(Reduce, Int32MeanTruncates) {
  Literal x = i32({2, 3}, {1, 2, 4, -1, -2, -4});
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&x}, reduce_attrs({1})), (Values{2, -2}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({1})), (Values{7, -7}));
  Literal big = i32({2}, {2147483647, 2147483647});
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&big}), (Values{2147483647}));
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&big}), (Values{-2}));
}

TEST(Reduce, EmptyReducedDim) {
  Literal x = f32({0, 3}, {});
  EXPECT_EQ(eval_values(OpKind::kReduceSum, {&x}, reduce_attrs({0})), (Values{0, 0, 0}));
  Values m = eval_values(OpKind::kReduceMean, {&x}, reduce_attrs({0}));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_TRUE(std::isnan(m[0]));
  Literal y = i32({2, 0}, {});
  EXPECT_EQ(eval_values(OpKind::kReduceMean, {&y}, reduce_attrs({1})), (Values{0, 0}));
}

TEST(Reduce, InvalidAxis) {
  Literal x = f32({2, 3}, {});
  Literal out(Type{float32, Shape{}});
  View in{x.data(), float32, &x.type().shape};
  absl::Status s = run(OpKind::kReduceSum, reduce_attrs({2}), {&in, 1},
                       MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Matmul, SmallFloatAndInt) {
  Literal a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal b = f32({3, 2}, {1, 4, 2, 5, 3, 6});
  EXPECT_EQ(eval_values(OpKind::kMatmul, {&a, &b}), (Values{14, 32, 32, 77}));
  EXPECT_EQ(eval_values(OpKind::kMatmul, {&b, &a}), (Values{17, 22, 27, 22, 29, 36, 27, 36, 45}));
  Literal ia = i32({2, 3}, {1, 2, 3, 4, 5, 6});
  Literal ib = i32({3, 2}, {1, 4, 2, 5, 3, 6});
  EXPECT_EQ(eval_values(OpKind::kMatmul, {&ia, &ib}), (Values{14, 32, 32, 77}));
  Literal v = f32({1, 3}, {1, 1, 1});
  EXPECT_EQ(eval_values(OpKind::kMatmul, {&v, &b}), (Values{6, 15}));
}

TEST(Matmul, EmptyInnerDimGivesZeros) {
  Literal a = f32({2, 0}, {});
  Literal b = f32({0, 3}, {});
  EXPECT_EQ(eval_values(OpKind::kMatmul, {&a, &b}), (Values{0, 0, 0, 0, 0, 0}));
}

TEST(Matmul, MatchesNaiveReference) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> dist(-8, 8);
  for (auto [m, k, n] : {std::tuple{37, 53, 29},
                         {64, 64, 64},
                         {1, 100, 70},
                         {130, 257, 3},
                         {300, 700, 200},
                         {5, 1, 9}}) {
    Values av(m * k), bv(k * n), want(m * n, 0);
    for (double& x : av) x = dist(rng);
    for (double& x : bv) x = dist(rng);
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j)
        for (int p = 0; p < k; ++p) want[i * n + j] += av[i * k + p] * bv[p * n + j];
    for (DType dt : {float32, int32}) {
      Literal a = lit(dt, {m, k}, av), b = lit(dt, {k, n}, bv);
      EXPECT_EQ(eval_values(OpKind::kMatmul, {&a, &b}), want) << m << "x" << k << "x" << n;
    }
  }
}

// Transpose flags and broadcast batch dims, on shapes that take the GEMM path (small-integer
// values, so float32 results are exact).
TEST(Matmul, TransposeFlagsAndBatchesMatchNaiveReference) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> dist(-8, 8);
  for (auto [m, k, n] : {std::tuple{37, 53, 29}, {150, 97, 130}, {8, 3, 2}}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        // a: [2, 1, m, k] (or [.., k, m]), b: [3, k, n] (or [.., n, k]) -> out [2, 3, m, n].
        Values av(2 * m * k), bv(3 * k * n), want(6 * m * n, 0);
        for (double& x : av) x = dist(rng);
        for (double& x : bv) x = dist(rng);
        for (int i0 = 0; i0 < 2; ++i0) {
          for (int i1 = 0; i1 < 3; ++i1) {
            const double* pa = av.data() + i0 * m * k;
            const double* pb = bv.data() + i1 * k * n;
            double* pc = want.data() + (i0 * 3 + i1) * m * n;
            for (int i = 0; i < m; ++i)
              for (int j = 0; j < n; ++j)
                for (int p = 0; p < k; ++p)
                  pc[i * n + j] +=
                      (ta ? pa[p * m + i] : pa[i * k + p]) * (tb ? pb[j * k + p] : pb[p * n + j]);
          }
        }
        Attrs attrs{{"transpose_a", ta}, {"transpose_b", tb}};
        const Shape sa = ta ? Shape{2, 1, k, m} : Shape{2, 1, m, k};
        const Shape sb = tb ? Shape{3, n, k} : Shape{3, k, n};
        for (DType dt : {float32, int32}) {
          Literal a = lit(dt, sa, av), b = lit(dt, sb, bv);
          EXPECT_EQ(eval_values(OpKind::kMatmul, {&a, &b}, attrs), want)
              << m << "x" << k << "x" << n << " ta=" << ta << " tb=" << tb;
        }
      }
    }
  }
}

TEST(Matmul, IncompatibleShapes) {
  Literal a = f32({2, 3}, {}), b = f32({2, 3}, {});
  Literal out(Type{float32, Shape{2, 3}});
  View in[] = {{a.data(), float32, &a.type().shape}, {b.data(), float32, &b.type().shape}};
  absl::Status s =
      run(OpKind::kMatmul, {}, in, MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.message(), "matmul: Matrix size-incompatible: In[0]: [2, 3], In[1]: [2, 3]");
}

TEST(Run, OpsWithoutKernelsAreUnimplemented) {
  Literal out(Type{float32, Shape{}});
  absl::Status s =
      run(OpKind::kFusion, {}, {}, MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  s = run(OpKind::kConst, {}, {}, MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
}

TEST(Run, WrongArity) {
  Literal a = f32({}, {1});
  View in{a.data(), float32, &a.type().shape};
  Literal out(Type{float32, Shape{}});
  absl::Status s =
      run(OpKind::kAdd, {}, {&in, 1}, MutableView{out.data(), float32, &out.type().shape});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
}

TEST(Allocate, AlignedAndRecycled) {
  for (int64_t bytes :
       {int64_t{0}, int64_t{1}, int64_t{63}, int64_t{1000}, int64_t{70000}, int64_t{5} << 20}) {
    auto* p = static_cast<char*>(allocate(bytes));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u) << bytes;
    for (int64_t i = 0; i < bytes; ++i) p[i] = static_cast<char>(i);
    deallocate(p);
  }
  void* big = allocate(int64_t{1} << 20);
  deallocate(big);
  void* again = allocate((int64_t{1} << 20) - 100);  // same size class: served from the cache
  EXPECT_EQ(again, big);
  void* other = allocate(int64_t{1} << 20);  // cache empty again: a fresh block
  EXPECT_NE(other, again);
  deallocate(again);
  deallocate(other);
  deallocate(nullptr);
}

TEST(Allocate, CacheIsBounded) {
  // Far more than the cache holds; must not accumulate or crash.
  std::vector<void*> blocks;
  for (int i = 0; i < 200; ++i) blocks.push_back(allocate((int64_t{64} << 10) * (1 + i % 37)));
  for (void* p : blocks) deallocate(p);
  for (int i = 0; i < 200; ++i) deallocate(allocate((int64_t{64} << 10) * (1 + i % 37)));
}

}  // namespace
}  // namespace kiln::kernels
