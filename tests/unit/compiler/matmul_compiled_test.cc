// kiln — compiled 2-D float32 products: matmul fusions (passes/fuse_matmul.cc) and small
// matmuls in generated loops (compiler/lower_matmul.cc), differentially against eager execution
// (transposed operands, every loop order, both the generated-loop and the sgemm path), bitwise
// independence of the thread count, and the errors of malformed matmul fusions.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/parallel.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln {
namespace {

using compiler::testing::random_normal_tensor;

using Epilogue = std::function<Tensor(const Tensor& product, const Tensor& bias)>;

struct NamedEpilogue {
  std::string name;
  Epilogue fn;
};

std::vector<NamedEpilogue> epilogues() {
  return {
      {"none", [](const Tensor& p, const Tensor&) { return p; }},
      {"bias", [](const Tensor& p, const Tensor& b) { return b + p; }},
      {"bias_relu", [](const Tensor& p, const Tensor& b) { return relu(p + b); }},
      {"bias_relu_bias", [](const Tensor& p, const Tensor& b) { return relu(p + b) * b; }},
      {"bias_elu", [](const Tensor& p, const Tensor& b) { return elu(p + b); }},
      {"scale_tanh", [](const Tensor& p, const Tensor&) { return kiln::tanh(p * 0.5f); }},
      {"bias_sigmoid", [](const Tensor& p, const Tensor& b) { return sigmoid(b - p); }},
      {"bias_gelu_scale", [](const Tensor& p, const Tensor& b) { return gelu(p + b) * 2.0f; }},
  };
}

// |compiled - eager| within what two float32 products of length k may differ by, plus a few
// ulps of the activation: 2 (k + 4) eps (sum_k |a||b| + |bias| + 1) + 8 eps |eager|.
void expect_product_close(const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor& eager,
                          const Tensor& compiled, const std::string& what) {
  ASSERT_EQ(eager.shape(), compiled.shape()) << what;
  const Tensor bound_base = matmul(abs(a), abs(b), ta, tb);
  const int64_t k = ta ? a.shape()[0] : a.shape()[1];
  const std::vector<float> e = eager.to_vector<float>(), c = compiled.to_vector<float>();
  const std::vector<float> s = bound_base.to_vector<float>();
  const double eps = std::ldexp(1.0, -23);
  int bad = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    const double tol = 2.0 * (k + 4) * eps * (s[i] + 4.0) + 8 * eps * std::fabs(e[i]);
    if (!(std::fabs(double(e[i]) - c[i]) <= tol) && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " eager " << e[i] << " compiled " << c[i]
                    << " tolerance " << tol;
    }
  }
}

struct Case {
  int64_t m, k, n;
  bool ta, tb;
};

// `all_epilogues` false: only "none" and "bias_elu".
void run_cases(const std::vector<Case>& cases, unsigned seed, bool all_epilogues = true) {
  for (const Case& c : cases) {
    const Tensor a = random_normal_tensor(c.ta ? Shape{c.k, c.m} : Shape{c.m, c.k}, seed++, 1.f);
    const Tensor b = random_normal_tensor(c.tb ? Shape{c.n, c.k} : Shape{c.k, c.n}, seed++, 0.5f);
    const Tensor bias = random_normal_tensor(Shape{c.n}, seed++, 1.f);
    for (const NamedEpilogue& epi : epilogues()) {
      if (!all_epilogues && epi.name != "none" && epi.name != "bias_elu") continue;
      const std::string what = ::testing::PrintToString(std::vector<int64_t>{c.m, c.k, c.n}) +
                               (c.ta ? " ta" : "") + (c.tb ? " tb" : "") + " " + epi.name;
      auto f = [&](const Tensor& x, const Tensor& w, const Tensor& bb) {
        return epi.fn(matmul(x, w, c.ta, c.tb), bb);
      };
      auto compiled = function(f);
      const Tensor eager = f(a, b, bias);
      const Tensor out = compiled(a, b, bias);
      expect_product_close(a, b, c.ta, c.tb, eager, out, what);
      const std::string ir =
          compiled.get_concrete_function(a.shape(), b.shape(), bias.shape()).ir();
      if (epi.name != "none") {
        EXPECT_NE(ir.find("kind = \"matmul\""), std::string::npos) << what << "\n" << ir;
      }
    }
  }
}

// Generated loops: the chapter MLP's products (forward, and the backward's transposed ones)
// and every transpose combination of a few odd shapes, which covers the i-k-j, k-i, vector dot
// and i-j-k loop orders.
TEST(MatmulCompiled, SmallProductsMatchEager) {
  run_cases({{32, 5, 30, false, false},
             {32, 30, 1, false, false},
             {30, 32, 1, true, false},
             {32, 1, 30, false, true},
             {5, 32, 30, true, false}},
            100);
  std::vector<Case> cases = {{1, 16, 16, false, false},
                             {16, 16, 1, false, false},
                             {3, 1, 1, false, false},
                             {1, 1, 1, true, true},
                             // vector dot products: k of 2 to 12 vectors, with and without a tail
                             {6, 16, 1, false, false},
                             {5, 45, 1, false, false},
                             {3, 100, 4, false, true},
                             {9, 64, 7, false, true},
                             {2, 17, 3, false, true}};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      cases.push_back({7, 9, 3, ta, tb});
      cases.push_back({13, 6, 1, ta, tb});
      cases.push_back({4, 17, 11, ta, tb});
    }
  }
  run_cases(cases, 150, /*all_epilogues=*/false);
}

