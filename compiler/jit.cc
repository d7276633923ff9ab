// kiln — target machines, the LLVM optimization pipeline, codegen and the process-wide LLJIT.
//
// Code reaches the JIT as an object file this TU generates itself (not through LLJIT's IR
// compile layer), so the code that runs, the assembly text and the optimized IR all come from
// one TargetMachine configured from CompileOptions. No C++ exception may cross into LLVM: this
// file calls nothing that throws, and every llvm::Error/Expected becomes an absl::Status.
#include "compiler/jit.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "compiler/lower.h"
#include "llvm/Analysis/TargetLibraryInfo.h"
#include "llvm/AsmParser/Parser.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/ExecutionEngine/JITLink/JITLink.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/Transforms/Utils/Cloning.h"
#include "runtime/kernel_call.h"
#include "runtime/parallel.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

// The one conversion from llvm::Error to absl::Status (consumes the error).
absl::Status to_status(llvm::Error err, std::string_view what) {
  if (!err) return absl::OkStatus();
  return absl::InternalError(cat(what, ": ", llvm::toString(std::move(err))));
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

const absl::Status& init_native_target() {
  static const absl::Status* status = [] {
    if (llvm::InitializeNativeTarget() || llvm::InitializeNativeTargetAsmPrinter() ||
        llvm::InitializeNativeTargetAsmParser()) {
      return new absl::Status(absl::InternalError("LLVM has no native target for this host"));
    }
    return new absl::Status();
  }();
  return *status;
}

// "+avx2,-avx512f,..." for this host (computed once).
const std::string& host_features() {
  static const std::string* features = [] {
    auto* out = new std::string();
    for (const auto& [name, enabled] : llvm::sys::getHostCPUFeatures()) {
      if (!out->empty()) *out += ',';
      *out += enabled ? '+' : '-';
      *out += name.str();
    }
    return out;
  }();
  return *features;
}

struct Target {
  std::unique_ptr<llvm::TargetMachine> machine;
  std::string cpu;
  std::string features;
};

absl::StatusOr<Target> make_target(const CompileOptions& options) {
  KILN_RETURN_IF_ERROR(init_native_target());
  if (options.opt_level < 0 || options.opt_level > 3) {
    return absl::InvalidArgumentError(cat("opt_level must be 0..3, got ", options.opt_level));
  }
  const std::string triple = llvm::sys::getProcessTriple();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target) return absl::InternalError(cat("no LLVM target for ", triple, ": ", error));
  Target t;
  t.cpu = options.cpu.empty() ? host_cpu_name() : options.cpu;
  t.features = options.features;
  if (options.cpu.empty() && options.features.empty()) t.features = host_features();
  // Reject unknown CPUs here: LLVM would only print a warning and target a generic CPU.
  std::unique_ptr<llvm::MCSubtargetInfo> sti(target->createMCSubtargetInfo(triple, "", ""));
  if (!sti || !sti->isCPUStringValid(t.cpu)) {
    return absl::InvalidArgumentError(cat("unknown CPU '", t.cpu, "' for target ", triple));
  }
  static constexpr llvm::CodeGenOptLevel kLevels[] = {
      llvm::CodeGenOptLevel::None, llvm::CodeGenOptLevel::Less, llvm::CodeGenOptLevel::Default,
      llvm::CodeGenOptLevel::Aggressive};
  llvm::TargetOptions target_options;  // IEEE float semantics: no fast-math
  t.machine.reset(target->createTargetMachine(triple, t.cpu, t.features, target_options,
                                              llvm::Reloc::PIC_, llvm::CodeModel::Small,
                                              kLevels[options.opt_level]));
  if (!t.machine) return absl::InternalError(cat("cannot create a target machine for ", t.cpu));
  return t;
}

void run_pipeline(llvm::Module& module, llvm::TargetMachine& machine, int opt_level) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = opt_level >= 2;
  tuning.SLPVectorization = opt_level >= 2;
  tuning.LoopUnrolling = opt_level >= 1;
  llvm::PassBuilder builder(&machine, tuning);
  llvm::TargetLibraryInfoImpl tlii(llvm::Triple(module.getTargetTriple()));
  fam.registerPass([&] { return llvm::TargetLibraryAnalysis(tlii); });
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  static constexpr const llvm::OptimizationLevel* kLevels[] = {
      &llvm::OptimizationLevel::O0, &llvm::OptimizationLevel::O1, &llvm::OptimizationLevel::O2,
      &llvm::OptimizationLevel::O3};
  llvm::ModulePassManager passes = opt_level == 0
                                       ? builder.buildO0DefaultPipeline(llvm::OptimizationLevel::O0)
                                       : builder.buildPerModuleDefaultPipeline(*kLevels[opt_level]);
  passes.run(module, mam);
}

absl::StatusOr<std::string> codegen(llvm::TargetMachine& machine, llvm::Module& module,
                                    llvm::CodeGenFileType type) {
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager passes;
  if (machine.addPassesToEmitFile(passes, os, nullptr, type)) {
    return absl::InternalError("the LLVM target cannot emit this file type");
  }
  passes.run(module);
  return std::string(buffer.data(), buffer.size());
}

