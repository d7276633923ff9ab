// kiln — mapping absl::Status codes to kiln exceptions.
#include "support/error.h"

namespace kiln {

void throw_if_error(const absl::Status& status) {
  if (status.ok()) return;
  std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      throw InvalidArgumentError(message);
    case absl::StatusCode::kFailedPrecondition:
      throw FailedPreconditionError(message);
    case absl::StatusCode::kUnimplemented:
      throw UnimplementedError(message);
    default:
      throw InternalError(message);
  }
}

}  // namespace kiln
