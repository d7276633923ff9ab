// kiln — kiln-demo: the chapter's Huber loss, eager and through kiln::function, end to end.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <vector>

#include "kiln/kiln.h"

namespace k = kiln;

// The chapter's custom loss, written exactly as a user would.
k::Tensor huber_loss_fxn(const k::Tensor& y_true, const k::Tensor& y_pred) {
  auto error = y_true - y_pred;
  auto is_small_error = k::abs(error) < 1;
  return k::where(is_small_error, k::square(error) / 2, k::abs(error) - 0.5);
}

namespace {

k::Tensor random_tensor(int64_t n, float scale, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return k::constant(v, k::Shape{n, 1});
}

template <typename F>
double median_seconds(F&& f, int reps) {
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

double max_abs_diff(const k::Tensor& a, const k::Tensor& b) {
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  double m = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) m = std::max(m, double(std::fabs(pa[i] - pb[i])));
  return m;
}

void banner(const char* title) { std::printf("\n== %s ==\n", title); }

}  // namespace

int main() {
  auto huber = k::function(huber_loss_fxn, {.name = "huber"});
  bool ok = true;

  for (int64_t n : {int64_t{1} << 20, int64_t{1} << 24}) {
    std::printf("\n################ %lld float32 elements ################\n",
                static_cast<long long>(n));
    k::Tensor y_true = random_tensor(n, 1.5f, 1);
    k::Tensor y_pred = random_tensor(n, 1.5f, 2);

    banner("eager");
    k::Tensor eager = huber_loss_fxn(y_true, y_pred);
    std::cout << eager << "\n";

    banner("kiln::function: first call with this shape");
    const int before = huber.trace_count();
    auto t0 = std::chrono::steady_clock::now();
    k::Tensor compiled = huber(y_true, y_pred);
    const double first_call =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("trace_count: %d -> %d (a new shape traces; reason: %s)\n", before,
                huber.trace_count(), huber.trace_log().back().reason.c_str());
    auto concrete = huber.get_concrete_function(k::TensorSpec({n, 1}), k::TensorSpec({n, 1}));
    std::printf("first call %.1f ms: trace %.2f ms, passes %.2f ms, LLVM+JIT %.1f ms\n",
                first_call * 1e3, concrete.trace_seconds() * 1e3, concrete.pass_seconds() * 1e3,
                concrete.compile_seconds() * 1e3);
    if (n == (int64_t{1} << 20)) {
      banner("traced IR");
      std::cout << concrete.traced_ir();
      banner("optimized IR (const-fold, dce, fuse)");
      std::cout << concrete.ir();
    }

    banner("second call, same shape");
    huber(y_true, y_pred);
    std::printf("trace_count: %d (no retrace)\n", huber.trace_count());

    banner("results");
    const double diff = max_abs_diff(eager, compiled);
    std::printf("max |eager - compiled| = %.3g  %s\n", diff, diff <= 1e-6 ? "(agree)" : "(DIFFER)");
    ok &= diff <= 1e-6;

    banner("timing (median of 15 runs)");
    const double t_eager = median_seconds([&] { huber_loss_fxn(y_true, y_pred); }, 15);
    const double t_comp = median_seconds([&] { huber(y_true, y_pred); }, 15);
    const double bytes = 3.0 * n * sizeof(float);  // read y_true and y_pred, write the loss
    std::printf("eager     %9.3f ms  %6.1f GB/s\n", t_eager * 1e3, bytes / t_eager / 1e9);
    std::printf("compiled  %9.3f ms  %6.1f GB/s  (%.1fx faster than eager)\n", t_comp * 1e3,
                bytes / t_comp / 1e9, t_eager / t_comp);
  }
  const k::CacheStats stats = huber.cache_stats();
  std::printf("\ncache: %lld calls, %lld hits, %lld traces; %.1f ms tracing+passes, %.1f ms LLVM\n",
              static_cast<long long>(stats.calls), static_cast<long long>(stats.hits),
              static_cast<long long>(stats.traces),
              (stats.trace_seconds + stats.pass_seconds) * 1e3, stats.compile_seconds * 1e3);
  return ok ? 0 : 1;
}