// The sgemm path: panels of a few hundred KiB, row blocks over the pool.
TEST(MatmulCompiled, LargeProductsMatchEager) {
  // The last: panels of 120 rows (4 MiB of C each).
  std::vector<Case> cases = {
      {1200, 64, 64, false, false}, {97, 64, 1100, false, false}, {300, 8, 8192, false, false}};
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) cases.push_back({130, 70, 90, ta, tb});
  }
  run_cases(cases, 200);
}

// Row blocks start at multiples of the sgemm register tile and the epilogue is per element, so
// the compiled fusion gives the same bits on 1, 2 and 4 threads.
TEST(MatmulCompiled, FusionIsBitwiseIndependentOfThreadCount) {
  const int saved = config::num_threads();
  const Tensor x = random_normal_tensor({600, 256}, 1, 1.f);
  const Tensor w = random_normal_tensor({256, 300}, 2, 0.1f);
  const Tensor b = random_normal_tensor({300}, 3, 1.f);
  auto f = [](const Tensor& x, const Tensor& w, const Tensor& b) { return elu(matmul(x, w) + b); };
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 4}) {
    config::set_num_threads(threads);
    auto compiled = function(f);
    results.push_back(compiled(x, w, b).to_vector<float>());
  }
  config::set_num_threads(saved);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
}

// The bias gradient's reduce_sum(keepdims) + reshape: the reshape (like expand_dims and
// squeeze) is a copy in the compiled code, not a kernel call.
TEST(MatmulCompiled, ReshapesAreCopies) {
  auto f = function([](const Tensor& x) {
    return expand_dims(squeeze(reshape(x * 2.0f, {1, 12}), std::vector<int64_t>{0}), 1) + 1.0f;
  });
  const Tensor x = random_normal_tensor({3, 4}, 7, 1.f);
  const std::vector<float> in = x.to_vector<float>(), out = f(x).to_vector<float>();
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i] * 2.0f + 1.0f) << i;
  const std::string llvm = f.get_concrete_function(x.shape()).llvm_ir();
  EXPECT_EQ(llvm.find("kiln_rt_kernel_call"), std::string::npos) << llvm;
}

// Hand-written matmul fusions the lowering rejects, each with a clear message.
absl::Status compile_matmul_fusion(
    const std::vector<ir::Type>& operand_types, const ir::Type& result_type,
    const std::function<ir::Value*(ir::Builder&, const std::vector<ir::Value*>&)>& body) {
  ir::Function fn("f");
  std::vector<ir::Value*> args;
  for (const ir::Type& t : operand_types) args.push_back(fn.body().add_argument(t));
  ir::Builder b(&fn.body());
  ir::Op* f =
      b.create_op(ir::OpKind::kFusion, args, {result_type}, {{"kind", std::string("matmul")}});
  ir::Block& region = f->create_region();
  std::vector<ir::Value*> rargs;
  for (const ir::Type& t : operand_types) rargs.push_back(region.add_argument(t));
  ir::Builder rb(&region);
  rb.create_op(ir::OpKind::kYield, {body(rb, rargs)}, {});
  b.create_return({f->result()});
  return compiler::compile(fn).status();
}

TEST(MatmulCompiled, MalformedFusionsAreErrors) {
  using compiler::testing::f32;
  using compiler::testing::op;
  // Not starting with the matmul of arguments #0 and #1.
  absl::Status s = compile_matmul_fusion({f32({4, 3}), f32({3, 5})}, f32({4, 5}),
                                         [](ir::Builder& rb, const std::vector<ir::Value*>& a) {
                                           ir::Value* m = op(rb, ir::OpKind::kMatmul, {a[0], a[1]});
                                           return op(rb, ir::OpKind::kNeg, {m});
                                         });
  EXPECT_TRUE(s.ok()) << s;
  s = compile_matmul_fusion({f32({4, 3}), f32({4, 3})}, f32({4, 3}),
                            [](ir::Builder& rb, const std::vector<ir::Value*>& a) {
                              return op(rb, ir::OpKind::kAdd, {a[0], a[1]});
                            });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(),
            "a matmul fusion region must start with the matmul of its arguments #0 and #1");
  // An epilogue operand that is not a row of the result.
  s = compile_matmul_fusion({f32({4, 3}), f32({3, 5}), f32({4, 5})}, f32({4, 5}),
                            [](ir::Builder& rb, const std::vector<ir::Value*>& a) {
                              ir::Value* m = op(rb, ir::OpKind::kMatmul, {a[0], a[1]});
                              return op(rb, ir::OpKind::kAdd, {m, a[2]});
                            });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_EQ(s.message(),
            "a matmul fusion epilogue operand must be a scalar or a row of the result, not "
            "f32[4,5] for a result f32[4,5]");
  // Not 2-D float32.
  s = compile_matmul_fusion({compiler::testing::i32({4, 3}), compiler::testing::i32({3, 5})},
                            compiler::testing::i32({4, 5}),
                            [](ir::Builder& rb, const std::vector<ir::Value*>& a) {
                              ir::Value* m = op(rb, ir::OpKind::kMatmul, {a[0], a[1]});
                              return op(rb, ir::OpKind::kNeg, {m});
                            });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << s;
  EXPECT_EQ(s.message(),
            "a matmul fusion needs 2-D float32 operands and result, not i32[4,3] x i32[3,5] -> "
            "i32[4,5]");
  // A non-elementwise op in the epilogue.
  s = compile_matmul_fusion({f32({4, 3}), f32({3, 5})}, f32({}),
                            [](ir::Builder& rb, const std::vector<ir::Value*>& a) {
                              ir::Value* m = op(rb, ir::OpKind::kMatmul, {a[0], a[1]});
                              return op(rb, ir::OpKind::kReduceSum, {m});
                            });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), "'reduce_sum' in a matmul fusion epilogue is not elementwise");
}

}  // namespace
}  // namespace kiln
