// kiln — the pass manager and the pass registry.
#include "passes/pass_manager.h"

#include <chrono>
#include <iostream>

#include "absl/strings/str_split.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::passes {

absl::StatusOr<bool> FunctionPass::run(ir::Module& module) {
  bool changed = false;
  for (auto& fn : module.functions()) {
    KILN_ASSIGN_OR_RETURN(bool c, run_on_function(*fn));
    changed |= c;
  }
  return changed;
}

absl::StatusOr<std::unique_ptr<Pass>> create_pass(std::string_view name, const PassContext& ctx) {
  // One line per pass, alphabetical.
  if (name == "autodiff") return create_autodiff_pass(ctx);
  if (name == "buffer-plan") return create_buffer_plan_pass();
  if (name == "const-fold") return create_const_fold_pass(ctx);
  if (name == "cse") return create_cse_pass();
  if (name == "dce") return create_dce_pass();
  if (name == "fuse") return create_fuse_pass();
  if (name == "simplify") return create_simplify_pass();
  std::string known;
  for (const std::string& n : registered_pass_names()) known += (known.empty() ? "" : ", ") + n;
  return absl::InvalidArgumentError(cat("unknown pass '", name, "' (known passes: ", known, ")"));
}

std::vector<std::string> registered_pass_names() {
  return {"autodiff", "buffer-plan", "const-fold", "cse", "dce", "fuse", "simplify"};
}

absl::Status PassManager::add_pipeline(std::string_view pipeline) {
  for (absl::string_view piece : absl::StrSplit(absl::string_view(pipeline.data(), pipeline.size()),
                                                ',', absl::SkipWhitespace())) {
    std::string name(piece.data(), piece.size());
    while (!name.empty() && name.front() == ' ') name.erase(name.begin());
    while (!name.empty() && name.back() == ' ') name.pop_back();
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Pass> pass, create_pass(name, ctx_));
    add(std::move(pass));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> PassManager::run(ir::Module& module) {
  std::ostream& out = options_.print_stream ? *options_.print_stream : std::cerr;
  timings_.clear();
  if (options_.verify_each) {
    absl::Status s = ir::verify(module);
    if (!s.ok()) return absl::Status(s.code(), cat("input IR is invalid: ", s.message()));
  }
  bool any_change = false;
  for (size_t i = 0; i < passes_.size(); ++i) {
    Pass& pass = *passes_[i];
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<bool> changed = pass.run(module);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!changed.ok()) {
      return absl::Status(changed.status().code(),
                          cat("pass '", pass.name(), "' failed: ", changed.status().message()));
    }
    timings_.push_back({std::string(pass.name()), seconds, *changed});
    any_change |= *changed;
    if (*changed && options_.verify_each) {
      absl::Status s = ir::verify(module);
      if (!s.ok()) {
        return absl::InternalError(cat("IR is invalid after pass '", pass.name(),
                                       "': ", s.message(), "\n", ir::print(module)));
      }
    }
    if (options_.print_ir_after_all || options_.print_ir_after.count(std::string(pass.name()))) {
      out << "// -----// IR after " << pass.name() << " //----- //\n" << ir::print(module);
    }
    if (options_.after_pass) options_.after_pass(static_cast<int>(i), pass.name(), module);
  }
  return any_change;
}

}  // namespace kiln::passes
