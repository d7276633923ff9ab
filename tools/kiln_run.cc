// kiln — kiln-run: runs one IR function on .npy inputs, eagerly (the reference interpreter over
// the eager kernels) and/or compiled (pass pipeline + JIT), and writes each result as .npy.
//
//   kiln-run f.kir --inputs=a.npy,b.npy --outputs=out/             (compiled, out/compiled.0.npy)
//   kiln-run f.kir --inputs a.npy --outputs r.npy --mode=eager
//   kiln-run f.kir --inputs=a.npy --outputs=out/ --mode=both --rtol=1e-6   (checks agreement)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/compile.h"
#include "ir/evaluator.h"
#include "ir/ops.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "runtime/evaluator.h"
#include "runtime/npy.h"
#include "support/error.h"
#include "support/str.h"

namespace {

using kiln::cat;

constexpr const char* kUsage = R"(usage: kiln-run FILE.kir [options]
  --inputs=a.npy,b.npy      one .npy file per function argument, in order
  --outputs=DIR/            write result i to DIR/<mode>.<i>.npy (mode: eager or compiled);
                            a name ending in '/' is created if missing
  --outputs=r0.npy,r1.npy   ... or to these files (one per result; --mode=eager|compiled only)
  --mode=eager|compiled|both
                            eager: the reference interpreter over the eager kernels;
                            compiled: the pass pipeline, then JIT-compiled code (default);
                            both: run both and check that they agree
  --passes=p1,p2,...        pass pipeline before compiling (default: the kiln::function one,
                            autodiff,const-fold,simplify,cse,fuse,dce,buffer-plan)
  --rtol=R --atol=A         --mode=both: float results agree if |e - c| <= A + R * |e|
                            (default 1e-5 and 1e-6); integer and bool results must be equal
  --function=NAME           the function to run when the file has several
  --cpu=NAME --mattr=FEATS  compile for this LLVM CPU / these target features instead of
                            the host's (e.g. --cpu=x86-64 for SSE2 only); the code must
                            still run on this host
  --print                   print each result (NumPy-style) to stdout
  --polymorphic             compile unknown dims ('?') as such (the code kiln::function
                            makes for an input_signature with None) and bind them to the
                            inputs' shapes at run time
Arguments with unknown dims ('?') take the input's shape; compiled code is specialized to it
(unless --polymorphic).
)";

struct Flags {
  std::string input;
  std::vector<std::string> inputs;
  std::string outputs;
  std::string mode = "compiled";
  std::string passes{kiln::passes::kDefaultPipeline};
  std::string function;
  std::string cpu, mattr;
  double rtol = 1e-5, atol = 1e-6;
  bool print = false;
  bool polymorphic = false;
};

// Failure with a message; main prints "kiln-run: <message>" and exits 1.
struct Failure {
  std::string message;
};

bool starts_with(const std::string& s, const char* prefix, std::string* rest) {
  const size_t n = std::strlen(prefix);
  if (s.compare(0, n, prefix) != 0) return false;
  *rest = s.substr(n);
  return true;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) out.push_back(item);
  if (s.back() == ',') out.push_back("");
  return out;
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && *out >= 0;
}

std::string argument_name(const kiln::ir::Function& fn, int i) {
  const std::string& n = fn.body().argument(i)->name();
  return n.empty() ? cat("#", i) : cat("#", i, " (%", n, ")");
}

// Loads the inputs and checks them against the function's argument types.
std::vector<kiln::ir::Literal> load_inputs(const kiln::ir::Function& fn, const Flags& flags) {
  const int n = fn.body().num_arguments();
  if (static_cast<int>(flags.inputs.size()) != n) {
    throw Failure{cat("@", fn.name(), " takes ", n, " argument(s) but ", flags.inputs.size(),
                      " input file(s) were given")};
  }
  std::vector<kiln::ir::Literal> args;
  for (int i = 0; i < n; ++i) {
    const kiln::ir::Type& want = fn.body().argument(i)->type();
    kiln::Tensor t;
    try {
      t = kiln::load_npy(flags.inputs[i]);
    } catch (const kiln::Error& e) {
      throw Failure{cat("input ", argument_name(fn, i), ": ", e.what())};
    }
    if (t.dtype() != want.dtype) {
      throw Failure{cat("input ", argument_name(fn, i), " '", flags.inputs[i], "' is ",
                        kiln::dtype_name(t.dtype()), ", the argument is ", want.to_string())};
    }
    bool shape_ok = t.shape().rank() == want.shape.rank();
    for (int d = 0; shape_ok && d < want.shape.rank(); ++d) {
      shape_ok = want.shape[d] < 0 || want.shape[d] == t.shape()[d];
    }
    if (!shape_ok) {
      throw Failure{cat("input ", argument_name(fn, i), " '", flags.inputs[i], "' has shape ",
                        t.shape().to_string(), ", the argument is ", want.to_string())};
    }
    kiln::ir::Literal lit(kiln::ir::Type{t.dtype(), t.shape()});
    if (lit.size_bytes() > 0) std::memcpy(lit.data(), t.raw_data(), lit.size_bytes());
    args.push_back(std::move(lit));
  }
  return args;
}

