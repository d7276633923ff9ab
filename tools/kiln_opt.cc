// kiln — kiln-opt: reads IR text, runs a pass pipeline, prints IR, LLVM IR or assembly.
//
//   kiln-opt huber.kir --passes=const-fold,dce,fuse --print-ir-after-all
//   kiln-opt huber.kir --passes=fuse --emit=asm --cpu=znver3
//   kiln-opt cases.kir --split-input-file       (chunks separated by "// -----")
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "runtime/evaluator.h"
#include "runtime/gradients/emitter.h"

namespace {

struct Flags {
  std::string input = "-";
  std::string passes;
  std::string emit = "ir";
  std::string cpu, mattr;
  bool split_input_file = false;
  bool verify_each = true;
  bool print_ir_after_all = false;
  bool print_loc = false;
  bool print_stats = false;
  bool time_passes = false;
  std::set<std::string> print_ir_after;
};

constexpr const char* kUsage = R"(usage: kiln-opt [file|-] [options]
  --passes=p1,p2,...        run these passes in order (see --list-passes); "default" is the
                            pipeline kiln::function runs
  --emit=ir|llvm|asm        what to print (default: ir)
  --cpu=NAME --mattr=FEATS  target for --emit=llvm|asm (default: this host)
  --split-input-file        process each "// -----" chunk separately
  --print-ir-after-all      print the IR after every pass (to stderr)
  --print-ir-after=NAME     print the IR after pass NAME (repeatable)
  --no-verify-each          do not run the verifier after each pass
  --print-loc               print op locations
  --print-stats             print the passes' nonzero statistics (e.g. rule hits) to stderr
  --time-passes             print each pass's wall time to stderr (and their total)
  --list-passes             list the registered passes
)";

bool starts_with(const std::string& s, const char* prefix, std::string* rest) {
  const size_t n = std::strlen(prefix);
  if (s.compare(0, n, prefix) != 0) return false;
  *rest = s.substr(n);
  return true;
}

// Parses, verifies, transforms and prints one chunk. Returns false (after printing the error to
// stderr) if anything failed.
bool process(const std::string& text, int first_line, const std::string& filename,
             const Flags& flags, std::ostream& out) {
  kiln::ir::ParseOptions popts{.filename = filename, .first_line = first_line};
  absl::StatusOr<std::unique_ptr<kiln::ir::Module>> module = kiln::ir::parse_module(text, popts);
  if (!module.ok()) {
    std::cerr << module.status().message() << "\n";
    return false;
  }
  if (absl::Status s = kiln::ir::verify(**module); !s.ok()) {
    std::cerr << s.message() << "\n";
    return false;
  }
  kiln::KernelEvaluator evaluator;
  kiln::RuleDifferentiator differentiator;
  kiln::passes::PassManagerOptions pm_options{.verify_each = flags.verify_each,
                                              .print_ir_after_all = flags.print_ir_after_all,
                                              .print_ir_after = flags.print_ir_after};
  kiln::passes::PassManager pm(
      kiln::passes::PassContext{.evaluator = &evaluator, .differentiator = &differentiator},
      pm_options);
  if (absl::Status s = pm.add_pipeline(flags.passes); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return false;
  }
  if (absl::StatusOr<bool> ran = pm.run(**module); !ran.ok()) {
    std::cerr << "error: " << ran.status().message() << "\n";
    return false;
  }
  if (flags.print_stats) {
    for (const auto& pass : pm.passes()) {
      for (const auto& [name, value] : pass->statistics()) {
        if (value) std::cerr << pass->name() << "." << name << " = " << value << "\n";
      }
    }
  }
  if (flags.time_passes) {
    double total = 0;
    std::cerr << "pass timings (wall, ms):\n";
    for (const kiln::passes::PassTiming& t : pm.timings()) {
      std::cerr << "  " << std::fixed << std::setprecision(3) << t.seconds * 1e3 << "  " << t.name
                << (t.changed ? "" : " (no change)") << "\n";
      total += t.seconds;
    }
    std::cerr << "  " << std::fixed << std::setprecision(3) << total * 1e3 << "  total\n";
    std::cerr.unsetf(std::ios::floatfield);
  }
  if (flags.emit == "ir") {
    out << kiln::ir::print(**module, {.print_locations = flags.print_loc});
    return true;
  }
  kiln::compiler::CompileOptions copts{.cpu = flags.cpu, .features = flags.mattr};
  for (const auto& fn : (*module)->functions()) {
    absl::StatusOr<std::string> code = flags.emit == "llvm"
                                           ? kiln::compiler::emit_llvm_ir(*fn, copts)
                                           : kiln::compiler::emit_asm(*fn, copts);
    if (!code.ok()) {
      std::cerr << "error: @" << fn->name() << ": " << code.status().message() << "\n";
      return false;
    }
    out << *code;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--list-passes") {
      for (const std::string& n : kiln::passes::registered_pass_names()) std::cout << n << "\n";
      return 0;
    } else if (starts_with(a, "--passes=", &v)) {
      flags.passes = v == "default" ? std::string(kiln::passes::kDefaultPipeline) : v;
    } else if (starts_with(a, "--emit=", &v)) {
      if (v != "ir" && v != "llvm" && v != "asm") {
        std::cerr << "kiln-opt: --emit must be ir, llvm or asm (got '" << v << "')\n";
        return 2;
      }
      flags.emit = v;
    } else if (starts_with(a, "--cpu=", &v)) {
      flags.cpu = v;
    } else if (starts_with(a, "--mattr=", &v)) {
      flags.mattr = v;
    } else if (starts_with(a, "--print-ir-after=", &v)) {
      flags.print_ir_after.insert(v);
    } else if (a == "--split-input-file") {
      flags.split_input_file = true;
    } else if (a == "--print-ir-after-all") {
      flags.print_ir_after_all = true;
    } else if (a == "--verify-each") {
      flags.verify_each = true;
    } else if (a == "--no-verify-each") {
      flags.verify_each = false;
    } else if (a == "--print-loc") {
      flags.print_loc = true;
    } else if (a == "--print-stats") {
      flags.print_stats = true;
    } else if (a == "--time-passes") {
      flags.time_passes = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      std::cerr << "kiln-opt: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      flags.input = a;
    }
  }

  std::stringstream buffer;
  std::string filename;
  if (flags.input == "-") {
    buffer << std::cin.rdbuf();
  } else {
    std::ifstream in(flags.input);
    if (!in) {
      std::cerr << "kiln-opt: cannot open '" << flags.input << "'\n";
      return 2;
    }
    buffer << in.rdbuf();
    filename = flags.input;
  }
  const std::string text = buffer.str();

  if (!flags.split_input_file) return process(text, 1, filename, flags, std::cout) ? 0 : 1;

  // Split at lines that start with "// -----", keeping original line numbers.
  std::vector<std::pair<int, std::string>> chunks{{1, ""}};
  std::istringstream lines(text);
  std::string line;
  int line_no = 0;
  while (std::getline(lines, line)) {
    ++line_no;
    if (line.rfind("// -----", 0) == 0) {
      chunks.push_back({line_no + 1, ""});
      continue;
    }
    chunks.back().second += line + "\n";
  }
  bool ok = true;
  for (size_t i = 0; i < chunks.size(); ++i) {
    std::ostringstream out;
    ok &= process(chunks[i].second, chunks[i].first, filename, flags, out);
    if (i) std::cout << "// -----\n";
    std::cout << out.str();
  }
  return ok ? 0 : 1;
}
