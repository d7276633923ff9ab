// kiln — IR text parser. Errors carry line:column ("3:8: error: ...").
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "ir/function.h"

namespace kiln::ir {

struct ParseOptions {
  std::string filename;  // used in error messages if non-empty ("file:3:8: error: ...")
  int first_line = 1;    // line number of the text's first line (for --split-input-file)
};

// Parses one or more functions. Parsing checks syntax, names and that every op's written result
// type matches the inferred one; semantic checks beyond that are the verifier's (verify()).
absl::StatusOr<std::unique_ptr<Module>> parse_module(std::string_view text,
                                                     const ParseOptions& options = {});

}  // namespace kiln::ir