// With KILN_PERF_MAP set (to anything but 0), every compiled function's address range is
// appended to /tmp/perf-<pid>.map as it is linked, so `perf report` names JIT code (kiln_<fn>,
// its outlined loop bodies) instead of showing bare addresses.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  static bool enabled() {
    const char* env = std::getenv("KILN_PERF_MAP");
    return env && *env && std::string_view(env) != "0";
  }

  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    // Internal functions (loop bodies, panel functions) are referenced through their section,
    // so the linker would prune their names as unused: keep the names of whatever code is kept.
    config.PrePrunePasses.push_back([](llvm::jitlink::LinkGraph& graph) {
      for (llvm::jitlink::Symbol* sym : graph.defined_symbols()) {
        if (sym->hasName() && sym->isCallable()) sym->setLive(true);
      }
      return llvm::Error::success();
    });
    config.PostFixupPasses.push_back([this](llvm::jitlink::LinkGraph& graph) {
      std::lock_guard<std::mutex> lock(mu_);
      if (!file_) file_ = std::fopen(cat("/tmp/perf-", getpid(), ".map").c_str(), "a");
      if (!file_) return llvm::Error::success();  // profiling aid only: never fail a link
      for (const llvm::jitlink::Symbol* sym : graph.defined_symbols()) {
        if (!sym->hasName() || !sym->isCallable() || sym->getSize() == 0) continue;
        std::fprintf(file_, "%llx %llx %s\n",
                     static_cast<unsigned long long>(sym->getAddress().getValue()),
                     static_cast<unsigned long long>(sym->getSize()), sym->getName().str().c_str());
      }
      std::fflush(file_);
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}

 private:
  std::mutex mu_;
  std::FILE* file_ = nullptr;
};

// The process-wide JIT: created on first use, never destroyed (Executables may outlive main).
struct JitState {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  absl::Status status;
};

JitState create_jit() {
  JitState state;
  state.status = init_native_target();
  if (!state.status.ok()) return state;
  auto machine_builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!machine_builder) {
    state.status = to_status(machine_builder.takeError(), "detecting the host");
    return state;
  }
  machine_builder->setCodeModel(llvm::CodeModel::Small);
  machine_builder->setRelocationModel(llvm::Reloc::PIC_);
  auto jit =
      llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*machine_builder)).create();
  if (!jit) {
    state.status = to_status(jit.takeError(), "creating the LLJIT");
    return state;
  }
  if (PerfMapPlugin::enabled()) {
    if (auto* linking =
            dynamic_cast<llvm::orc::ObjectLinkingLayer*>(&(*jit)->getObjLinkingLayer())) {
      linking->addPlugin(std::make_unique<PerfMapPlugin>());
    }
  }
  // The runtime entry points compiled code calls; the executable does not export them, so
  // they are defined as absolute addresses.
  const auto flags = llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable;
  llvm::orc::SymbolMap symbols;
  symbols[(*jit)->mangleAndIntern("kiln_rt_kernel_call")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_kernel_call), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_kernel_call_multi")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_kernel_call_multi), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_sgemm_epilogue")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_sgemm_epilogue), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_parallel_for")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_parallel_for), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_kernel_call_dyn")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_kernel_call_dyn), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_kernel_call_multi_dyn")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_kernel_call_multi_dyn), flags};
  symbols[(*jit)->mangleAndIntern("kiln_rt_last_error")] = {
      llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_last_error), flags};
  state.status =
      to_status((*jit)->getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(symbols))),
                "defining runtime symbols");
  if (state.status.ok()) state.jit = std::move(*jit);
  return state;
}

JitState& jit_state() {
  static JitState* state = new JitState(create_jit());
  return *state;
}

}  // namespace

std::string host_cpu_name() { return llvm::sys::getHostCPUName().str(); }
std::string host_cpu_features() { return host_features(); }
std::string llvm_version() { return LLVM_VERSION_STRING; }

namespace {

// The IR pipeline level for `lowered` at `opt_level`: O3 becomes O2 for functions whose data
// (arguments, results and workspace) is at most kSmallFunctionBytes (never for unknown dims). For
// them compile time is what counts: O2 takes about a third less time than O3 on the README training
// step, and the compiled step runs equally fast (bench/warm_start.cc).
constexpr int64_t kSmallFunctionBytes = int64_t{1} << 20;

int pipeline_level(const LoweredModule& lowered, int opt_level) {
  if (opt_level != 3) return opt_level;
  int64_t bytes = lowered.workspace_bytes;
  for (const auto* types : {&lowered.arg_types, &lowered.result_types}) {
    for (const ir::Type& t : *types) {
      if (!t.shape.is_fully_defined()) return 3;  // sizes known only at run time
      bytes += t.shape.num_elements() * dtype_size(t.dtype);
    }
  }
  return bytes <= kSmallFunctionBytes ? 2 : 3;
}

}  // namespace

