// kiln — the pass manager: runs a pipeline of passes, verifying after each one that changed the
// IR and printing IR after the passes asked for.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "passes/pass.h"

namespace kiln::passes {

// The pipeline kiln::function runs on every traced function.
inline constexpr std::string_view kDefaultPipeline =
    "autodiff,const-fold,simplify,cse,fuse,dce,buffer-plan";

struct PassManagerOptions {
  bool verify_each = true;               // run ir::verify before the first pass and after each
  bool print_ir_after_all = false;       // print the module after every pass
  std::set<std::string> print_ir_after;  // ... or after these passes
  std::ostream* print_stream = nullptr;  // where to print (default std::cerr)
  // Called with (pass index, pass name, module) after each pass, for KILN_DUMP-style dumps.
  std::function<void(int, std::string_view, const ir::Module&)> after_pass;
};

struct PassTiming {
  std::string name;
  double seconds = 0;
  bool changed = false;
};

class PassManager {
 public:
  explicit PassManager(PassContext ctx = {}, PassManagerOptions options = {})
      : ctx_(ctx), options_(std::move(options)) {}

  void add(std::unique_ptr<Pass> pass) { passes_.push_back(std::move(pass)); }
  // Adds the passes of a comma-separated pipeline ("const-fold,dce,fuse"); an unknown name is an
  // InvalidArgument error listing the known ones.
  absl::Status add_pipeline(std::string_view pipeline);

  // Runs every pass in order. Stops at the first failing pass or verifier error, naming the pass.
  absl::StatusOr<bool> run(ir::Module& module);

  const std::vector<PassTiming>& timings() const { return timings_; }
  // The passes in pipeline order (for their statistics()).
  const std::vector<std::unique_ptr<Pass>>& passes() const { return passes_; }

 private:
  PassContext ctx_;
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassTiming> timings_;
};

}  // namespace kiln::passes
