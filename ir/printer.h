// kiln — IR text printer. The text format is specified in docs/ir-format.md; for canonical
// input, print(parse(text)) == text byte for byte.
#pragma once

#include <ostream>
#include <string>

#include "ir/function.h"

namespace kiln::ir {

struct PrintOptions {
  bool print_locations = false;  // append loc("file":line:col) to ops with a known location
};

std::string print(const Function& fn, const PrintOptions& options = {});
std::string print(const Module& module, const PrintOptions& options = {});
void print(std::ostream& os, const Function& fn, const PrintOptions& options = {});

// Formats a float the way the printer does: shortest text that reads back to the same float,
// always with a '.' or exponent ("1.0", "0.5", "1e-07", "inf", "-inf", "nan").
std::string format_float(float v);
// The same for a float16 or bfloat16 value `v` (given as float): the fewest digits that read
// back through float to the same 16-bit value ("0.1" for float16's 0.0999755859375).
std::string format_half(float v, DType dtype);

// `op` as its first line prints inside `fn` (value numbers as in print(fn); no indentation,
// region or newline), e.g. "%0 = sub %a, %b : f32[32,1]". For diagnostics.
std::string print_op(const Function& fn, const Op& op);

}  // namespace kiln::ir
