// kiln — compile(): fusions, broadcasts, consts, results, kernel calls and errors, run natively.
#include "compiler/compile.h"

#include <atomic>
#include <cmath>
#include <thread>

#include "gtest/gtest.h"
#include "tests/unit/compiler/test_util.h"

namespace kiln::compiler {
namespace {

using namespace ::kiln::compiler::testing;  // NOLINT
using ir::OpKind;

void check_huber(int64_t n, bool fused) {
  auto fn = huber_function(Shape{n}, fused);
  auto exe = compile_or_die(*fn);
  ASSERT_TRUE(exe);
  if (fused) {
    EXPECT_EQ(exe->workspace_bytes(), 0);
  }
  std::vector<float> y = random_floats(n, -3, 3, 1), p = random_floats(n, -3, 3, 2);
  std::vector<float> out(n, -1.0f);
  const void* args[] = {y.data(), p.data()};
  void* results[] = {out.data()};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(out[i], huber_reference(y[i], p[i])) << "i=" << i << " y=" << y[i] << " p=" << p[i];
  }
}

TEST(CompileTest, HuberFusion) {
  check_huber(1000, true);
  check_huber(100003, true);  // not a multiple of any vector width
  check_huber(1, true);
  check_huber(7, true);
}

TEST(CompileTest, HuberLoneOps) {
  check_huber(1000, false);
  check_huber(100003, false);
}

TEST(CompileTest, HuberFusionIsVectorized) {
  auto fn = huber_function(Shape{1024, 1});
  auto exe = compile_or_die(*fn);
  ASSERT_TRUE(exe);
  EXPECT_EQ(exe->workspace_bytes(), 0);
  EXPECT_NE(exe->llvm_ir().find("x float>"), std::string::npos) << exe->llvm_ir();
  EXPECT_NE(exe->asm_text().find("subps"), std::string::npos) << exe->asm_text();
}

// The Executable's assembly (made on demand from its optimized IR) is what emit_asm gives.
TEST(CompileTest, ExecutableAsmMatchesEmitAsm) {
  auto fn = huber_function(Shape{4096});
  CompileOptions options;
  options.cpu = "znver3";
  auto exe = compile_or_die(*fn, options);
  ASSERT_TRUE(exe);
  auto emitted = emit_asm(*fn, options);
  ASSERT_TRUE(emitted.ok()) << emitted.status();
  auto body = [](const std::string& text) {  // from the entry's first instruction to its end
    const size_t start = text.find(":\n", text.find(".type\tkiln_huber"));
    return text.substr(start, text.find(".Lfunc_end0") - start);
  };
  const std::string& text = exe->asm_text();
  EXPECT_NE(text.find("ymm"), std::string::npos);
  EXPECT_EQ(body(text), body(*emitted));
  EXPECT_EQ(&exe->asm_text(), &text);  // generated once
}

TEST(CompileTest, EmitAsmZnver3UsesYmm) {
  auto fn = huber_function(Shape{4096});
  CompileOptions options;
  options.cpu = "znver3";
  auto text = emit_asm(*fn, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("ymm"), std::string::npos) << *text;
  EXPECT_NE(text->find("vsubps"), std::string::npos);
  EXPECT_EQ(text->find("zmm"), std::string::npos);
}

TEST(CompileTest, EmitLlvmIr) {
  auto fn = huber_function(Shape{4096});
  CompileOptions options;
  options.cpu = "znver3";
  auto text = emit_llvm_ir(*fn, options);
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_NE(text->find("<8 x float>"), std::string::npos) << *text;
  EXPECT_NE(text->find("i32 @kiln_huber("), std::string::npos) << *text;
  EXPECT_NE(text->find("\"target-cpu\"=\"znver3\""), std::string::npos);
}

TEST(CompileTest, UnknownCpuIsAnError) {
  auto fn = huber_function(Shape{16});
  CompileOptions options;
  options.cpu = "not-a-cpu";
  auto exe = compile(*fn, options);
  ASSERT_FALSE(exe.ok());
  EXPECT_EQ(exe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(exe.status().message().find("not-a-cpu"), absl::string_view::npos);
  options.cpu = "";
  options.opt_level = 7;
  EXPECT_EQ(compile(*fn, options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CompileTest, OptLevels) {
  for (int level = 0; level <= 3; ++level) {
    auto fn = huber_function(Shape{3, 5});
    CompileOptions options;
    options.opt_level = level;
    auto exe = compile_or_die(*fn, options);
    ASSERT_TRUE(exe);
    std::vector<float> y = random_floats(15, -3, 3, 3), p = random_floats(15, -3, 3, 4), out(15);
    const void* args[] = {y.data(), p.data()};
    void* results[] = {out.data()};
    ASSERT_TRUE(exe->run(args, results).ok());
    for (int i = 0; i < 15; ++i) EXPECT_EQ(out[i], huber_reference(y[i], p[i])) << level;
  }
}

// [4,1] + [1,5] -> [4,5] inside a fusion, times a scalar argument, plus a scalar constant.
TEST(CompileTest, BroadcastInFusion) {
  ir::Function fn("bcast");
  ir::Value* a = fn.body().add_argument(f32({4, 1}), "a");
  ir::Value* b = fn.body().add_argument(f32({1, 5}), "b");
  ir::Value* s = fn.body().add_argument(f32({}), "s");
  ir::Builder builder(&fn.body());
  ir::Value* out =
      fusion(builder, {a, b, s}, f32({4, 5}), [](ir::Builder& rb, std::vector<ir::Value*> x) {
        ir::Attrs shape{{"shape", std::vector<int64_t>{4, 5}}};
        ir::Value* ab = op(rb, OpKind::kBroadcast, {x[0]}, shape);
        ir::Value* bb = op(rb, OpKind::kBroadcast, {x[1]}, shape);
        ir::Value* sum = op(rb, OpKind::kAdd, {ab, bb});
        ir::Value* scaled = op(rb, OpKind::kMul, {sum, x[2]});
        ir::Value* two = rb.scalar_constant(DType::kFloat32, 2.0);
        return op(rb, OpKind::kSub, {scaled, two});
      });
  builder.create_return({out});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  const float av[4] = {1, 2, 3, 4}, bv[5] = {10, 20, 30, 40, 50}, sv = 3;
  float res[20];
  const void* args[] = {av, bv, &sv};
  void* results[] = {res};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 5; ++j) EXPECT_EQ(res[i * 5 + j], (av[i] + bv[j]) * sv - 2) << i << j;
  }
}

// Broadcast of a rank-1 value to rank 3 along the middle and outer dims, and a [2,1,1] operand:
// loops that cannot all be merged, with a long contiguous inner dim.
TEST(CompileTest, BroadcastRank3) {
  const int64_t n0 = 2, n1 = 3, n2 = 37;
  ir::Function fn("bcast3");
  ir::Value* a = fn.body().add_argument(f32({n2}), "a");
  ir::Value* c = fn.body().add_argument(f32({n0, 1, 1}), "c");
  ir::Value* x = fn.body().add_argument(f32({n0, n1, n2}), "x");
  ir::Builder builder(&fn.body());
  ir::Value* out = fusion(builder, {a, c, x}, f32({n0, n1, n2}),
                          [&](ir::Builder& rb, std::vector<ir::Value*> v) {
                            ir::Attrs shape{{"shape", std::vector<int64_t>{n0, n1, n2}}};
                            ir::Value* ab = op(rb, OpKind::kBroadcast, {v[0]}, shape);
                            ir::Value* cb = op(rb, OpKind::kBroadcast, {v[1]}, shape);
                            return op(rb, OpKind::kAdd, {op(rb, OpKind::kMul, {ab, v[2]}), cb});
                          });
  builder.create_return({out});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  auto av = random_floats(n2, -1, 1, 5), cv = random_floats(n0, -1, 1, 6),
       xv = random_floats(n0 * n1 * n2, -1, 1, 7);
  std::vector<float> res(n0 * n1 * n2);
  const void* args[] = {av.data(), cv.data(), xv.data()};
  void* results[] = {res.data()};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int64_t i = 0; i < n0; ++i) {
    for (int64_t j = 0; j < n1; ++j) {
      for (int64_t k = 0; k < n2; ++k) {
        const int64_t e = (i * n1 + j) * n2 + k;
        EXPECT_EQ(res[e], av[k] * xv[e] + cv[i]);
      }
    }
  }
}

// A lone elementwise op with a scalar constant operand, a lone broadcast, and int32/bool math.
TEST(CompileTest, LoneOpsAndDtypes) {
  ir::Function fn("mixed");
  ir::Value* x = fn.body().add_argument(i32({6}), "x");
  ir::Value* y = fn.body().add_argument(i32({6}), "y");
  ir::Builder b(&fn.body());
  ir::Value* three = b.scalar_constant(DType::kInt32, 3);
  ir::Value* sum = op(b, OpKind::kAdd, {x, three});
  ir::Value* q = op(b, OpKind::kDiv, {sum, y});
  ir::Value* neg = op(b, OpKind::kNeg, {op(b, OpKind::kAbs, {q})});
  ir::Value* gt = op(b, OpKind::kGreater, {x, y});
  ir::Value* sel = op(b, OpKind::kSelect, {gt, op(b, OpKind::kSquare, {x}), neg});
  ir::Value* row = b.constant(ir::Literal::from_doubles(i32({2, 1}), {100, 200}));
  ir::Value* wide = op(b, OpKind::kBroadcast, {row}, {{"shape", std::vector<int64_t>{2, 3}}});
  b.create_return({sel, gt, wide});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  const int32_t xv[6] = {1, -7, 5, 2147483647 - 3, -9, 4};
  const int32_t yv[6] = {2, 2, -3, 5, -2, 4};
  int32_t r0[6];
  bool r1[6];
  int32_t r2[6];
  const void* args[] = {xv, yv};
  void* results[] = {r0, r1, r2};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int i = 0; i < 6; ++i) {
    const int32_t qv = (xv[i] + 3) / yv[i];
    const auto wrapped_square =
        static_cast<int32_t>(static_cast<uint32_t>(xv[i]) * static_cast<uint32_t>(xv[i]));
    const int32_t expect = xv[i] > yv[i] ? wrapped_square : -std::abs(qv);
    EXPECT_EQ(r0[i], expect) << i;
    EXPECT_EQ(r1[i], xv[i] > yv[i]) << i;
  }
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r2[i], i < 3 ? 100 : 200);

  // Integer division by zero fails like the eager kernel.
  const int32_t zeros[6] = {1, 1, 0, 1, 1, 1};
  const void* bad_args[] = {xv, zeros};
  absl::Status st = exe->run(bad_args, results);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("division by zero"), absl::string_view::npos) << st;
}

