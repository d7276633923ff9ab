// kiln — the C++ call site of a kiln API call, found by walking the stack.
//
// `user_call_site()` names the innermost frame on this thread's stack whose source file is not
// kiln's own (support/, ir/, runtime/, passes/, compiler/ and kiln/ under the source tree this
// library was built from) nor a toolchain header: the user's line that called into kiln. It reads
// the program's DWARF line tables (GCC's libbacktrace), so it is slow (microseconds per call, more
// the first time) and meant for error paths and debugging modes only. Without debug info for that
// frame, or in a build without libbacktrace, the call site is unknown.
#pragma once

#include <string>

namespace kiln {

struct CallSite {
  std::string file;      // as the debug info names it: absolute, or relative to the build dir
  int line = 0;          // 0: unknown
  std::string function;  // as the debug info names it (unqualified with -g1); may be empty
  bool known() const { return line > 0; }
  // "FILE:LINE in FUNCTION", "FILE:LINE", or "" if unknown.
  std::string to_string() const;
};

CallSite user_call_site();

// Whether this build can walk the stack at all (libbacktrace was found when it was configured).
bool call_sites_supported();

}  // namespace kiln