absl::StatusOr<CodegenOutput> optimize_and_codegen(LoweredModule& lowered,
                                                   const CompileOptions& options, unsigned parts) {
  KILN_ASSIGN_OR_RETURN(Target target, make_target(options));
  llvm::Module& module = *lowered.module;
  module.setTargetTriple(target.machine->getTargetTriple().str());
  module.setDataLayout(target.machine->createDataLayout());
  for (llvm::Function& f : module) {
    if (f.isDeclaration()) continue;
    f.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty()) f.addFnAttr("target-features", target.features);
  }
  std::string errors;
  llvm::raw_string_ostream error_stream(errors);
  if (llvm::verifyModule(module, &error_stream)) {
    return absl::InternalError(cat("kiln produced invalid LLVM IR: ", errors));
  }

  CodegenOutput out;
  auto start = std::chrono::steady_clock::now();
  run_pipeline(module, *target.machine, pipeline_level(lowered, options.opt_level));
  out.optimize_ms = ms_since(start);
  if (parts & kEmitLlvmIr) {
    llvm::raw_string_ostream os(out.llvm_ir);
    module.print(os, nullptr);
  }
  start = std::chrono::steady_clock::now();
  if (parts & kEmitAsm) {
    // Codegen rewrites the IR it runs on, so the assembly comes from a clone.
    std::unique_ptr<llvm::Module> clone = llvm::CloneModule(module);
    KILN_ASSIGN_OR_RETURN(out.asm_text,
                          codegen(*target.machine, *clone, llvm::CodeGenFileType::AssemblyFile));
  }
  if (parts & kEmitObject) {
    KILN_ASSIGN_OR_RETURN(out.object,
                          codegen(*target.machine, module, llvm::CodeGenFileType::ObjectFile));
  }
  out.codegen_ms = ms_since(start);
  return out;
}

absl::StatusOr<std::string> asm_from_llvm_ir(const std::string& llvm_ir,
                                             const CompileOptions& options) {
  KILN_ASSIGN_OR_RETURN(Target target, make_target(options));
  llvm::LLVMContext context;
  llvm::SMDiagnostic diagnostic;
  std::unique_ptr<llvm::Module> module = llvm::parseAssemblyString(llvm_ir, diagnostic, context);
  if (!module) {
    std::string message;
    llvm::raw_string_ostream os(message);
    diagnostic.print("kiln", os);
    return absl::InternalError(cat("re-reading optimized LLVM IR: ", message));
  }
  return codegen(*target.machine, *module, llvm::CodeGenFileType::AssemblyFile);
}

struct JitCode::Resource {
  llvm::orc::JITDylib* dylib = nullptr;
};

JitCode::JitCode() = default;

JitCode::~JitCode() {
  if (resource_ && resource_->dylib) {
    if (llvm::Error err =
            jit_state().jit->getExecutionSession().removeJITDylib(*resource_->dylib)) {
      llvm::logAllUnhandledErrors(std::move(err), llvm::errs(), "kiln: unloading JIT code: ");
    }
  }
}

absl::StatusOr<std::unique_ptr<JitCode>> jit_link(const std::string& object,
                                                  const std::string& symbol,
                                                  std::span<const ExternalSymbol> externals) {
  JitState& state = jit_state();
  if (!state.status.ok()) return state.status;
  llvm::orc::LLJIT& jit = *state.jit;
  // JITDylib names must be unique; the symbols inside only within one JITDylib.
  static std::atomic<uint64_t> counter{0};
  auto dylib = jit.createJITDylib(cat("kiln.code.", ++counter));
  if (!dylib) return to_status(dylib.takeError(), "creating a JITDylib");
  std::unique_ptr<JitCode> code(new JitCode());
  code->resource_ = std::make_unique<JitCode::Resource>();
  code->resource_->dylib = &*dylib;
  // On any failure below, `code`'s destructor removes the JITDylib and what was added to it.
  dylib->addToLinkOrder(jit.getMainJITDylib());  // kiln_rt_*
  if (!externals.empty()) {
    llvm::orc::SymbolMap symbols;
    for (const ExternalSymbol& e : externals) {
      symbols[jit.mangleAndIntern(e.name)] = {llvm::orc::ExecutorAddr::fromPtr(e.address),
                                              llvm::JITSymbolFlags::Exported};
    }
    KILN_RETURN_IF_ERROR(to_status(dylib->define(llvm::orc::absoluteSymbols(std::move(symbols))),
                                   "defining the symbols of compiled code"));
  }
  KILN_RETURN_IF_ERROR(
      to_status(jit.addObjectFile(*dylib, llvm::MemoryBuffer::getMemBufferCopy(object, symbol)),
                "adding compiled code to the JIT"));
  // Linking happens here.
  auto address = jit.lookup(*dylib, symbol);
  if (!address) return to_status(address.takeError(), cat("linking ", symbol));
  code->address_ = address->toPtr<void*>();
  return code;
}

}  // namespace kiln::compiler