// Results that are arguments, consts, or the same value twice are copied; others are written
// in place.
TEST(CompileTest, ResultCopies) {
  ir::Function fn("copies");
  ir::Value* x = fn.body().add_argument(f32({3}), "x");
  ir::Builder b(&fn.body());
  ir::Value* c = b.constant(ir::Literal::from_doubles(f32({2}), {1.5, -2.5}));
  ir::Value* e = op(b, OpKind::kExp, {x});
  b.create_return({x, c, e, e});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  EXPECT_EQ(exe->workspace_bytes(), 0);
  const float xv[3] = {0, 1, -1};
  float r0[3], r1[2], r2[3], r3[3];
  const void* args[] = {xv};
  void* results[] = {r0, r1, r2, r3};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r0[i], xv[i]);
    EXPECT_NEAR(r2[i], std::exp(xv[i]), 1e-6);
    EXPECT_EQ(r3[i], r2[i]);
  }
  EXPECT_EQ(r1[0], 1.5f);
  EXPECT_EQ(r1[1], -2.5f);
}

// Several ops with intermediates in the workspace, and a non-scalar constant in a fusion.
TEST(CompileTest, WorkspaceAndConstInFusion) {
  ir::Function fn("chain");
  ir::Value* x = fn.body().add_argument(f32({2, 3}), "x");
  ir::Builder b(&fn.body());
  ir::Value* f1 = fusion(b, {x}, f32({2, 3}), [](ir::Builder& rb, std::vector<ir::Value*> v) {
    ir::Value* k = rb.constant(ir::Literal::from_doubles(f32({3}), {1, 2, 3}));
    ir::Value* kb = op(rb, OpKind::kBroadcast, {k}, {{"shape", std::vector<int64_t>{2, 3}}});
    return op(rb, OpKind::kMul, {v[0], kb});
  });
  ir::Value* f2 = op(b, OpKind::kAdd, {f1, f1});
  ir::Value* f3 = op(b, OpKind::kNeg, {f2});
  b.create_return({f3});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  EXPECT_EQ(exe->workspace_bytes(), 128);  // f1 and f2, one 64-byte slot each
  const float xv[6] = {1, 2, 3, 4, 5, 6};
  float r[6];
  const void* args[] = {xv};
  void* results[] = {r};
  for (int rep = 0; rep < 3; ++rep) {
    ASSERT_TRUE(exe->run(args, results).ok());
    for (int i = 0; i < 6; ++i) EXPECT_EQ(r[i], -2 * xv[i] * (i % 3 + 1));
  }
}

