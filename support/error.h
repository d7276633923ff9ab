// kiln — the exceptions users see. Inside the compiler errors are absl::Status; they become
// one of these only at the API boundary (throw_if_error).
#pragma once

#include <stdexcept>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kiln {

// Base of every exception kiln throws on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A dtype, shape or value the op cannot take (TF's InvalidArgumentError).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

// The system is not in a state the call needs (e.g. a tape used twice).
class FailedPreconditionError : public Error {
 public:
  using Error::Error;
};

// The request is valid but kiln does not implement it (yet).
class UnimplementedError : public Error {
 public:
  using Error::Error;
};

// A bug in kiln, or a failure below it (LLVM, the OS).
class InternalError : public Error {
 public:
  using Error::Error;
};

// Throws the kiln::Error subclass matching `status.code()`; does nothing for OK.
void throw_if_error(const absl::Status& status);

// Unwraps a StatusOr or throws.
template <typename T>
T value_or_throw(absl::StatusOr<T> s) {
  throw_if_error(s.status());
  return std::move(s).value();
}

}  // namespace kiln
