// kiln — the pass interface. A pass rewrites IR in place and reports whether it changed it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/differentiator.h"
#include "ir/evaluator.h"
#include "ir/function.h"

namespace kiln::passes {

// One IR-to-IR transformation. Keeps no state between runs. Assumes verified input and must
// leave verified output.
class Pass {
 public:
  virtual ~Pass() = default;
  // The single name: `kiln-opt --passes=<name>`, dumps, statistics, the lit file.
  virtual std::string_view name() const = 0;
  // Rewrites `module`; true if anything changed. A non-OK status means input the pass cannot
  // handle; bugs are asserts.
  virtual absl::StatusOr<bool> run(ir::Module& module) = 0;
  // Named counters accumulated over all runs (e.g. hits per rewrite rule); empty by default.
  virtual std::vector<std::pair<std::string, int64_t>> statistics() const { return {}; }
};

// A pass that works on one function at a time.
class FunctionPass : public Pass {
 public:
  absl::StatusOr<bool> run(ir::Module& module) final;
  virtual absl::StatusOr<bool> run_on_function(ir::Function& fn) = 0;
};

// What passes may need from the world above the IR.
struct PassContext {
  // Evaluates ops on constants (const-fold). Null: const-fold reports an error.
  ir::Evaluator* evaluator = nullptr;
  // Emits gradient rules (autodiff). Null: autodiff reports an error if there is a grad op.
  ir::Differentiator* differentiator = nullptr;
  // const-fold leaves results with more elements than this alone.
  int64_t fold_size_limit = 1 << 16;
};

// The registry: one line per pass in registry.cc, alphabetical.
absl::StatusOr<std::unique_ptr<Pass>> create_pass(std::string_view name, const PassContext& ctx);
std::vector<std::string> registered_pass_names();

// The passes, for direct use.
std::unique_ptr<Pass> create_autodiff_pass(const PassContext& ctx);
std::unique_ptr<Pass> create_buffer_plan_pass();
std::unique_ptr<Pass> create_const_fold_pass(const PassContext& ctx);
std::unique_ptr<Pass> create_cse_pass();
std::unique_ptr<Pass> create_dce_pass();
std::unique_ptr<Pass> create_fuse_pass();
std::unique_ptr<Pass> create_simplify_pass();

}  // namespace kiln::passes