// A large returned argument is copied with a call to the C library's memcpy, which the JIT
// resolves from the process.
TEST(CompileTest, LargeCopyLinksMemcpy) {
  const int64_t n = 1 << 18;
  ir::Function fn("identity");
  ir::Value* x = fn.body().add_argument(f32({n}), "x");
  ir::Builder b(&fn.body());
  b.create_return({x});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  EXPECT_NE(exe->llvm_ir().find("@llvm.memcpy"), std::string::npos);
  auto xv = random_floats(n, -1, 1, 14);
  std::vector<float> r(n);
  const void* args[] = {xv.data()};
  void* results[] = {r.data()};
  ASSERT_TRUE(exe->run(args, results).ok());
  EXPECT_EQ(r, xv);
}

TEST(CompileTest, ZeroElements) {
  auto fn = huber_function(Shape{0, 3});
  auto exe = compile_or_die(*fn);
  ASSERT_TRUE(exe);
  const void* args[] = {nullptr, nullptr};
  void* results[] = {nullptr};
  EXPECT_TRUE(exe->run(args, results).ok());
}

// A fusion with two results, one returned twice and one only used by a later op.
TEST(CompileTest, MultiResultFusion) {
  ir::Function fn("two");
  ir::Value* x = fn.body().add_argument(f32({5, 3}), "x");
  ir::Value* y = fn.body().add_argument(f32({5, 3}), "y");
  ir::Builder b(&fn.body());
  ir::Op* f = b.create_op(OpKind::kFusion, {x, y}, {f32({5, 3}), f32({5, 3})},
                          {{"kind", std::string("loop")}});
  ir::Block& region = f->create_region();
  ir::Value* a0 = region.add_argument(f32({5, 3}));
  ir::Value* a1 = region.add_argument(f32({5, 3}));
  ir::Builder rb(&region);
  ir::Value* sum = op(rb, OpKind::kAdd, {a0, a1});
  ir::Value* diff = op(rb, OpKind::kSub, {a0, a1});
  rb.create_op(OpKind::kYield, {sum, diff}, {});
  ir::Value* prod = op(b, OpKind::kMul, {f->result(0), f->result(1)});
  b.create_return({prod, f->result(0), f->result(0)});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  EXPECT_EQ(exe->workspace_bytes(), 64);  // result #1 of the fusion
  auto xv = random_floats(15, -1, 1, 12), yv = random_floats(15, -1, 1, 13);
  float r0[15], r1[15], r2[15];
  const void* args[] = {xv.data(), yv.data()};
  void* results[] = {r0, r1, r2};
  ASSERT_TRUE(exe->run(args, results).ok());
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(r0[i], (xv[i] + yv[i]) * (xv[i] - yv[i]));
    EXPECT_EQ(r1[i], xv[i] + yv[i]);
    EXPECT_EQ(r2[i], xv[i] + yv[i]);
  }
}

