// kiln — kiln_rt_kernel_call, the C entry point compiled code uses for eager kernels.
#include "runtime/kernel_call.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

namespace kiln::kernels {
namespace {

using ir::OpKind;
using ir::Type;

TEST(KernelCall, RunsTheKernel) {
  KernelCall call{OpKind::kAdd,
                  {},
                  {Type{float32, Shape{2, 3}}, Type{float32, Shape{3}}},
                  Type{float32, Shape{2, 3}}};
  std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {10, 20, 30}, out(6);
  const void* inputs[] = {a.data(), b.data()};
  ASSERT_EQ(kiln_rt_kernel_call(&call, inputs, out.data()), 0);
  EXPECT_EQ(out, (std::vector<float>{11, 22, 33, 14, 25, 36}));
}

TEST(KernelCall, ReductionWithAttributes) {
  KernelCall call{OpKind::kReduceSum,
                  {{"axes", std::vector<int64_t>{0}}, {"keepdims", true}},
                  {Type{int32, Shape{2, 2}}},
                  Type{int32, Shape{1, 2}}};
  std::vector<int32_t> x = {1, 2, 3, 4}, out(2);
  const void* inputs[] = {x.data()};
  ASSERT_EQ(kiln_rt_kernel_call(&call, inputs, out.data()), 0);
  EXPECT_EQ(out, (std::vector<int32_t>{4, 6}));
}

TEST(KernelCall, ErrorsAreReportedNotThrown) {
  KernelCall call{
      OpKind::kDiv, {}, {Type{int32, Shape{2}}, Type{int32, Shape{2}}}, Type{int32, Shape{2}}};
  std::vector<int32_t> a = {1, 2}, b = {1, 0}, out(2);
  const void* inputs[] = {a.data(), b.data()};
  const int32_t rc = kiln_rt_kernel_call(&call, inputs, out.data());
  EXPECT_EQ(rc, static_cast<int32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(std::string(kiln_rt_last_error()), "div: Integer division by zero");

  KernelCall fusion{OpKind::kFusion, {}, {}, Type{float32, Shape{}}};
  float f = 0;
  EXPECT_NE(kiln_rt_kernel_call(&fusion, nullptr, &f), 0);
  EXPECT_EQ(std::string(kiln_rt_last_error()), "fusion: op has no eager kernel");

  EXPECT_NE(kiln_rt_kernel_call(nullptr, nullptr, &f), 0);
  EXPECT_NE(std::string(kiln_rt_last_error()), "");
}

TEST(KernelCall, LastErrorIsPerThread) {
  KernelCall call{
      OpKind::kDiv, {}, {Type{int32, Shape{}}, Type{int32, Shape{}}}, Type{int32, Shape{}}};
  int32_t a = 1, b = 0, out = 0;
  const void* inputs[] = {&a, &b};
  ASSERT_NE(kiln_rt_kernel_call(&call, inputs, &out), 0);
  std::string other;
  std::thread([&] { other = kiln_rt_last_error(); }).join();
  EXPECT_EQ(other, "");
  EXPECT_EQ(std::string(kiln_rt_last_error()), "div: Integer division by zero");
}

}  // namespace
}  // namespace kiln::kernels
