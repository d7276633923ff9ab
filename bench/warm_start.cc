// kiln — warm start from the on-disk cache: the first call of the README's compiled training step
// in a fresh process, cold (no disk cache, or an empty one) and warm (KILN_CACHE_DIR filled by an
// earlier process).
//
//   kiln_warm_start [--runs=N]      spawns itself N times per mode and prints the median and the
//                                   minimum first-call time of each mode, in milliseconds, and
//                                   the median time of each phase (trace, each pass, lowering,
//                                   LLVM optimization, codegen, JIT link, the rest)
//   kiln_warm_start --child         one process: builds the step, calls it once (timed), then
//                                   twice more, and prints the stats and the results bit-exactly
//                                   (the two-process ctest compares two of these outputs)
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "kiln/kiln.h"

extern char** environ;

namespace k = kiln;

namespace {

std::vector<float> ramp(int n, float scale, float offset) {
  std::vector<float> v(n);
  for (int i = 0; i < n; ++i) v[i] = offset + scale * static_cast<float>((i * 7) % 13 - 6);
  return v;
}

void print_tensor(const char* name, const k::Tensor& t) {
  std::printf("%s", name);
  for (float f : t.to_vector<float>()) std::printf(" %a", f);
  std::printf("\n");
}

double cpu_ms() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

int child() {
  const k::Tensor x = k::constant(ramp(32 * 5, 0.1f, 0.05f), k::Shape({32, 5}));
  const k::Tensor y = k::constant(ramp(32, 0.3f, -0.2f), k::Shape({32, 1}));
  k::Variable w(k::zeros({5, 1})), b(k::zeros({1}));
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = cpu_ms();
  auto train_step = k::function(
      [&](const k::Tensor& x, const k::Tensor& y) {
        k::GradientTape tape;
        auto loss = k::reduce_mean(k::square(k::matmul(x, w) + b - y));
        auto grads = tape.gradient(loss, {w, b});
        w.assign_sub(*grads[0] * 0.01f);
        b.assign_sub(*grads[1] * 0.01f);
        return loss;
      },
      {.name = "train_step"});
  k::Tensor loss = train_step(x, y);
  const double first_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  const double first_cpu_ms = cpu_ms() - cpu_start;
  std::vector<k::Tensor> losses = {loss, train_step(x, y), train_step(x, y)};
  const k::CacheStats s = train_step.cache_stats();
  const k::Tensor w3 = w.value(), b3 = b.value();  // after three calls (copy-on-write)
  // The compiled code's speed: the median of 5 batches of 200 calls, per call.
  std::vector<double> per_call;
  for (int batch = 0; batch < 5; ++batch) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < 200; ++i) train_step(x, y);
    per_call.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        200);
  }
  std::sort(per_call.begin(), per_call.end());
  // Wall time, and CPU time (which a busy machine's preemptions do not inflate).
  std::printf("first_call_ms %.3f cpu %.3f\n", first_ms, first_cpu_ms);
  // Per phase (CacheStats), in ms; "other" is the rest of the first call's wall time.
  std::printf("phase trace %.3f\n", s.trace_seconds * 1e3);
  for (const auto& [name, seconds] : s.pass_seconds_by_name) {
    std::printf("phase pass:%s %.3f\n", name.c_str(), seconds * 1e3);
  }
  std::printf("phase lower %.3f\nphase llvm-opt %.3f\nphase codegen %.3f\nphase link %.3f\n",
              s.lower_seconds * 1e3, s.llvm_opt_seconds * 1e3, s.codegen_seconds * 1e3,
              s.link_seconds * 1e3);
  std::printf("phase other %.3f\n",
              first_ms - (s.trace_seconds + s.pass_seconds + s.compile_seconds) * 1e3);
  std::printf("stats traces=%lld disk_hits=%lld disk_misses=%lld disk_writes=%lld\n",
              static_cast<long long>(s.traces), static_cast<long long>(s.disk_hits),
              static_cast<long long>(s.disk_misses), static_cast<long long>(s.disk_writes));
  std::printf("steady_call_us %.3f\n", per_call[per_call.size() / 2]);
  for (const k::Tensor& l : losses) print_tensor("loss", l);
  print_tensor("w", w3);
  print_tensor("b", b3);
  return 0;
}

