// kiln — gradient rules: one per op, written with kiln's own Tensor ops.
//
// The same rule serves the eager GradientTape (the ops run) and the autodiff pass (the ops are
// traced into IR next to the `grad` op being expanded), so the two agree by construction, and a
// rule's backward ops are themselves differentiable (nested tapes give higher-order gradients).
#pragma once

#include <optional>
#include <span>
#include <vector>

#include "ir/ops.h"
#include "runtime/tensor.h"

namespace kiln::gradients {

// One application of an op: its attributes, inputs and outputs (concrete or symbolic).
struct OpCall {
  ir::OpKind kind;
  const ir::Attrs& attrs;
  std::span<const Tensor> inputs;
  std::span<const Tensor> outputs;
  // True if some cotangent may hold zeros that mask out positions (they came through a
  // select/where, relu, maximum, ...). Rules then scale with `scale` below, which keeps such a
  // zero an exact zero even where the local derivative is Inf or NaN.
  bool masked = false;
};

// The cotangent of each input; nullopt = no gradient flows to that input (TF's None).
using Cotangents = std::vector<std::optional<Tensor>>;

// `dys[i]` is the cotangent of output i, nullopt if none reached it (a zero). Single-result ops
// are only called with dys[0] present.
using Rule = Cotangents (*)(const OpCall& call, std::span<const std::optional<Tensor>> dys);

enum class Differentiability : uint8_t {
  kMissing,           // no rule: differentiating through the op is an error naming it
  kRule,              // `rule` gives the input cotangents
  kNotDifferentiable  // the op's outputs carry no gradient (comparisons, argmax, floor, ...)
};

struct RuleEntry {
  Differentiability kind = Differentiability::kMissing;
  Rule rule = nullptr;
  // The op's cotangents may be zero where the op masked its input out: select, relu, relu6,
  // abs, sign, maximum/minimum, reduce_max/min, top_k, gather, split, strided_slice and
  // unsorted_segment_sum set it. Downstream rules must keep such zeros exact (see
  // OpCall::masked), so where(x > 0, log(x), 0) has gradient 0, not NaN, at x = 0. Ops whose
  // cotangents are dense (leaky_relu, pad, tile, ...) leave it false.
  bool masks = false;
};

const RuleEntry& rule_entry(ir::OpKind kind);

// The rule for `kind`; throws InvalidArgumentError naming the op if it has none.
Rule rule_for(ir::OpKind kind);

// ---- Helpers for writing rules ---------------------------------------------------------------

// dy * d; where the call is masked, an exact-zero dy gives 0 even if d is Inf/NaN
// (multiply-no-nan on structurally zero cotangents).
Tensor scale(const OpCall& call, const Tensor& dy, const Tensor& d);
// Sums `g` (the cotangent of a broadcast result) down to `shape` (the operand's shape).
Tensor unbroadcast(const Tensor& g, const Shape& shape);
// A rank-0 tensor of x's dtype.
Tensor scalar_of(const Tensor& x, double v);

// ---- The rule tables, one per family (gradients/*.cc) -----------------------------------------
using RuleTable = std::vector<RuleEntry>;
void register_elementwise_rules(RuleTable& table);
void register_array_rules(RuleTable& table);

}  // namespace kiln::gradients
