// kiln — the user's call site from a stack walk (libbacktrace).
#include "support/call_site.h"

#include <cxxabi.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "support/str.h"

#ifdef KILN_BACKTRACE_H
#include KILN_BACKTRACE_H
#endif

namespace kiln {

std::string CallSite::to_string() const {
  if (!known()) return "";
  return function.empty() ? cat(file, ":", line) : cat(file, ":", line, " in ", function);
}

#ifdef KILN_BACKTRACE_H

namespace {

std::string demangle(const char* name) {
  if (name == nullptr) return "";
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> d(
      abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(name);
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// kiln's own sources: the library layers under the source root. Debug info names a file by an
// absolute path, or (when a compiler cache rewrites paths) relative to the build directory, as
// "../runtime/dispatch.cc"; a relative path counts as kiln's when, past its leading "../", it is in
// one of the layer directories.
bool is_kiln_file(std::string_view file) {
  constexpr std::string_view kRoot = KILN_SOURCE_DIR;
  std::string_view rest;
  if (!file.empty() && file[0] == '/') {
    if (!starts_with(file, kRoot) || file.size() <= kRoot.size() || file[kRoot.size()] != '/') {
      return false;
    }
    rest = file.substr(kRoot.size() + 1);
  } else {
    rest = file;
    while (starts_with(rest, "../") || starts_with(rest, "./"))
      rest.remove_prefix(rest.find('/') + 1);
  }
  for (std::string_view dir : {"support/", "ir/", "runtime/", "passes/", "compiler/", "kiln/"}) {
    if (starts_with(rest, dir)) return true;
  }
  return false;
}

// The C++ standard library and compiler headers (std::function, std::invoke, ...).
bool is_toolchain_file(std::string_view file) {
  for (std::string_view dir : {"/usr/include/", "/usr/lib/", "/usr/local/include/"}) {
    if (starts_with(file, dir)) return true;
  }
  return false;
}

void ignore_error(void*, const char*, int) {}

backtrace_state* state() {
  // threaded = 1: one state shared by all threads; it caches what it has read.
  static backtrace_state* s = backtrace_create_state(nullptr, 1, ignore_error, nullptr);
  return s;
}

struct Walk {
  CallSite site;
  // Past a kiln frame, a frame without debug info is the caller, whose line is unknown.
  bool seen_kiln = false;
  // The user frame's pc, and whether the next frame has the same pc (the user function was
  // inlined into it).
  bool found = false;
  uintptr_t pc = 0;
  bool inlined = false;
};

int on_frame(void* data, uintptr_t pc, const char* filename, int lineno, const char* function) {
  Walk& w = *static_cast<Walk*>(data);
  if (w.found) {
    w.inlined = pc == w.pc;
    return 1;
  }
  if (filename == nullptr || lineno <= 0) return w.seen_kiln ? 1 : 0;
  const std::string_view file(filename);
  if (is_kiln_file(file)) {
    w.seen_kiln = true;
    return 0;
  }
  if (is_toolchain_file(file)) return 0;
  w.site = CallSite{std::string(file), lineno, demangle(function)};
  w.found = true;
  w.pc = pc;
  return 0;  // one more frame: was this one inlined?
}

void on_symbol(void* data, uintptr_t, const char* symname, uintptr_t, uintptr_t) {
  if (symname != nullptr) *static_cast<std::string*>(data) = demangle(symname);
}

}  // namespace

CallSite user_call_site() {
  backtrace_state* s = state();
  if (s == nullptr) return {};
  Walk w;
  backtrace_full(s, 0, on_frame, ignore_error, &w);
  // Line-tables-only debug info (-g1) names functions unqualified; a function that was not
  // inlined has a symbol with its qualified name.
  if (w.found && !w.inlined && w.site.function.find("::") == std::string::npos) {
    std::string qualified;
    backtrace_syminfo(s, w.pc, on_symbol, ignore_error, &qualified);
    if (!qualified.empty()) w.site.function = std::move(qualified);
  }
  return w.site;
}

bool call_sites_supported() { return true; }

#else  // no libbacktrace in this toolchain

CallSite user_call_site() { return {}; }
bool call_sites_supported() { return false; }

#endif

}  // namespace kiln