TEST(CompileTest, ReduceSumThroughKernelCall) {
  ir::Function fn("rsum");
  ir::Value* x = fn.body().add_argument(f32({3, 4}), "x");
  ir::Builder b(&fn.body());
  ir::Value* sq = op(b, OpKind::kSquare, {x});
  ir::Value* s =
      op(b, OpKind::kReduceSum, {sq}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", true}});
  ir::Value* t = op(b, OpKind::kReduceMean, {x});
  b.create_return({s, t});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  std::vector<float> xv = random_floats(12, -2, 2, 8);
  float rs[3], rm;
  const void* args[] = {xv.data()};
  void* results[] = {rs, &rm};
  absl::Status st = exe->run(args, results);
  ASSERT_TRUE(st.ok()) << st;
  double total = 0;
  for (int i = 0; i < 3; ++i) {
    double acc = 0;
    for (int j = 0; j < 4; ++j) {
      acc += xv[i * 4 + j] * xv[i * 4 + j];
      total += xv[i * 4 + j];
    }
    EXPECT_NEAR(rs[i], acc, 1e-5);
  }
  EXPECT_NEAR(rm, total / 12, 1e-5);
}

TEST(CompileTest, MatmulThroughKernelCall) {
  const int m = 5, k = 7, n = 3;
  ir::Function fn("mm");
  ir::Value* a = fn.body().add_argument(f32({m, k}), "a");
  ir::Value* w = fn.body().add_argument(f32({k, n}), "w");
  ir::Value* bias = fn.body().add_argument(f32({n}), "bias");
  ir::Builder b(&fn.body());
  ir::Value* mm = op(b, OpKind::kMatmul, {a, w});
  ir::Value* out =
      fusion(b, {mm, bias}, f32({m, n}), [&](ir::Builder& rb, std::vector<ir::Value*> v) {
        ir::Value* bb = op(rb, OpKind::kBroadcast, {v[1]}, {{"shape", std::vector<int64_t>{m, n}}});
        return op(rb, OpKind::kAdd, {v[0], bb});
      });
  b.create_return({out});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  auto av = random_floats(m * k, -1, 1, 9), wv = random_floats(k * n, -1, 1, 10),
       bv = random_floats(n, -1, 1, 11);
  std::vector<float> r(m * n);
  const void* args[] = {av.data(), wv.data(), bv.data()};
  void* results[] = {r.data()};
  absl::Status st = exe->run(args, results);
  ASSERT_TRUE(st.ok()) << st;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double acc = bv[j];
      for (int t = 0; t < k; ++t) acc += av[i * k + t] * wv[t * n + j];
      EXPECT_NEAR(r[i * n + j], acc, 1e-5) << i << "," << j;
    }
  }
}

