// kiln — kiln::function under concurrent use: many threads, mixed signatures, a small cache that
// evicts while calls run, readers of the trace log and the counters, and Variables. Runs in the
// normal suite; `make tsan` also runs it under ThreadSanitizer.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "compiler/function.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"
#include "runtime/variable.h"

namespace kiln {
namespace {

constexpr int kThreads = 8;

// The traced body; also called directly for the eager reference.
Tensor body(const Tensor& x, int c) { return x * c + square(x) - 1; }

// One call shape of the stress test: a Tensor argument and the static int.
struct Call {
  Tensor x;
  int c;
};

// Six signatures over three dtypes, four shapes and two static values. Values are small
// binary fractions, so compiled and eager results agree exactly.
std::vector<Call> make_calls() {
  return {
      {constant(std::vector<float>{0.5f, -1.25f, 2.f}, Shape{3}), 1},
      {constant(std::vector<float>{0.5f, -1.25f, 2.f, 3.5f, -0.75f}, Shape{5}), 1},
      {constant(std::vector<float>{0.5f, -1.25f, 2.f}, Shape{3}), 2},
      {constant(std::vector<int32_t>{1, -2, 3, 7}, Shape{4}), 1},
      {constant(std::vector<double>{0.25, 1.5, -3.0, 4.0, -0.5, 6.0}, Shape{2, 3}), 2},
      {constant(std::vector<int32_t>{1, -2, 3, 7}, Shape{2, 2}), 3},
  };
}

bool same(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  switch (a.dtype()) {
    case DType::kFloat32:
      return a.to_vector<float>() == b.to_vector<float>();
    case DType::kFloat64:
      return a.to_vector<double>() == b.to_vector<double>();
    case DType::kInt32:
      return a.to_vector<int32_t>() == b.to_vector<int32_t>();
    default:
      return false;
  }
}

TEST(FunctionStressTest, SimultaneousFirstCallsTraceOnce) {
  auto f = function(body, {.name = "simultaneous"});
  const Tensor x = constant(std::vector<float>{1.5f, -2.f}, Shape{2});
  const Tensor expected = body(x, 3);
  std::latch start(kThreads);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      if (!same(f(x, 3), expected)) ++wrong;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(f.trace_count(), 1);
  const CacheStats s = f.cache_stats();
  EXPECT_EQ(s.calls, kThreads);
  EXPECT_EQ(s.hits, kThreads - 1);
}

TEST(FunctionStressTest, MixedSignaturesWithEvictionAndReaders) {
  constexpr int kMaxEntries = 4;
  auto f = function(body, {.name = "stress",
                           .max_cache_entries = kMaxEntries,
                           .disk_cache = false,
                           .on_retrace = RetracePolicy::kAllow});
  const std::vector<Call> calls = make_calls();
  std::vector<Tensor> expected;
  for (const Call& c : calls) expected.push_back(body(c.x, c.c));

  constexpr int kIters = 24;
  std::atomic<int> wrong{0}, running{kThreads}, reader_errors{0};
  std::latch start(kThreads + 2);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int i = 0; i < kIters; ++i) {
        // Mostly the three hot signatures; every fourth call one of the cold ones, which
        // compete for the last cache slot and push hot ones out now and then.
        const size_t k = i % 4 == 3 ? 3 + (t + i) % 3 : (t + i) % 3;
        if (!same(f(calls[k].x, calls[k].c), expected[k])) ++wrong;
      }
      --running;
    });
  }
  // Readers: the log only grows and stays numbered; the counters stay consistent.
  threads.emplace_back([&] {
    start.arrive_and_wait();
    size_t seen = 0;
    while (running > 0) {
      const std::vector<TraceRecord> log = f.trace_log();
      if (log.size() < seen) ++reader_errors;
      for (size_t i = 0; i < log.size(); ++i) {
        if (log[i].index != static_cast<int>(i) || log[i].signature.empty()) ++reader_errors;
      }
      seen = log.size();
    }
  });
  threads.emplace_back([&] {
    start.arrive_and_wait();
    int64_t last_calls = 0;
    while (running > 0) {
      const CacheStats s = f.cache_stats();
      if (s.calls < last_calls || s.hits > s.calls || s.traces > s.calls) ++reader_errors;
      // Entries still being built are not evicted: at most one per calling thread extra.
      if (s.entries > kMaxEntries + kThreads) ++reader_errors;
      last_calls = s.calls;
    }
  });
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(reader_errors, 0);
  const CacheStats s = f.cache_stats();
  const std::vector<TraceRecord> log = f.trace_log();
  EXPECT_EQ(s.calls, kThreads * kIters);
  EXPECT_EQ(s.hits + s.traces, s.calls);
  EXPECT_EQ(s.traces, f.trace_count());
  EXPECT_EQ(static_cast<int64_t>(log.size()), s.traces);
  // Every trace made an entry that is either cached now or was evicted.
  EXPECT_EQ(s.traces, s.entries + s.evictions);
  EXPECT_LE(s.entries, kMaxEntries);
  // Six signatures through four slots: eviction did happen.
  EXPECT_GE(s.evictions, static_cast<int64_t>(calls.size()) - kMaxEntries);
  std::map<std::string, int> per_signature;
  for (const TraceRecord& r : log) ++per_signature[r.signature];
  EXPECT_EQ(per_signature.size(), calls.size());
  for (const auto& [sig, n] : per_signature) {
    // A signature traces again only after an eviction dropped it.
    EXPECT_LE(n, 1 + s.evictions) << sig;
    if (s.evictions == 0) {
      EXPECT_EQ(n, 1) << sig;
    }
  }
}

TEST(FunctionStressTest, VariablesReadAndUpdatedFromManyThreads) {
  // `scale` is shared and only read; each thread updates its own accumulator, picked by the
  // static argument (so each thread has its own signature and captured Variable).
  Variable scale(constant(std::vector<float>{2.f, -0.5f}, Shape{2}), {.name = "scale"});
  std::vector<Variable> acc;
  for (int t = 0; t < kThreads; ++t) {
    acc.emplace_back(constant(std::vector<float>{0.f, 0.f}, Shape{2}));
  }
  auto step = function(
      [&](const Tensor& x, int t) {
        acc[t].assign_add(x);
        return acc[t] * scale + x;
      },
      {.name = "step", .on_retrace = RetracePolicy::kAllow});
  constexpr int kIters = 12;
  std::atomic<int> wrong{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      float sum = 0;
      for (int i = 0; i < kIters; ++i) {
        const float v = static_cast<float>(t + i) * 0.25f;
        sum += v;
        const Tensor x = constant(std::vector<float>{v, -v}, Shape{2});
        // The eager reference with the accumulator's value after the add.
        const Tensor expected = constant(std::vector<float>{sum, -sum}, Shape{2}) * scale + x;
        if (!same(step(x, t), expected)) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(step.trace_count(), kThreads);
  for (int t = 0; t < kThreads; ++t) {
    float sum = 0;
    for (int i = 0; i < kIters; ++i) sum += static_cast<float>(t + i) * 0.25f;
    EXPECT_EQ(acc[t].value().to_vector<float>(), (std::vector<float>{sum, -sum})) << t;
  }
  EXPECT_EQ(scale.value().to_vector<float>(), (std::vector<float>{2.f, -0.5f}));
}

}  // namespace
}  // namespace kiln
