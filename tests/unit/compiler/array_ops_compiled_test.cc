// kiln — every array op under kiln::function equals the same op run eagerly (the compiled code
// calls the eager kernels through kiln_rt_kernel_call; composites trace into several ops).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/ops.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln {
namespace {

Tensor random_tensor(Shape shape, unsigned seed) {
  return compiler::testing::random_normal_tensor(std::move(shape), seed, 2.f);
}

void expect_same(const Tensor& eager, const Tensor& compiled) {
  ASSERT_EQ(eager.dtype(), compiled.dtype());
  ASSERT_EQ(eager.shape(), compiled.shape());
  switch (eager.dtype()) {
    case DType::kFloat32: {
      // Data movement and reductions are bit-exact; fused exp/div in composites (softmax) may
      // differ from the eager kernels by an ulp.
      const auto a = eager.to_vector<float>(), b = compiled.to_vector<float>();
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_NEAR(a[i], b[i], 1e-6f * std::max(1.f, std::fabs(a[i]))) << "element " << i;
      }
      break;
    }
    case DType::kInt32:
      EXPECT_EQ(eager.to_vector<int32_t>(), compiled.to_vector<int32_t>());
      break;
    case DType::kBool:
      EXPECT_EQ(eager.to_vector<bool>(), compiled.to_vector<bool>());
      break;
    default:  // other dtypes: compare the bytes
      EXPECT_EQ(0, std::memcmp(eager.raw_data(), compiled.raw_data(),
                               eager.num_elements() * dtype_size(eager.dtype())));
      break;
  }
}

template <typename F, typename... Args>
void check(F f, const Args&... args) {
  auto compiled = function(f);
  expect_same(f(args...), compiled(args...));
}

TEST(ArrayOpsCompiledTest, Reductions) {
  const Tensor x = random_tensor({3, 4, 5}, 1);
  check([](const Tensor& t) { return reduce_max(t, {{-1}}); }, x);
  check([](const Tensor& t) { return reduce_min(t, {{0, 2}}, true); }, x);
  check([](const Tensor& t) { return reduce_prod(t, {{1}}); }, x);
  check([](const Tensor& t) { return reduce_all(t > 0.f, {{1}}); }, x);
  check([](const Tensor& t) { return reduce_any(t > 0.f); }, x);
  check([](const Tensor& t) { return reduce_logsumexp(t, {{-1}}); }, x);
  check([](const Tensor& t) { return argmax(t, 1); }, x);
  check([](const Tensor& t) { return argmin(t, -1); }, x);
  check([](const Tensor& t) { return cumsum(t, 1, true, true); }, x);
}

TEST(ArrayOpsCompiledTest, Matmul) {
  const Tensor a = random_tensor({4, 2, 3}, 2), b = random_tensor({3, 5}, 3);
  const Tensor c = random_tensor({4, 5, 3}, 4);
  check([](const Tensor& p, const Tensor& q) { return matmul(p, q); }, a, b);
  check([](const Tensor& p, const Tensor& q) { return matmul(p, q, false, true); }, a, c);
  check([](const Tensor& p) { return matmul(p, p, true, false); }, a);
}

TEST(ArrayOpsCompiledTest, ShapeOps) {
  const Tensor x = random_tensor({2, 3, 4}, 5);
  const Tensor idx = constant({2, 0, 1, 1});
  check([](const Tensor& t) { return transpose(t); }, x);
  check([](const Tensor& t) { return transpose(t, {{0, 2, 1}}) * 2.f; }, x);
  check([](const Tensor& t) { return reshape(t, {-1, 4}); }, x);
  check([](const Tensor& t) { return squeeze(expand_dims(t, -2), {{2}}); }, x);
  check([](const Tensor& t) { return concat({t, t, t, t, t, t}, 1); }, x);
  check([](const Tensor& t) { return stack({t, t + 1.f}, -1); }, x);
  check([](const Tensor& t) { return tile(t, {1, 2, 3}); }, x);
  check([](const Tensor& t) { return pad(t, {{0, 1}, {2, 0}, {1, 1}}, 0.5); }, x);
  check([](const Tensor& t, const Tensor& i) { return gather(t, i, 2); }, x, idx);
  check([](const Tensor& t, const Tensor& i) { return unsorted_segment_sum(t, i, 3); }, x,
        constant({2, -1}));
  check([](const Tensor& i) { return one_hot(i, 3, 2.0, -1.0); }, idx);
  check([](const Tensor& t) { return add_n({t, t, t, t, t, t}); }, x);
  check([](const Tensor& t) { return softmax(t); }, x);
  check([](const Tensor& t) { return log_softmax(t, 1); }, x);
}

TEST(ArrayOpsCompiledTest, SeveralResults) {
  const Tensor x = random_tensor({4, 6}, 7);
  check([](const Tensor& t) { return split(t, 3, 1)[2]; }, x);
  check(
      [](const Tensor& t) {
        std::vector<Tensor> p = split(t, {1, -1}, 0);
        return concat({p[1], p[0]}, 0);
      },
      x);
  check([](const Tensor& t) { return top_k(t, 3).values; }, x);
  check([](const Tensor& t) { return top_k(t, 2).indices; }, x);
  // Both results of one op returned.
  auto both = function([](const Tensor& t) {
    TopK r = top_k(t, 2);
    return std::vector<Tensor>{r.values, r.indices};
  });
  std::vector<Tensor> got = both(x);
  TopK want = top_k(x, 2);
  ASSERT_EQ(got.size(), 2u);
  expect_same(want.values, got[0]);
  expect_same(want.indices, got[1]);
}

TEST(ArrayOpsCompiledTest, CreationBecomesConstants) {
  const Tensor x = random_tensor({2, 3}, 6);
  check([](const Tensor& t) { return t + ones_like(t) + eye(2, 3); }, x);
  check([](const Tensor& t) { return add_n({t, zeros_like(t), fill({2, 3}, 1.5)}); }, x);
  check([](const Tensor& t) { return matmul(t, reshape(range(0.f, 3.f, 1.f), {3, 1})); }, x);
  check([](const Tensor& t) { return t * linspace(0, 1, 3); }, x);
}

}  // namespace
}  // namespace kiln
