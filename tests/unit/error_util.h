// kiln — test helpers for checking the messages of kiln's exceptions.
#pragma once

#include <functional>
#include <string>

#include "support/error.h"

namespace kiln {

// The message of the kiln::Error `f` throws, or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The message of the InvalidArgumentError `f` throws; another kiln::Error is reported as
// "wrong error kind: <message>", no error as "(no error)".
inline std::string invalid_argument_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InvalidArgumentError& e) {
    return e.what();
  } catch (const Error& e) {
    return std::string("wrong error kind: ") + e.what();
  }
  return "(no error)";
}

}  // namespace kiln
