// kiln — KILN_PERF_MAP: compiled functions are named in /tmp/perf-<pid>.map for `perf report`.
// ctest runs this twice: as part of the whole suite (variable unset: no map is written) and as
// compiler_perf_map with KILN_PERF_MAP=1 (tests/CMakeLists.txt).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "compiler/function.h"
#include "runtime/array_ops.h"
#include "runtime/math_ops.h"
#include "runtime/ops.h"

namespace kiln {
namespace {

TEST(PerfMapEnv, NamesCompiledFunctionsOnlyWhenAsked) {
  const char* env = std::getenv("KILN_PERF_MAP");
  const bool asked = env != nullptr && *env != '\0' && std::string(env) != "0";
  const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
  auto f = function([](const Tensor& x) { return exp(x) * 2.f; }, {.name = "perf_map_probe"});
  const Tensor y = f(constant({1.f, 2.f}));
  EXPECT_FLOAT_EQ(y.data<float>()[0], 2.f * std::exp(1.f));
  // Large enough for its loop to be an outlined task of the thread pool (an internal function).
  const Tensor big = f(fill({1 << 18}, 1.f));
  EXPECT_FLOAT_EQ(big.data<float>()[12345], 2.f * std::exp(1.f));
  if (!asked) {
    EXPECT_FALSE(std::filesystem::exists(path)) << path;
    return;
  }
  std::ifstream in(path);
  ASSERT_TRUE(in.good()) << path;
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(path);
  // "<hex address> <hex size> kiln_perf_map_probe"
  std::istringstream lines(text.str());
  std::string line;
  bool found = false, found_task = false;
  while (std::getline(lines, line)) {
    std::istringstream fields(line);
    std::string address, size, name;
    fields >> address >> size >> name;
    if (name.starts_with("kiln_perf_map_probe.") && name.ends_with(".task")) found_task = true;
    if (name != "kiln_perf_map_probe") continue;
    found = true;
    EXPECT_NE(std::stoull(address, nullptr, 16), 0u) << line;
    EXPECT_GT(std::stoull(size, nullptr, 16), 0u) << line;
  }
  EXPECT_TRUE(found) << text.str();
  EXPECT_TRUE(found_task) << text.str();
}

}  // namespace
}  // namespace kiln
