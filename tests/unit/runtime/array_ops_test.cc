// kiln — the array ops eagerly: hand-computed values, negative axes, keepdims, error messages.
#include "runtime/array_ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "ir/evaluator.h"
#include "ir/parser.h"
#include "runtime/evaluator.h"
#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using F = std::vector<float>;
using I = std::vector<int32_t>;

Tensor m23() { return constant({{1.f, 5.f, 3.f}, {4.f, 2.f, 6.f}}); }

TEST(ArrayOpsTest, ReduceMaxMinProd) {
  EXPECT_EQ(reduce_max(m23()).item<float>(), 6.f);
  EXPECT_EQ(reduce_max(m23(), {{0}}).to_vector<float>(), (F{4, 5, 6}));
  EXPECT_EQ(reduce_max(m23(), {{-1}}).to_vector<float>(), (F{5, 6}));
  Tensor k = reduce_min(m23(), {{-1}}, true);
  EXPECT_EQ(k.shape(), (Shape{2, 1}));
  EXPECT_EQ(k.to_vector<float>(), (F{1, 2}));
  EXPECT_EQ(reduce_prod(m23(), {{1}}).to_vector<float>(), (F{15, 48}));
  EXPECT_EQ(reduce_prod(constant({{2, 3}, {4, 5}})).item<int32_t>(), 120);
  EXPECT_EQ(reduce_min(constant({{2, 3}, {-4, 5}}), {{0, 1}}).item<int32_t>(), -4);
  // 3-D, middle axis kept.
  Tensor x = reshape(constant({1, 2, 3, 4, 5, 6, 7, 8}), {2, 2, 2});
  EXPECT_EQ(reduce_max(x, {{0, 2}}).to_vector<int32_t>(), (I{6, 8}));
  EXPECT_EQ(reduce_min(x, {{1}}).to_vector<int32_t>(), (I{1, 2, 5, 6}));
  // Empty reductions give the identity.
  EXPECT_EQ(reduce_max(zeros({0})).item<float>(), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(reduce_prod(zeros({0})).item<float>(), 1.f);
}

TEST(ArrayOpsTest, ReduceAllAny) {
  Tensor b = constant(std::vector<bool>{true, false, true, true}, Shape{2, 2});
  EXPECT_FALSE(reduce_all(b).item<bool>());
  EXPECT_TRUE(reduce_any(b).item<bool>());
  EXPECT_EQ(reduce_all(b, {{0}}).to_vector<bool>(), (std::vector<bool>{true, false}));
  EXPECT_EQ(reduce_any(b, {{-1}}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(error_of([] { reduce_all(constant({1.f})); }),
            "reduce_all: input #0 (zero-based) is a float32 tensor; expected bool");
  EXPECT_EQ(error_of([&] { reduce_max(b); }),
            "reduce_max: input #0 (zero-based) is a bool tensor; expected float16, bfloat16, "
            "float32, float64, int32 or int64");
  EXPECT_EQ(error_of([] { reduce_max(m23(), {{2}}); }),
            "reduce_max: Invalid reduction dimension (2 for input with 2 dimension(s)");
}

TEST(ArrayOpsTest, ReduceLogSumExp) {
  Tensor r = reduce_logsumexp(constant({{0.f, 0.f}, {1000.f, 1000.f}}), {{1}});
  std::vector<float> v = r.to_vector<float>();
  EXPECT_NEAR(v[0], std::log(2.f), 1e-6);
  EXPECT_NEAR(v[1], 1000 + std::log(2.f), 1e-3);  // stable: no overflow
  EXPECT_EQ(reduce_logsumexp(m23(), std::nullopt, true).shape(), (Shape{1, 1}));
  const float inf = std::numeric_limits<float>::infinity();
  // All -inf: the max is replaced by 0, so the result is log(0) (no NaN from -inf - -inf).
  const float r_inf = reduce_logsumexp(constant({-inf, -inf})).item<float>();
  EXPECT_FALSE(std::isnan(r_inf));
  // -inf ideally; Eigen's packet exp clamps its input, so exp(-inf) is ~1e-38 and log ~-87.3.
  EXPECT_LT(r_inf, -87.f);
}

TEST(ArrayOpsTest, ArgmaxArgmin) {
  Tensor a = argmax(m23(), 1);
  EXPECT_EQ(a.dtype(), int32);
  EXPECT_EQ(a.to_vector<int32_t>(), (I{1, 2}));
  EXPECT_EQ(argmax(m23()).to_vector<int32_t>(), (I{1, 0, 1}));
  EXPECT_EQ(argmin(m23(), -1).to_vector<int32_t>(), (I{0, 1}));
  EXPECT_EQ(argmax(constant({3, 7, 7, 1})).item<int32_t>(), 1);  // first index on ties
  EXPECT_EQ(argmin(constant({{2, 2}, {2, 2}}), 0).to_vector<int32_t>(), (I{0, 0}));
  EXPECT_EQ(error_of([] { argmax(m23(), 2); }),
            "argmax: Expected axis in the range [-2, 2), but got 2");
}

TEST(ArrayOpsTest, BatchedMatmulAndTransposeFlags) {
  Tensor a = m23();  // [2,3]
  EXPECT_EQ(matmul(a, a, false, true).to_vector<float>(), (F{35, 32, 32, 56}));
  EXPECT_EQ(matmul(a, a, true, false).shape(), (Shape{3, 3}));
  EXPECT_EQ(matmul(a, a, true, false).to_vector<float>(), (F{17, 13, 27, 13, 29, 27, 27, 27, 45}));
  // [2,2,2] x [2,2] broadcast batch.
  Tensor b = reshape(constant({1.f, 2.f, 3.f, 4.f, 5.f, 6.f, 7.f, 8.f}), {2, 2, 2});
  Tensor e = constant({{1.f, 0.f}, {0.f, 2.f}});
  Tensor c = matmul(b, e);
  EXPECT_EQ(c.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(c.to_vector<float>(), (F{1, 4, 3, 8, 5, 12, 7, 16}));
  Tensor d = matmul(reshape(constant({1, 2, 3, 4}), {1, 2, 2}), constant({{1, 1}, {1, 1}}));
  EXPECT_EQ(d.to_vector<int32_t>(), (I{3, 3, 7, 7}));
  EXPECT_EQ(error_of([&] { matmul(a, a); }),
            "matmul: Matrix size-incompatible: In[0]: [2, 3], In[1]: [2, 3]");
  EXPECT_EQ(error_of([&] {
              matmul(zeros({2, 2, 2}), zeros({3, 2, 2}));
            }),
            "matmul: In[0] and In[1] must have compatible batch dimensions: [2, 2, 2] vs. "
            "[3, 2, 2]");
}

TEST(ArrayOpsTest, Transpose) {
  EXPECT_EQ(transpose(m23()).to_vector<float>(), (F{1, 4, 5, 2, 3, 6}));
  Tensor x = reshape(range(24), {2, 3, 4});
  Tensor t = transpose(x, {{1, 0, 2}});
  EXPECT_EQ(t.shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(t.to_vector<int32_t>()[4], 12);  // t[0,1,0] = x[1,0,0]
  EXPECT_EQ(t.to_vector<int32_t>()[9], 5);   // t[1,0,1] = x[0,1,1]
  Tensor u = transpose(x, {{2, -3, 1}});     // negative perm entries count from the end
  EXPECT_EQ(u.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(u.to_vector<int32_t>()[1 * 6 + 1 * 3 + 2], 12 + 8 + 1);  // u[1,1,2] = x[1,2,1]
  Tensor big = reshape(range(70 * 50), {70, 50});  // blocked path with partial tiles
  std::vector<int32_t> bt = transpose(big).to_vector<int32_t>();
  EXPECT_EQ(bt[37 * 70 + 61], 61 * 50 + 37);
  EXPECT_EQ(error_of([&] {
              transpose(x, {{0, 1}});
            }),
            "transpose: transpose expects a vector of size 3. But input(1) is a vector of size 2");
  EXPECT_EQ(error_of([&] {
              transpose(x, {{0, 1, 1}});
            }),
            "transpose: 1 is duplicated in the permutation");
}

TEST(ArrayOpsTest, ReshapeExpandSqueeze) {
  Tensor r = reshape(m23(), {3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.to_vector<float>(), (F{1, 5, 3, 4, 2, 6}));
  EXPECT_EQ(error_of([] {
              reshape(m23(), {2, 2});
            }),
            "reshape: Input to reshape is a tensor with 6 values, but the requested shape has 4");
  EXPECT_EQ(error_of([] {
              reshape(m23(), {4, -1});
            }),
            "reshape: Input to reshape is a tensor with 6 values, but the requested shape "
            "requires a multiple of 4");
  EXPECT_EQ(error_of([] {
              reshape(m23(), {-1, -1});
            }),
            "reshape: Only one input size may be -1, not both 0 and 1");
  EXPECT_EQ(expand_dims(m23(), 0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(expand_dims(m23(), -1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(error_of([] { expand_dims(m23(), 3); }),
            "expand_dims: Tried to expand dim index 3 for tensor with 2 dimensions.");
  Tensor s = zeros({1, 2, 1, 3});
  EXPECT_EQ(squeeze(s).shape(), (Shape{2, 3}));
  EXPECT_EQ(squeeze(s, {{-2}}).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(error_of([&] { squeeze(s, {{1}}); }),
            "squeeze: Can not squeeze dim[1], expected a dimension of 1, got 2");
}

TEST(ArrayOpsTest, ConcatAndStack) {
  Tensor c = concat({m23(), m23()}, 0);
  EXPECT_EQ(c.shape(), (Shape{4, 3}));
  Tensor d = concat({m23(), constant(F{7, 8}, Shape{2, 1})}, -1);
  EXPECT_EQ(d.to_vector<float>(), (F{1, 5, 3, 7, 4, 2, 6, 8}));
  std::vector<Tensor> many;
  for (int i = 0; i < 7; ++i) many.push_back(constant({i}));
  EXPECT_EQ(concat(many, 0).to_vector<int32_t>(), (I{0, 1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(stack({constant({1, 2}), constant({3, 4})}).to_vector<int32_t>(), (I{1, 2, 3, 4}));
  Tensor s1 = stack({constant({1, 2}), constant({3, 4})}, 1);
  EXPECT_EQ(s1.shape(), (Shape{2, 2}));
  EXPECT_EQ(s1.to_vector<int32_t>(), (I{1, 3, 2, 4}));
  EXPECT_EQ(error_of([] {
              concat({m23(), constant({1.f})}, 0);
            }),
            "concat: Ranks of all input tensors should match: shape[0] = [2, 3] vs. shape[1] = "
            "[1]");
  EXPECT_EQ(error_of([] {
              concat({m23(), zeros({2, 2})}, 0);
            }),
            "concat: Dimension 1 in both shapes must be equal: shape[0] = [2, 3] vs. shape[1] = "
            "[2, 2]");
  EXPECT_EQ(error_of([] {
              concat({m23(), constant({{1, 2, 3}})}, 0);
            }),
            "concat: input #1 (zero-based) was expected to be a float32 tensor but is a int32 "
            "tensor");
  EXPECT_EQ(error_of([] { concat({m23()}, 2); }),
            "concat: Expected concatenating dimensions in the range [-2, 2), but got 2");
}

TEST(ArrayOpsTest, TileAndPad) {
  Tensor t = tile(constant({{1, 2}}), {2, 2});
  EXPECT_EQ(t.shape(), (Shape{2, 4}));
  EXPECT_EQ(t.to_vector<int32_t>(), (I{1, 2, 1, 2, 1, 2, 1, 2}));
  EXPECT_EQ(tile(constant(I{1, 2}, Shape{2, 1}), {1, 3}).to_vector<int32_t>(),
            (I{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(error_of([] {
              tile(constant({1}), {2, 2});
            }),
            "tile: Expected multiples argument to be a vector of length 1 but got length 2");
  Tensor p = pad(constant({{1, 2}, {3, 4}}), {{1, 0}, {0, 1}});
  EXPECT_EQ(p.shape(), (Shape{3, 3}));
  EXPECT_EQ(p.to_vector<int32_t>(), (I{0, 0, 0, 1, 2, 0, 3, 4, 0}));
  EXPECT_EQ(pad(constant({1.f}), {{1, 1}}, -1.5).to_vector<float>(), (F{-1.5, 1, -1.5}));
  EXPECT_EQ(error_of([] {
              pad(constant({1.f}), {{-1, 0}});
            }),
            "pad: Paddings must be non-negative: -1 0");
}

TEST(ArrayOpsTest, Gather) {
  EXPECT_EQ(gather(m23(), constant({1, 0, 1})).to_vector<float>(), (F{4, 2, 6, 1, 5, 3, 4, 2, 6}));
  Tensor g = gather(m23(), constant(I{2, 0}, Shape{2, 1}), -1);
  EXPECT_EQ(g.shape(), (Shape{2, 2, 1}));
  EXPECT_EQ(g.to_vector<float>(), (F{3, 1, 6, 4}));
  EXPECT_EQ(error_of([] {
              gather(m23(), constant({0, 5}));
            }),
            "gather: indices[1] = 5 is not in [0, 2)");
  EXPECT_EQ(error_of([] { gather(m23(), constant({0.f})); }),
            "gather: input #1 (zero-based) is a float32 tensor; expected int32 or int64");
}

TEST(ArrayOpsTest, UnsortedSegmentSum) {
  // Row 0 goes to segment 1, row 1 is dropped (negative id), segments 0 and 2 stay 0.
  Tensor s = unsorted_segment_sum(m23(), constant({1, -1}), 3);
  EXPECT_EQ(s.shape(), (Shape{3, 3}));
  EXPECT_EQ(s.to_vector<float>(), (F{0, 0, 0, 1, 5, 3, 0, 0, 0}));
  EXPECT_EQ(
      unsorted_segment_sum(constant({1, 2, 3, 4}), constant({2, 0, 2, 2}), 3).to_vector<int32_t>(),
      (I{2, 0, 8}));
  // ids with the data's full shape: elementwise segments.
  EXPECT_EQ(unsorted_segment_sum(m23(), constant({{0, 1, 0}, {1, 1, 0}}), 2).to_vector<float>(),
            (F{1 + 3 + 6, 5 + 4 + 2}));
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(m23(), constant({0, 3}), 3);
            }),
            "unsorted_segment_sum: segment_ids[1] = 3 is not in [0, 3)");
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(m23(), constant({0, 1, 0}), 3);
            }),
            "unsorted_segment_sum: data.shape = [2, 3] does not start with segment_ids.shape = "
            "[3]");
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(zeros({2, 0}), constant({0, 1}), 1);
            }),
            "unsorted_segment_sum: segment_ids[1] = 1 is not in [0, 1)");
  EXPECT_EQ(unsorted_segment_sum(zeros({2, 0}), constant({0, -1}), 1).shape(), (Shape{1, 0}));
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(constant(std::vector<bool>{true}, Shape{1}), constant({0}), 1);
            }),
            "unsorted_segment_sum: input #0 (zero-based) is a bool tensor; expected float16, "
            "bfloat16, float32, float64, int32 or int64");
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(m23(), constant({0, 1}), -1);
            }),
            "unsorted_segment_sum: num_segments must be non-negative, got: -1");
  EXPECT_EQ(error_of([] {
              unsorted_segment_sum(m23(), constant({0.f, 1.f}), 2);
            }),
            "unsorted_segment_sum: input #1 (zero-based) was expected to be a int32 tensor but is "
            "a float32 tensor");
}

TEST(ArrayOpsTest, OneHot) {
  Tensor o = one_hot(constant({0, 2, 5}), 3);
  EXPECT_EQ(o.dtype(), float32);
  EXPECT_EQ(o.to_vector<float>(), (F{1, 0, 0, 0, 0, 1, 0, 0, 0}));
  Tensor o0 = one_hot(constant({1, 0}), 2, 5.0, -1.0, 0);
  EXPECT_EQ(o0.to_vector<float>(), (F{-1, 5, 5, -1}));
  EXPECT_EQ(error_of([] { one_hot(constant({1}), -1); }),
            "one_hot: depth must be non-negative, got: -1");
}

TEST(ArrayOpsTest, AddNCumsum) {
  std::vector<Tensor> xs(6, constant({1.f, 2.f}));
  EXPECT_EQ(add_n(xs).to_vector<float>(), (F{6, 12}));
  EXPECT_EQ(error_of([] {
              add_n({constant({1.f}), constant({1.f, 2.f})});
            }),
            "add_n: Shapes of all inputs must match: values[0].shape = [1] != values[1].shape = "
            "[2]");
  Tensor x = constant({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(cumsum(x, 1).to_vector<int32_t>(), (I{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(cumsum(x, 0).to_vector<int32_t>(), (I{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(cumsum(x, -1, true).to_vector<int32_t>(), (I{0, 1, 3, 0, 4, 9}));
  EXPECT_EQ(cumsum(x, -1, false, true).to_vector<int32_t>(), (I{6, 5, 3, 15, 11, 6}));
  EXPECT_EQ(cumsum(x, -1, true, true).to_vector<int32_t>(), (I{5, 3, 0, 11, 6, 0}));
}

TEST(ArrayOpsTest, SoftmaxLogSoftmax) {
  Tensor s = softmax(constant({{1.f, 2.f, 3.f}, {1000.f, 1000.f, 1000.f}}));
  std::vector<float> v = s.to_vector<float>();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(v[0], std::exp(1.0) / z, 1e-6);
  EXPECT_NEAR(v[2], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(v[4], 1.0 / 3, 1e-6);
  std::vector<float> l = log_softmax(constant({1.f, 2.f, 3.f})).to_vector<float>();
  EXPECT_NEAR(l[1], 2 - std::log(z), 1e-5);
  std::vector<float> s0 = softmax(constant({{0.f, 0.f}, {0.f, 0.f}}), 0).to_vector<float>();
  EXPECT_EQ(s0, (F{0.5, 0.5, 0.5, 0.5}));
  EXPECT_EQ(error_of([] {
              softmax(constant({1, 2}));
            }),
            "softmax: input #0 (zero-based) is a int32 tensor; expected float16, bfloat16, float32 "
            "or float64");
}

TEST(ArrayOpsTest, Split) {
  Tensor x = reshape(range(12), {2, 6});
  std::vector<Tensor> p = split(x, 3, 1);
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(p[1].to_vector<int32_t>(), (I{2, 3, 8, 9}));
  std::vector<Tensor> q = split(x, {1, -1, 2}, -1);
  ASSERT_EQ(q.size(), 3u);
  EXPECT_EQ(q[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(q[1].to_vector<int32_t>(), (I{1, 2, 3, 7, 8, 9}));
  EXPECT_EQ(q[2].to_vector<int32_t>(), (I{4, 5, 10, 11}));
  EXPECT_EQ(split(x, 2)[1].to_vector<int32_t>(), (I{6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(error_of([&] { split(x, 4, 1); }),
            "split: Number of ways to split should evenly divide the split dimension, but got "
            "split_dim 6 and num_split 4");
  EXPECT_EQ(error_of([&] {
              split(x, {2, 2}, 1);
            }),
            "split: Determined shape must either match input shape along split_dim exactly if "
            "fully specified, or be less than the size of the input along split_dim if not fully "
            "specified.  Got: 4");
}

TEST(ArrayOpsTest, TopK) {
  TopK t = top_k(constant({{1.f, 5.f, 3.f, 5.f}, {4.f, 2.f, 6.f, 0.f}}), 2);
  EXPECT_EQ(t.values.shape(), (Shape{2, 2}));
  EXPECT_EQ(t.values.to_vector<float>(), (F{5, 5, 6, 4}));
  EXPECT_EQ(t.indices.dtype(), int32);
  EXPECT_EQ(t.indices.to_vector<int32_t>(), (I{1, 3, 2, 0}));  // ties: lower index first
  EXPECT_EQ(top_k(constant({3, 9, 1})).indices.to_vector<int32_t>(), (I{1}));
  EXPECT_EQ(error_of([] {
              top_k(constant({1, 2}), 3);
            }),
            "top_k: input must have at least k columns. Had 2, needed 3");
}

TEST(ArrayOpsTest, InterpreterRunsOpsWithSeveralResults) {
  auto module = ir::parse_module(R"(func @f(%x: i32[2,4]) -> (i32[2,2], i32[2,1]) {
  %0:2 = split %x {axis = 1, num_split = 2} : (i32[2,2], i32[2,2])
  %1:2 = top_k %0#1 {k = 1} : (i32[2,1], i32[2,1])
  return %0#0, %1#1 : i32[2,2], i32[2,1]
}
)");
  ASSERT_TRUE(module.ok()) << module.status();
  Tensor x = constant({{1, 2, 3, 4}, {5, 6, 8, 7}});
  ir::Literal arg(ir::Type{int32, Shape{2, 4}});
  std::memcpy(arg.data(), x.raw_data(), 8 * sizeof(int32_t));
  KernelEvaluator evaluator;
  auto out =
      ir::interpret(*(*module)->functions()[0], std::span<const ir::Literal>(&arg, 1), evaluator);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  const auto* a = static_cast<const int32_t*>((*out)[0].data());
  const auto* b = static_cast<const int32_t*>((*out)[1].data());
  EXPECT_EQ((I{a[0], a[1], a[2], a[3]}), (I{1, 2, 5, 6}));
  EXPECT_EQ((I{b[0], b[1]}), (I{1, 0}));  // argmax of [3, 4] and [8, 7]
}

TEST(ArrayOpsTest, Creation) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dtype(), float32);
  EXPECT_EQ(z.to_vector<float>(), F(6, 0));
  EXPECT_EQ(ones({2}, int32).to_vector<int32_t>(), (I{1, 1}));
  EXPECT_EQ(fill({2}, 7).dtype(), int32);
  EXPECT_EQ(fill({2}, 7.5).to_vector<float>(), (F{7.5, 7.5}));
  EXPECT_EQ(zeros_like(constant({1, 2})).to_vector<int32_t>(), (I{0, 0}));
  EXPECT_EQ(ones_like(m23()).shape(), (Shape{2, 3}));
  EXPECT_EQ(range(5).to_vector<int32_t>(), (I{0, 1, 2, 3, 4}));
  EXPECT_EQ(range(1, 10, 3).to_vector<int32_t>(), (I{1, 4, 7}));
  EXPECT_EQ(range(5, 1, -2).to_vector<int32_t>(), (I{5, 3}));
  Tensor rf = range(0, 1, 0.25);
  EXPECT_EQ(rf.dtype(), float32);
  EXPECT_EQ(rf.to_vector<float>(), (F{0, 0.25, 0.5, 0.75}));
  EXPECT_EQ(error_of([] { range(0, 5, 0); }), "range: Requires delta != 0: 0");
  EXPECT_EQ(error_of([] { range(5, 1); }), "range: Requires start <= limit when delta > 0: 5/1");
  EXPECT_EQ(linspace(0, 1, 5).to_vector<float>(), (F{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(linspace(3, 4, 1).to_vector<float>(), (F{3}));
  EXPECT_EQ(eye(2).to_vector<float>(), (F{1, 0, 0, 1}));
  EXPECT_EQ(eye(2, 3, int32).to_vector<int32_t>(), (I{1, 0, 0, 0, 1, 0}));
}

}  // namespace
}  // namespace kiln