TEST(CompileTest, RunErrors) {
  auto fn = huber_function(Shape{8});
  auto exe = compile_or_die(*fn);
  ASSERT_TRUE(exe);
  std::vector<float> y(8), out(8);
  const void* one_arg[] = {y.data()};
  void* results[] = {out.data()};
  absl::Status st = exe->run(one_arg, results);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("expected 2 argument(s) but got 1"), absl::string_view::npos) << st;
  const void* null_arg[] = {y.data(), nullptr};
  st = exe->run(null_arg, results);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("argument #1"), absl::string_view::npos) << st;
}

// A kernel that fails at run time: the entry returns its code and run() its message.
TEST(CompileTest, KernelErrorPropagates) {
  ir::Function fn("bad_reduce");
  ir::Value* x = fn.body().add_argument(f32({2, 2}), "x");
  ir::Builder b(&fn.body());
  // Built without inference: the axes attribute is out of range for the kernel.
  ir::Op* r = b.create_op(OpKind::kReduceSum, {x}, {f32({2})}, {{"axes", std::vector<int64_t>{5}}});
  b.create_return({r->result()});
  auto exe = compile_or_die(fn);
  ASSERT_TRUE(exe);
  float xv[4] = {1, 2, 3, 4}, out[2];
  const void* args[] = {xv};
  void* results[] = {out};
  absl::Status st = exe->run(args, results);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("reduce_sum"), absl::string_view::npos) << st;
}

TEST(CompileTest, UnknownDimsAreBoundPerCall) {
  ir::Function fn("dynamic");
  ir::Value* x = fn.body().add_argument(f32({Shape::kUnknownDim}), "x");
  ir::Builder b(&fn.body());
  b.create_return({op(b, OpKind::kNeg, {x})});
  auto exe = compile(fn);
  ASSERT_TRUE(exe.ok()) << exe.status();
  ASSERT_TRUE((*exe)->polymorphic());
  std::vector<float> in = {1, -2, 3}, out(3);
  const void* args[] = {in.data()};
  void* results[] = {out.data()};
  // Without shapes the code cannot run.
  EXPECT_EQ((*exe)->run(args, results).code(), absl::StatusCode::kFailedPrecondition);
  const Shape shape{3};
  auto binding = (*exe)->bind(std::span<const Shape>(&shape, 1));
  ASSERT_TRUE(binding.ok()) << binding.status();
  EXPECT_EQ((*binding)->result_shapes, std::vector<Shape>{Shape{3}});
  ASSERT_TRUE((*exe)->run_bound(args, results, **binding).ok());
  EXPECT_EQ(out, (std::vector<float>{-1, 2, -3}));
  const Shape wrong{2, 2};
  auto bad = (*exe)->bind(std::span<const Shape>(&wrong, 1));
  EXPECT_EQ(bad.status().message(), "@dynamic: argument 0 has shape [2, 2] but its type is f32[?]");
}

TEST(CompileTest, ConcurrentCompileAndRun) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      for (int rep = 0; rep < 3; ++rep) {
        const int64_t n = 100 + 37 * t + rep;
        auto fn = huber_function(Shape{n});
        auto exe = compile(*fn);
        if (!exe.ok()) {
          ++failures;
          continue;
        }
        std::vector<float> y = random_floats(n, -3, 3, t), p = random_floats(n, -3, 3, rep);
        std::vector<float> out(n);
        const void* args[] = {y.data(), p.data()};
        void* results[] = {out.data()};
        if (!(*exe)->run(args, results).ok()) ++failures;
        for (int64_t i = 0; i < n; ++i) {
          if (out[i] != huber_reference(y[i], p[i])) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(CompileTest, ManyCompilesAreFreed) {
  // Each Executable removes its code from the JIT; symbols stay unique.
  for (int i = 0; i < 20; ++i) {
    auto fn = huber_function(Shape{16});
    auto exe = compile_or_die(*fn);
    ASSERT_TRUE(exe);
  }
}

}  // namespace
}  // namespace kiln::compiler
