// kiln — gradients of shape-polymorphic functions: every rule that looks at shapes either gives
// eager's result for every size or refuses the trace with a clear error.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln {
namespace {

using Body = std::function<Tensor(const Tensor&)>;

std::vector<std::pair<std::string, Body>> bodies() {
  return {
      {"transpose", [](const Tensor& h) { return transpose(h) * 2.f; }},
      {"softmax", [](const Tensor& h) { return softmax(h); }},
      {"log_softmax", [](const Tensor& h) { return log_softmax(h); }},
      {"softmax_axis0", [](const Tensor& h) { return softmax(h, 0); }},
      {"reduce_max_rows", [](const Tensor& h) { return reduce_max(h, std::vector<int64_t>{1}); }},
      {"reduce_max_batch", [](const Tensor& h) { return reduce_max(h, std::vector<int64_t>{0}); }},
      {"logsumexp", [](const Tensor& h) { return reduce_logsumexp(h, std::vector<int64_t>{1}); }},
      {"mean_all", [](const Tensor& h) { return reduce_mean(h); }},
      {"concat_one_unknown",
       [](const Tensor& h) {
         return concat({h, ones({2, 3})}, 0);
       }},
      {"concat_cols",
       [](const Tensor& h) {
         return concat({h, exp(h)}, 1);
       }},
      {"reshape_flat", [](const Tensor& h) { return reshape(h, {-1}) * 1.5f; }},
      {"expand_squeeze",
       [](const Tensor& h) { return squeeze(expand_dims(h, 1), std::vector<int64_t>{1}); }},
      {"cumsum_batch", [](const Tensor& h) { return cumsum(h, 0); }},
      {"tile",
       [](const Tensor& h) {
         return tile(h, {2, 1});
       }},
      {"pad",
       [](const Tensor& h) {
         return pad(h, {{1, 0}, {0, 2}});
       }},
      {"stack",
       [](const Tensor& h) {
         return stack({h, tanh(h)}, 1);
       }},
      {"matmul_t", [](const Tensor& h) { return matmul(h, h, true, false); }},
      {"broadcast_row",
       [](const Tensor& h) { return h - reduce_mean(h, std::vector<int64_t>{0}); }},
  };
}

TEST(ShapePolyGradTest, RulesThatReadShapesMatchEagerOrRefuse) {
  const Tensor w0 = compiler::testing::random_normal_tensor(Shape{4, 3}, 7, 0.5f);
  for (const auto& [name, body] : bodies()) {
    SCOPED_TRACE(name);
    Variable w(w0);
    auto step = [&, b = body](const Tensor& x) {
      GradientTape tape;
      tape.watch(x);
      Tensor loss = reduce_sum(square(b(matmul(x, w))));
      auto grads = tape.gradient(loss, {w, x});
      return std::vector<Tensor>{loss, *grads[0], *grads[1]};
    };
    auto f = function(step, {.input_signature = {TensorSpec({None, 4})}, .name = name});
    for (int64_t n : {1, 3, 8}) {
      SCOPED_TRACE(n);
      Tensor x = compiler::testing::random_normal_tensor(Shape{n, 4}, 11 + n, 1.f);
      std::vector<Tensor> want = step(x);
      std::vector<Tensor> got;
      try {
        got = f(x);
      } catch (const std::exception& e) {
        ADD_FAILURE() << "refused: " << e.what();
        break;
      }
      ASSERT_EQ(got.size(), 3u);
      for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(want[i].shape(), got[i].shape()) << i;
        auto a = want[i].to_vector<float>(), b = got[i].to_vector<float>();
        for (size_t k = 0; k < a.size(); ++k) {
          ASSERT_NEAR(a[k], b[k], 1e-4f * std::max(1.f, std::fabs(a[k]))) << i << " " << k;
        }
      }
    }
  }
}

// Several pieces of unknown size: where they end is known only at run time, and the rule says
// so instead of producing a wrong split.
TEST(ShapePolyGradTest, ConcatOfSeveralUnknownSizesIsRefusedClearly) {
  Variable w(compiler::testing::random_normal_tensor(Shape{4, 3}, 7, 0.5f));
  auto step = [&](const Tensor& x) {
    GradientTape tape;
    Tensor loss = reduce_sum(concat({matmul(x, w), matmul(x, w) * 3.f}, 0));
    return *tape.gradient(loss, {w})[0];
  };
  auto f = function(step, {.input_signature = {TensorSpec({None, 4})}, .name = "cat"});
  try {
    f(ones({2, 4}));
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("concat: no gradient for a concatenation of 2 inputs "
                                         "whose sizes along axis 0 are unknown when traced (at "
                                         "most one may be)"),
              std::string::npos)
        << e.what();
  }
  // Eagerly (known sizes) it is fine.
  EXPECT_EQ(step(ones({2, 4})).shape(), Shape({4, 3}));
}

}  // namespace
}  // namespace kiln
