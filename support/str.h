// kiln — string building. Debian's Abseil has its own absl::string_view, which StrCat takes
// but std::string_view does not convert to; kiln code uses these helpers instead.
#pragma once

#include <charconv>
#include <concepts>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace kiln {
namespace str_internal {

inline void append(std::string& out, std::string_view s) { out.append(s); }
inline void append(std::string& out, const char* s) { out.append(s); }
inline void append(std::string& out, const std::string& s) { out.append(s); }
inline void append(std::string& out, absl::string_view s) { out.append(s.data(), s.size()); }
inline void append(std::string& out, char c) { out.push_back(c); }
inline void append(std::string& out, bool b) { out.append(b ? "true" : "false"); }
template <std::integral T>
requires(!std::same_as<T, bool> && !std::same_as<T, char>) void append(std::string& out, T v) {
  out.append(std::to_string(v));
}
template <std::floating_point T>
void append(std::string& out, T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}
// Anything with a to_string() member (Shape, ir::Type, Location...).
template <typename T>
requires requires(const T& t) {
  { t.to_string() } -> std::convertible_to<std::string>;
}
void append(std::string& out, const T& v) { out.append(v.to_string()); }

}  // namespace str_internal

// Concatenates strings, numbers and objects with to_string(): cat("input #", 1, ": ", shape).
template <typename... Args>
std::string cat(const Args&... args) {
  std::string out;
  (str_internal::append(out, args), ...);
  return out;
}

}  // namespace kiln