std::vector<kiln::ir::Literal> run_eager(const kiln::ir::Function& fn,
                                         const std::vector<kiln::ir::Literal>& args) {
  kiln::KernelEvaluator evaluator;
  absl::StatusOr<std::vector<kiln::ir::Literal>> results = kiln::ir::interpret(fn, args, evaluator);
  if (!results.ok()) throw Failure{cat("eager: ", results.status().message())};
  return std::move(*results);
}

// Gives the ops of `block` the types inferred from its (already set) argument types.
absl::Status reinfer_types(kiln::ir::Block& block) {
  for (auto& op : block.ops()) {
    const kiln::ir::OpClass cls = kiln::ir::op_info(op->kind()).cls;
    if (cls == kiln::ir::OpClass::kConstant || cls == kiln::ir::OpClass::kTerminator) continue;
    std::vector<kiln::ir::Type> in;
    for (int i = 0; i < op->num_operands(); ++i) in.push_back(op->operand(i)->type());
    std::vector<kiln::ir::Type> out;
    if (cls == kiln::ir::OpClass::kFusion) {
      kiln::ir::Block& region = *op->region();
      for (int i = 0; i < region.num_arguments(); ++i) region.argument(i)->set_type(in[i]);
      if (absl::Status s = reinfer_types(region); !s.ok()) return s;
      const kiln::ir::Op& yield = *region.ops().back();
      for (int i = 0; i < yield.num_operands(); ++i) out.push_back(yield.operand(i)->type());
    } else {
      absl::StatusOr<std::vector<kiln::ir::Type>> types =
          kiln::ir::infer_types(op->kind(), in, op->attrs());
      if (!types.ok()) return types.status();
      out = std::move(*types);
    }
    for (int i = 0; i < op->num_results(); ++i) op->result(i)->set_type(out[i]);
  }
  return absl::OkStatus();
}

// Compiled code needs fully defined types: arguments with unknown dims take the inputs' shapes
// and every op's type is inferred again.
void specialize(kiln::ir::Module& module, kiln::ir::Function& fn,
                const std::vector<kiln::ir::Literal>& args) {
  bool changed = false;
  for (int i = 0; i < fn.body().num_arguments(); ++i) {
    kiln::ir::Value* a = fn.body().argument(i);
    if (!(a->type() == args[i].type())) a->set_type(args[i].type()), changed = true;
  }
  if (!changed) return;
  absl::Status s = reinfer_types(fn.body());
  if (s.ok()) s = kiln::ir::verify(module);
  if (!s.ok()) throw Failure{cat("compiled: specializing to the input shapes: ", s.message())};
}

// Runs the pass pipeline on `module` (changing it), compiles `fn` and runs it.
std::vector<kiln::ir::Literal> run_compiled(kiln::ir::Module& module, kiln::ir::Function& fn,
                                            const std::vector<kiln::ir::Literal>& args,
                                            const Flags& flags) {
  if (!flags.polymorphic) specialize(module, fn, args);
  kiln::KernelEvaluator evaluator;
  kiln::passes::PassManager pm(kiln::passes::PassContext{.evaluator = &evaluator});
  if (absl::Status s = pm.add_pipeline(flags.passes); !s.ok()) throw Failure{cat(s.message())};
  if (absl::StatusOr<bool> ran = pm.run(module); !ran.ok()) {
    throw Failure{cat("compiled: ", ran.status().message())};
  }
  absl::StatusOr<std::unique_ptr<kiln::compiler::Executable>> exe =
      kiln::compiler::compile(fn, {.cpu = flags.cpu, .features = flags.mattr});
  if (!exe.ok()) throw Failure{cat("compiled: ", exe.status().message())};
  std::vector<const void*> arg_ptrs;
  for (const kiln::ir::Literal& a : args) arg_ptrs.push_back(a.data());
  std::vector<kiln::Shape> arg_shapes;
  for (const kiln::ir::Literal& a : args) arg_shapes.push_back(a.type().shape);
  absl::StatusOr<std::shared_ptr<const kiln::compiler::ShapeBinding>> binding =
      (*exe)->bind(arg_shapes);
  if (!binding.ok()) throw Failure{cat("compiled: ", binding.status().message())};
  std::vector<kiln::ir::Literal> results;
  std::vector<void*> result_ptrs;
  const std::vector<kiln::ir::Type> types = fn.result_types();
  for (size_t i = 0; i < types.size(); ++i) {
    results.emplace_back(kiln::ir::Type{types[i].dtype, (*binding)->result_shapes[i]});
  }
  for (kiln::ir::Literal& r : results) result_ptrs.push_back(r.data());
  if (absl::Status s = (*exe)->run_bound(arg_ptrs, result_ptrs, **binding); !s.ok()) {
    throw Failure{cat("compiled: ", s.message())};
  }
  return results;
}