struct Times {
  double wall = -1, cpu = -1;
  std::vector<std::pair<std::string, double>> phases;  // "phase <name> <ms>" lines, in order
  double steady_us = -1;                               // a later call's time
};

// Runs this program with --child and `cache_dir` as KILN_CACHE_DIR (unset when empty); returns
// its first-call times (negative on failure).
Times spawn_child(const std::string& cache_dir) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "KILN_CACHE_DIR=", 15) != 0) env_strings.push_back(*e);
  }
  if (!cache_dir.empty()) env_strings.push_back("KILN_CACHE_DIR=" + cache_dir);
  std::vector<char*> envp;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  int fds[2];
  if (pipe(fds) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string flag = "--child";
  char* argv[] = {self.data(), flag.data(), nullptr};
  pid_t pid;
  const int rc = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return {};
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  Times t;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
      std::sscanf(out.c_str(), "first_call_ms %lf cpu %lf", &t.wall, &t.cpu) != 2) {
    return {};
  }
  if (size_t at = out.find("\nsteady_call_us "); at != std::string::npos) {
    std::sscanf(out.c_str() + at + 16, "%lf", &t.steady_us);
  }
  for (size_t at = out.find("\nphase "); at != std::string::npos;
       at = out.find("\nphase ", at + 1)) {
    char name[128];
    double ms;
    if (std::sscanf(out.c_str() + at + 7, "%127s %lf", name, &ms) == 2)
      t.phases.emplace_back(name, ms);
  }
  return t;
}

struct Summary {
  double median, min;
};

Summary summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front()};
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 9;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--child") == 0) return child();
    if (std::strncmp(argv[i], "--runs=", 7) == 0) runs = std::max(1, std::atoi(argv[i] + 7));
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("kiln_warm_start." + std::to_string(::getpid())))
          .string();
  const char* modes[] = {"cold, no disk cache", "cold, empty KILN_CACHE_DIR (stores)",
                         "warm KILN_CACHE_DIR (disk hit)"};
  std::vector<double> wall[3], cpu[3];
  std::vector<std::pair<std::string, std::vector<double>>> phases[3];
  std::vector<double> steady[3];
  for (int r = 0; r < runs; ++r) {
    std::filesystem::remove_all(dir);
    // No disk cache; an empty one (compile and store); the warm one (link the stored object).
    const Times t[3] = {spawn_child(""), spawn_child(dir), spawn_child(dir)};
    for (int m = 0; m < 3; ++m) {
      if (t[m].wall < 0) {
        std::fprintf(stderr, "kiln_warm_start: a child process failed\n");
        std::filesystem::remove_all(dir);
        return 1;
      }
      wall[m].push_back(t[m].wall);
      cpu[m].push_back(t[m].cpu);
      steady[m].push_back(t[m].steady_us);
      for (size_t i = 0; i < t[m].phases.size(); ++i) {
        if (phases[m].size() <= i) phases[m].push_back({t[m].phases[i].first, {}});
        phases[m][i].second.push_back(t[m].phases[i].second);
      }
    }
  }
  std::filesystem::remove_all(dir);
  std::printf("first call of the README training step in a fresh process, %d runs (ms)\n", runs);
  std::printf("%-38s %12s %10s %12s %16s\n", "mode", "wall median", "wall min", "CPU median",
              "later call (us)");
  for (int m = 0; m < 3; ++m) {
    const Summary w = summarize(wall[m]), c = summarize(cpu[m]);
    std::printf("%-38s %12.2f %10.2f %12.2f %16.2f\n", modes[m], w.median, w.min, c.median,
                summarize(steady[m]).median);
  }
  std::printf("\nper phase, median over the runs (ms, wall):\n%-20s", "phase");
  for (int m = 0; m < 3; ++m)
    std::printf(" %14s", m == 0 ? "no disk cache" : m == 1 ? "empty dir" : "disk hit");
  std::printf("\n");
  for (size_t i = 0; i < phases[0].size(); ++i) {
    std::printf("%-20s", phases[0][i].first.c_str());
    for (int m = 0; m < 3; ++m) {
      std::printf(" %14.3f", i < phases[m].size() ? summarize(phases[m][i].second).median : -1.0);
    }
    std::printf("\n");
  }
  return 0;
}
