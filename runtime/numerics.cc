// kiln — check_numerics.
#include "runtime/numerics.h"

#include <atomic>
#include <cmath>

#include "ir/printer.h"
#include "support/error.h"
#include "support/half.h"
#include "support/str.h"

namespace kiln {
namespace config {
namespace {
std::atomic<bool> g_check_numerics{false};
}
void check_numerics(bool enable) { g_check_numerics.store(enable, std::memory_order_relaxed); }
bool check_numerics_enabled() { return g_check_numerics.load(std::memory_order_relaxed); }
}  // namespace config

namespace internal {

std::optional<std::string> first_non_finite(const void* data, DType dtype, int64_t n) {
  auto scan = [&](auto load) -> std::optional<std::string> {
    for (int64_t i = 0; i < n; ++i) {
      const double v = load(i);
      if (!std::isfinite(v)) {
        return cat(std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf"), " at element ", i);
      }
    }
    return std::nullopt;
  };
  switch (dtype) {
    case DType::kFloat32:
      return scan([p = static_cast<const float*>(data)](int64_t i) { return double{p[i]}; });
    case DType::kFloat64:
      return scan([p = static_cast<const double*>(data)](int64_t i) { return p[i]; });
    case DType::kFloat16:
      return scan([p = static_cast<const Half*>(data)](int64_t i) {
        return static_cast<double>(p[i].to_float());
      });
    case DType::kBFloat16:
      return scan([p = static_cast<const BFloat16*>(data)](int64_t i) {
        return static_cast<double>(p[i].to_float());
      });
    default:
      return std::nullopt;
  }
}

}  // namespace internal

Tensor check_numerics(const Tensor& x, std::string_view message, std::source_location where) {
  if (!x.defined()) throw InvalidArgumentError("check_numerics: the Tensor is empty");
  if (x.is_symbolic()) {
    ir::Op* op = x.impl()->value->defining_op();
    if (op && !op->loc().known()) {
      op->set_loc(ir::Location{where.file_name(), static_cast<int>(where.line()),
                               static_cast<int>(where.column())});
    }
    return x;
  }
  if (auto bad = internal::first_non_finite(x.raw_data(), x.dtype(), x.num_elements())) {
    throw InvalidArgumentError(cat("check_numerics: ", message, message.empty() ? "" : ": ", *bad,
                                   " of ", ir::Type{x.dtype(), x.shape()}, " (checked at ",
                                   where.file_name(), ":", where.line(), ")"));
  }
  return x;
}

absl::StatusOr<std::vector<ir::Literal>> NumericsCheckingEvaluator::evaluate(
    const ir::Op& op, std::span<const ir::Literal* const> operands) {
  auto results = KernelEvaluator::evaluate(op, operands);
  if (!results.ok()) return results;
  for (size_t i = 0; i < results->size(); ++i) {
    const ir::Literal& r = (*results)[i];
    if (auto bad = internal::first_non_finite(r.data(), r.type().dtype, r.num_elements())) {
      // Traced call sites carry no column (0): "file:line".
      const ir::Location& loc = op.loc();
      const std::string where = !loc.known() ? std::string()
                                : loc.col == 0 && !loc.file.empty()
                                    ? cat(" at ", loc.file, ":", loc.line)
                                    : cat(" at ", loc.to_string());
      return absl::InvalidArgumentError(cat("check_numerics: '", op.mnemonic(), "' produced ", *bad,
                                            " of its result ", r.type().to_string(), " in @",
                                            fn_.name(), ": ", ir::print_op(fn_, op), where));
    }
  }
  return results;
}

}  // namespace kiln