kiln::Tensor to_tensor(const kiln::ir::Literal& lit) {
  kiln::Tensor t = kiln::Tensor::empty(lit.type().dtype, lit.type().shape);
  if (lit.size_bytes() > 0) std::memcpy(t.mutable_raw_data(), lit.data(), lit.size_bytes());
  return t;
}

// Where result `i` of `mode` goes.
std::string output_path(const Flags& flags, const std::string& mode, size_t i) {
  const std::vector<std::string> files = split_list(flags.outputs);
  if (files.size() == 1 && std::filesystem::is_directory(files[0])) {
    return (std::filesystem::path(files[0]) / cat(mode, ".", i, ".npy")).string();
  }
  return files[i];
}

void write_outputs(const Flags& flags, const std::string& mode,
                   const std::vector<kiln::ir::Literal>& results) {
  if (flags.print) {
    for (size_t i = 0; i < results.size(); ++i) {
      std::cout << mode << " result #" << i << ": " << to_tensor(results[i]).to_string() << "\n";
    }
  }
  if (flags.outputs.empty()) return;
  for (size_t i = 0; i < results.size(); ++i) {
    const std::string path = output_path(flags, mode, i);
    try {
      kiln::save_npy(path, to_tensor(results[i]));
    } catch (const kiln::Error& e) {
      throw Failure{cat("cannot write result #", i, " to '", path, "': ", e.what())};
    }
  }
}

// Compares eager and compiled results; prints one line per result. False on disagreement.
bool compare(const std::vector<kiln::ir::Literal>& eager,
             const std::vector<kiln::ir::Literal>& compiled, const Flags& flags) {
  bool ok = true;
  std::cout.precision(9);
  for (size_t r = 0; r < eager.size(); ++r) {
    const kiln::ir::Literal& e = eager[r];
    const kiln::ir::Literal& c = compiled[r];
    std::cout << "result #" << r << " " << e.type().to_string() << ": ";
    if (!(e.type() == c.type())) {
      std::cout << "MISMATCH: eager gives " << e.type().to_string() << ", compiled "
                << c.type().to_string() << "\n";
      ok = false;
      continue;
    }
    const bool floating = kiln::is_floating(e.type().dtype);
    int64_t bad = 0, first_bad = -1;
    double max_abs = 0, max_rel = 0;
    for (int64_t i = 0; i < e.num_elements(); ++i) {
      const double a = e.get(i), b = c.get(i);
      if (a == b || (std::isnan(a) && std::isnan(b))) continue;
      bool close = false;
      if (floating && std::isfinite(a) && std::isfinite(b)) {
        const double diff = std::fabs(a - b);
        max_abs = std::max(max_abs, diff);
        if (a != 0) max_rel = std::max(max_rel, diff / std::fabs(a));
        close = diff <= flags.atol + flags.rtol * std::fabs(a);
      } else if (floating) {
        max_abs = max_rel = INFINITY;
      }
      if (!close) {
        if (first_bad < 0) first_bad = i;
        ++bad;
      }
    }
    if (!floating) {
      std::cout << (bad ? "MISMATCH: " : "equal");
    } else {
      std::cout << (bad ? "MISMATCH: " : "") << "max abs diff " << max_abs << ", max rel diff "
                << max_rel;
    }
    if (bad) {
      std::cout << (floating ? ", " : "") << bad << " element(s) differ; first at flat index "
                << first_bad << ": eager " << e.get(first_bad) << ", compiled " << c.get(first_bad);
      ok = false;
    }
    std::cout << "\n";
  }
  return ok;
}

