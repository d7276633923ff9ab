// kiln — nested structures (vectors, arrays, tuples, maps, optionals, KILN_FIELDS structs) as
// kiln::function arguments and results: results equal eager ones, the structure is part of
// the signature, and retrace reasons name the path that changed.
#include "compiler/nest.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "compiler/function.h"
#include "runtime/ops.h"
#include "runtime/variable.h"
#include "support/error.h"

namespace kiln {
namespace {

struct Dense {
  Tensor w, b;
  int units = 0;
  KILN_FIELDS(w, b, units)
};

struct Pair {
  Tensor first, second;
  KILN_FIELDS(first, second)
};

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST(NestTest, FlattenListsLeavesInOrderAndEncodesStructure) {
  std::map<std::string, std::vector<Tensor>> m{{"b", {constant(3.f)}},
                                               {"a", {constant(1.f), constant(2.f)}}};
  std::vector<Tensor> leaves;
  std::string s1, s2;
  nest::flatten(m, leaves, s1);
  ASSERT_EQ(leaves.size(), 3u);
  EXPECT_EQ(leaves[0].to_vector<float>(), std::vector<float>{1.f});  // map order: "a" first
  EXPECT_EQ(leaves[2].to_vector<float>(), std::vector<float>{3.f});
  m["b"].push_back(constant(4.f));
  nest::flatten(m, leaves, s2);
  EXPECT_NE(s1, s2);  // a list length is part of the structure
}

TEST(NestTest, RebuildAndUnflattenRoundTrip) {
  const std::tuple<std::vector<Tensor>, std::optional<Tensor>, Pair> v{
      {constant(1.f), constant(2.f)}, std::nullopt, Pair{constant(3.f), constant(4.f)}};
  std::vector<Tensor> leaves;
  std::string structure;
  nest::flatten(v, leaves, structure);
  ASSERT_EQ(leaves.size(), 4u);
  std::vector<Tensor> doubled;
  for (const Tensor& t : leaves) doubled.push_back(t * 2.f);
  size_t next = 0;
  auto r = nest::rebuild(v, doubled, next);
  EXPECT_EQ(next, 4u);
  EXPECT_EQ(values(std::get<0>(r)[1]), std::vector<float>{4.f});
  EXPECT_FALSE(std::get<1>(r).has_value());
  EXPECT_EQ(values(std::get<2>(r).second), std::vector<float>{8.f});
  const char* s = structure.data();
  next = 0;
  auto u = nest::unflatten<std::tuple<std::vector<Tensor>, std::optional<Tensor>, Pair>>(
      s, std::span<Tensor>(doubled), next);
  EXPECT_EQ(s, structure.data() + structure.size());
  EXPECT_EQ(values(std::get<2>(u).first), std::vector<float>{6.f});
}

TEST(NestTest, VectorAndMapArgumentsMatchEager) {
  auto fn = [](const std::vector<Tensor>& xs, const std::map<std::string, Tensor>& p) {
    Tensor acc = p.at("bias");
    for (const Tensor& x : xs) acc = acc + x * p.at("scale");
    return acc;
  };
  auto f = function(fn, {.name = "weighted"});
  std::vector<Tensor> xs{constant({1.f, 2.f}), constant({3.f, 4.f})};
  std::map<std::string, Tensor> p{{"bias", constant({0.5f, 0.5f})}, {"scale", constant(2.f)}};
  EXPECT_EQ(values(f(xs, p)), values(fn(xs, p)));
  EXPECT_EQ(values(f(xs, p)), (std::vector<float>{8.5f, 12.5f}));
  EXPECT_EQ(f.trace_count(), 1);
  xs.push_back(constant({1.f, 1.f}));
  EXPECT_EQ(values(f(xs, p)), values(fn(xs, p)));
  EXPECT_EQ(f.trace_count(), 2);
  const auto log = f.trace_log();
  EXPECT_EQ(log[0].signature, "([f32[2], f32[2]], {'bias': f32[2], 'scale': f32[]})");
  EXPECT_EQ(log[1].reason, "arg 0: list length 2 -> 3");
}

TEST(NestTest, RetraceReasonNamesTheNestedPath) {
  auto f = function(
      [](const std::map<std::string, std::vector<Tensor>>& m) { return m.at("w")[1] * 2.f; },
      {.name = "pick"});
  std::map<std::string, std::vector<Tensor>> m{{"w", {constant(1.f), constant({1.f, 2.f})}}};
  f(m);
  m["w"][1] = constant({1.f, 2.f, 3.f});
  EXPECT_EQ(values(f(m)), (std::vector<float>{2.f, 4.f, 6.f}));
  m["v"] = {};
  f(m);
  m["v"] = {constant(0)};
  f(m);
  const auto log = f.trace_log();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[1].reason, "arg 0['w'][1]: shape [2] -> [3]");
  EXPECT_EQ(log[2].reason, "arg 0: map keys ['w'] -> ['v', 'w']");
  EXPECT_EQ(log[3].reason, "arg 0['v']: list length 0 -> 1");
}

TEST(NestTest, StaticLeavesInsideStructuresAreKeyedByValue) {
  auto f = function(
      [](const std::pair<Tensor, std::vector<int>>& a) {
        Tensor out = a.first;
        for (int k : a.second) out = out + static_cast<float>(k);
        return out;
      },
      {.name = "adds"});
  const Tensor x = constant({1.f});
  EXPECT_EQ(values(f(std::pair{x, std::vector<int>{1, 2}})), std::vector<float>{4.f});
  EXPECT_EQ(values(f(std::pair{x, std::vector<int>{1, 2}})), std::vector<float>{4.f});
  EXPECT_EQ(f.trace_count(), 1);
  EXPECT_EQ(values(f(std::pair{x, std::vector<int>{1, 5}})), std::vector<float>{7.f});
  EXPECT_EQ(f.trace_count(), 2);
  EXPECT_EQ(f.trace_log()[1].reason, "arg 0[1][1]: value 2 -> 5");
  EXPECT_EQ(f.trace_log()[1].signature, "((f32[1], [1, 5]))");
}

TEST(NestTest, StructArgumentsAndResults) {
  auto layer = [](const Dense& d, const Tensor& x) {
    Pair out;
    out.first = matmul(x, d.w) + d.b;
    out.second = out.first * static_cast<float>(d.units);
    return out;
  };
  auto f = function(layer, {.name = "dense"});
  const Dense d{constant({{1.f, 2.f}, {3.f, 4.f}}), constant({0.5f, -0.5f}), 2};
  const Tensor x = constant({{1.f, 1.f}});
  const Pair got = f(d, x);
  const Pair want = layer(d, x);
  EXPECT_EQ(values(got.first), values(want.first));
  EXPECT_EQ(values(got.second), values(want.second));
  Dense d3{d.w, d.b, 3};
  f(d3, x);
  EXPECT_EQ(f.trace_count(), 2);
  const auto log = f.trace_log();
  EXPECT_NE(log[0].signature.find("{.w = f32[2,2], .b = f32[2], .units = 2}"), std::string::npos)
      << log[0].signature;
  EXPECT_EQ(log[1].reason, "arg 0.units: value 2 -> 3");
}

TEST(NestTest, NestedResultsRebuildTheirStructure) {
  auto fn = [](const Tensor& x) {
    std::map<std::string, std::vector<Tensor>> out;
    out["double"] = {x * 2.f, x * 4.f};
    out["neg"] = {-x};
    return std::make_tuple(out, std::array<Tensor, 2>{x, x + 1.f}, std::optional<Tensor>{});
  };
  auto f = function(fn);
  const auto [m, arr, opt] = f(constant({1.f, 2.f}));
  ASSERT_EQ(m.size(), 2u);
  ASSERT_EQ(m.at("double").size(), 2u);
  EXPECT_EQ(values(m.at("double")[1]), (std::vector<float>{4.f, 8.f}));
  EXPECT_EQ(values(m.at("neg")[0]), (std::vector<float>{-1.f, -2.f}));
  EXPECT_EQ(values(arr[1]), (std::vector<float>{2.f, 3.f}));
  EXPECT_FALSE(opt.has_value());
  f(constant({1.f, 2.f}));  // a cache hit rebuilds the same structure
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(NestTest, OptionalArgumentPresenceIsPartOfTheSignature) {
  auto f = function([](const Tensor& x, const std::optional<Tensor>& bias) {
    return bias ? x + *bias : x * 1.f;
  });
  const Tensor x = constant({1.f, 2.f});
  EXPECT_EQ(values(f(x, std::optional<Tensor>{})), (std::vector<float>{1.f, 2.f}));
  EXPECT_EQ(values(f(x, std::optional<Tensor>{constant(1.f)})), (std::vector<float>{2.f, 3.f}));
  EXPECT_EQ(f.trace_count(), 2);
  EXPECT_EQ(f.trace_log()[1].reason, "arg 1: optional empty -> set");
}

TEST(NestTest, VariablesInsideStructuresReadAsTensors) {
  std::vector<Variable> vars;
  vars.emplace_back(constant({1.f, 2.f}));
  vars.emplace_back(constant({3.f, 4.f}));
  // Traced with a std::vector<Tensor>: the Variables' values are read at call time.
  auto f = function([](const auto& xs) { return xs[0] + xs[1]; });
  EXPECT_EQ(values(f(vars)), (std::vector<float>{4.f, 6.f}));
  vars[0].assign(constant({10.f, 20.f}));
  EXPECT_EQ(values(f(vars)), (std::vector<float>{13.f, 24.f}));
  EXPECT_EQ(f.trace_count(), 1);
}

TEST(NestTest, TupleOfTensorsIsNotTwoTensorArguments) {
  auto f = function([](const auto& a, const auto&... rest) {
    if constexpr (sizeof...(rest) == 0) {
      return std::get<0>(a) - std::get<1>(a);
    } else {
      return (a + ... + rest);
    }
  });
  const Tensor x = constant({1.f}), y = constant({2.f});
  EXPECT_EQ(values(f(x, y)), std::vector<float>{3.f});
  EXPECT_EQ(values(f(std::tuple<Tensor, Tensor>{x, y})), std::vector<float>{-1.f});
  EXPECT_EQ(values(f(x, y)), std::vector<float>{3.f});
  EXPECT_EQ(f.trace_count(), 2);
  EXPECT_EQ(f.trace_log()[1].reason, "argument count 2 -> 1");
}

TEST(NestTest, RetracePolicyErrorNamesTheNestedPath) {
  auto f = function([](const std::vector<Tensor>& xs) { return xs[0] * 1.f; },
                    {.name = "strict", .on_retrace = RetracePolicy::kError});
  f(std::vector<Tensor>{constant({1.f})});
  try {
    f(std::vector<Tensor>{constant({1.f}), constant({2.f})});
    FAIL() << "no error";
  } catch (const FailedPreconditionError& e) {
    EXPECT_EQ(std::string(e.what()),
              "strict: unexpected retrace for ([f32[1], f32[1]]) (arg 0: list length 1 -> 2); "
              "this function's RetracePolicy is kError");
  }
}

}  // namespace
}  // namespace kiln
