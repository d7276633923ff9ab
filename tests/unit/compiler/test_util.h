// kiln — helpers for compiler tests: building IR (fusions included) and running Executables.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "gtest/gtest.h"
#include "ir/builder.h"
#include "ir/function.h"
#include "runtime/gradient_tape.h"
#include "runtime/math_ops.h"
#include "runtime/numerics.h"
#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "runtime/variable.h"

namespace kiln::compiler::testing {

// config::check_numerics(true) for one scope.
struct CheckNumerics {
  CheckNumerics() { config::check_numerics(true); }
  ~CheckNumerics() { config::check_numerics(false); }
};

inline ir::Type f32(std::initializer_list<int64_t> dims) { return {DType::kFloat32, Shape(dims)}; }
inline ir::Type i32(std::initializer_list<int64_t> dims) { return {DType::kInt32, Shape(dims)}; }
inline ir::Type boolean(std::initializer_list<int64_t> dims) { return {DType::kBool, Shape(dims)}; }

// Builder::create that fails the test on error.
inline ir::Value* op(ir::Builder& b, ir::OpKind kind, std::vector<ir::Value*> operands,
                     ir::Attrs attrs = {}) {
  auto v = b.create(kind, std::move(operands), std::move(attrs));
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : nullptr;
}

// A fusion op with one result of `result_type`; `body` fills the region (given its arguments)
// and returns the value to yield.
template <typename Body>
ir::Value* fusion(ir::Builder& b, std::vector<ir::Value*> operands, const ir::Type& result_type,
                  Body body) {
  ir::Op* f =
      b.create_op(ir::OpKind::kFusion, operands, {result_type}, {{"kind", std::string("loop")}});
  ir::Block& region = f->create_region();
  std::vector<ir::Value*> args;
  for (ir::Value* v : operands) args.push_back(region.add_argument(v->type()));
  ir::Builder rb(&region);
  ir::Value* y = body(rb, args);
  rb.create_op(ir::OpKind::kYield, {y}, {});
  return f->result();
}

// The Huber loss of docs/ir-format.md on `shape`, as one fusion (`fused`) or as lone ops.
inline std::unique_ptr<ir::Function> huber_function(Shape shape, bool fused = true) {
  auto fn = std::make_unique<ir::Function>("huber");
  ir::Block& body = fn->body();
  ir::Value* y = body.add_argument({DType::kFloat32, shape}, "y");
  ir::Value* p = body.add_argument({DType::kFloat32, shape}, "p");
  ir::Builder b(&body);
  auto huber = [](ir::Builder& rb, ir::Value* yv, ir::Value* pv) {
    ir::Value* d = op(rb, ir::OpKind::kSub, {yv, pv});
    ir::Value* a = op(rb, ir::OpKind::kAbs, {d});
    ir::Value* one = rb.scalar_constant(DType::kFloat32, 1.0);
    ir::Value* small = op(rb, ir::OpKind::kLess, {a, one});
    ir::Value* sq = op(rb, ir::OpKind::kSquare, {d});
    ir::Value* half = rb.scalar_constant(DType::kFloat32, 0.5);
    ir::Value* quad = op(rb, ir::OpKind::kMul, {sq, half});
    ir::Value* lin = op(rb, ir::OpKind::kSub, {a, half});
    return op(rb, ir::OpKind::kSelect, {small, quad, lin});
  };
  ir::Value* out;
  if (fused) {
    out = fusion(
        b, {y, p}, {DType::kFloat32, shape},
        [&](ir::Builder& rb, std::vector<ir::Value*> args) { return huber(rb, args[0], args[1]); });
  } else {
    out = huber(b, y, p);
  }
  b.create_return({out});
  return fn;
}

inline float huber_reference(float y, float p) {
  const float d = y - p;
  const float a = std::fabs(d);
  return a < 1.0f ? d * d * 0.5f : a - 0.5f;
}

inline std::vector<float> random_floats(int64_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

// A float32 tensor of `shape` with N(0, stddev^2) elements from a seeded generator.
inline Tensor random_normal_tensor(Shape shape, unsigned seed, float stddev) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(shape.num_elements());
  for (float& x : v) x = dist(gen);
  return constant(v, shape);
}

// Compiles `fn`, failing the test on error.
inline std::unique_ptr<Executable> compile_or_die(const ir::Function& fn,
                                                  const CompileOptions& options = {}) {
  auto exe = compile(fn, options);
  EXPECT_TRUE(exe.ok()) << exe.status();
  return exe.ok() ? std::move(*exe) : nullptr;
}

// Compiled and eager agree to float32 rounding: each element within `rel_tol` relative
// (absolute below 1; 0 = bit for bit), NaN and +-Inf where eager has them; bool tensors exactly.
inline void expect_close(const Tensor& eager, const Tensor& compiled, float rel_tol = 0) {
  ASSERT_EQ(eager.dtype(), compiled.dtype());
  ASSERT_EQ(eager.shape(), compiled.shape());
  if (eager.dtype() == bool_) {
    EXPECT_EQ(eager.to_vector<bool>(), compiled.to_vector<bool>());
    return;
  }
  auto a = eager.to_vector<float>(), b = compiled.to_vector<float>();
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) {
      EXPECT_TRUE(std::isnan(b[i])) << "element " << i << ": " << b[i];
    } else if (std::isinf(a[i])) {
      EXPECT_EQ(a[i], b[i]) << "element " << i;
    } else {
      ASSERT_NEAR(a[i], b[i], rel_tol * std::max(1.f, std::fabs(a[i]))) << "element " << i;
    }
  }
}

// The README's training step on Variables `w` [5, 1] and `b` [1]: mean squared error, tape, SGD
// update; returns the loss.
inline auto readme_train_step(Variable& w, Variable& b) {
  return [&w, &b](const Tensor& x, const Tensor& y) {
    GradientTape tape;
    Tensor loss = reduce_mean(square(matmul(x, w) + b - y));
    auto grads = tape.gradient(loss, {w, b});
    w.assign_sub(*grads[0] * 0.01f);
    b.assign_sub(*grads[1] * 0.01f);
    return loss;
  };
}

}  // namespace kiln::compiler::testing