int run(const Flags& flags) {
  std::ifstream in(flags.input);
  if (!in) throw Failure{cat("cannot open '", flags.input, "'")};
  std::stringstream buffer;
  buffer << in.rdbuf();
  absl::StatusOr<std::unique_ptr<kiln::ir::Module>> module =
      kiln::ir::parse_module(buffer.str(), {.filename = flags.input});
  if (!module.ok()) {
    std::cerr << module.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = kiln::ir::verify(**module); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  kiln::ir::Function* fn = nullptr;
  const auto& fns = (*module)->functions();
  if (!flags.function.empty()) {
    fn = (*module)->lookup(flags.function);
    if (!fn) throw Failure{cat("no function @", flags.function, " in '", flags.input, "'")};
  } else if (fns.size() == 1) {
    fn = fns[0].get();
  } else {
    throw Failure{cat("'", flags.input, "' holds ", fns.size(),
                      " functions; choose one with --function=NAME")};
  }

  const std::vector<kiln::ir::Literal> args = load_inputs(*fn, flags);
  const size_t num_results = fn->result_types().size();
  if (!flags.outputs.empty()) {
    const std::vector<std::string> files = split_list(flags.outputs);
    if (files.size() == 1 && files[0].back() == '/' && !std::filesystem::is_directory(files[0])) {
      std::error_code ec;
      std::filesystem::create_directories(files[0], ec);
      if (ec) throw Failure{cat("cannot create directory '", files[0], "': ", ec.message())};
    }
    const bool dir = files.size() == 1 && std::filesystem::is_directory(files[0]);
    if (!dir && flags.mode == "both") {
      throw Failure{"--mode=both writes eager and compiled results: --outputs must be a directory"};
    }
    if (!dir && files.size() != num_results) {
      throw Failure{cat("@", fn->name(), " has ", num_results, " result(s) but --outputs names ",
                        files.size(), " file(s) (or is not an existing directory)")};
    }
  }

  std::vector<kiln::ir::Literal> eager, compiled;
  if (flags.mode != "compiled") {
    eager = run_eager(*fn, args);
    write_outputs(flags, "eager", eager);
  }
  if (flags.mode != "eager") {
    compiled = run_compiled(**module, *fn, args, flags);
    write_outputs(flags, "compiled", compiled);
  }
  if (flags.mode == "both" && !compare(eager, compiled, flags)) {
    std::cerr << "kiln-run: eager and compiled results differ\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i], v;
    // "--inputs a,b" is "--inputs=a,b" (likewise the other options with values).
    for (const char* opt : {"--inputs", "--outputs", "--mode", "--passes", "--rtol", "--atol",
                            "--function", "--cpu", "--mattr"}) {
      if (a == opt && i + 1 < argc) {
        a = cat(a, "=", argv[++i]);
        break;
      }
    }
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (starts_with(a, "--inputs=", &v)) {
      flags.inputs = split_list(v);
    } else if (starts_with(a, "--outputs=", &v)) {
      flags.outputs = v;
    } else if (starts_with(a, "--mode=", &v)) {
      if (v != "eager" && v != "compiled" && v != "both") {
        std::cerr << "kiln-run: --mode must be eager, compiled or both (got '" << v << "')\n";
        return 2;
      }
      flags.mode = v;
    } else if (starts_with(a, "--passes=", &v)) {
      flags.passes = v;
    } else if (a == "--print") {
      flags.print = true;
    } else if (a == "--polymorphic") {
      flags.polymorphic = true;
    } else if (starts_with(a, "--function=", &v)) {
      flags.function = v;
    } else if (starts_with(a, "--cpu=", &v)) {
      flags.cpu = v;
    } else if (starts_with(a, "--mattr=", &v)) {
      flags.mattr = v;
    } else if (starts_with(a, "--rtol=", &v) || starts_with(a, "--atol=", &v)) {
      double* target = a[2] == 'r' ? &flags.rtol : &flags.atol;
      if (!parse_double(v, target)) {
        std::cerr << "kiln-run: " << a.substr(0, 6) << " must be a number >= 0 (got '" << v
                  << "')\n";
        return 2;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "kiln-run: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else if (!flags.input.empty()) {
      std::cerr << "kiln-run: more than one IR file given ('" << flags.input << "', '" << a
                << "')\n";
      return 2;
    } else {
      flags.input = a;
    }
  }
  if (flags.input.empty()) {
    std::cerr << "kiln-run: no IR file given\n" << kUsage;
    return 2;
  }
  try {
    return run(flags);
  } catch (const Failure& f) {
    std::cerr << "kiln-run: " << f.message << "\n";
  } catch (const kiln::Error& e) {
    std::cerr << "kiln-run: " << e.what() << "\n";
  }
  return 1;
}
