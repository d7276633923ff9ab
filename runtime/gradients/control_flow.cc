// kiln — the gradients of a traced `cond` (a cond on the same predicate over the branches'
// backward sweeps) and `while` (a backward loop over recomputed iterations).
//
// Each backward branch recomputes its forward branch (replaying the region's ops as Tensor ops
// in the new region) and then applies the ops' gradient rules in reverse, as the autodiff pass
// does for straight-line code. The branches yield the cotangents of the floating-point operands
// (zeros where a branch does not depend on one), so both have the same types.
#include "runtime/gradients/control_flow.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "runtime/control_flow.h"
#include "runtime/dispatch.h"
#include "runtime/gradients/rules.h"
#include "runtime/ops.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln::gradients {
namespace {

// One replayed op: its inputs and outputs as Tensors of the current trace.
struct Step {
  const ir::Op* op;
  std::vector<Tensor> ins, outs;
};

Tensor zeros(const ir::Type& type) {
  const unsigned char bytes[16] = {};
  Tensor zero = from_buffer(bytes, type.dtype, Shape{});
  return type.shape.rank() == 0 ? zero : broadcast_to(zero, type.shape);
}

std::vector<Tensor> replay(const ir::Block& region, std::span<const Tensor> args,
                           std::vector<Step>* steps);

// A nested cond/while, replayed as one (recorded) step.
std::vector<Tensor> replay_control(const ir::Op& op, std::span<const Tensor> ins) {
  if (op.kind() == ir::OpKind::kCond) {
    const std::vector<Tensor> inner(ins.begin() + 1, ins.end());
    return cond(
        ins[0], [&] { return replay(*op.region(0), inner, nullptr); },
        [&] { return replay(*op.region(1), inner, nullptr); });
  }
  const size_t n = static_cast<size_t>(op.num_results());
  const std::vector<Tensor> invariants(ins.begin() + n, ins.end());
  const auto with_invariants = [&](const std::vector<Tensor>& vars) {
    std::vector<Tensor> all = vars;
    all.insert(all.end(), invariants.begin(), invariants.end());
    return all;
  };
  WhileLoopOptions options;
  if (auto it = op.attrs().find("maximum_iterations"); it != op.attrs().end()) {
    options.maximum_iterations = std::get<int64_t>(it->second);
  }
  return while_loop(
      [&](const std::vector<Tensor>& vars) {
        return replay(*op.region(0), with_invariants(vars), nullptr)[0];
      },
      [&](const std::vector<Tensor>& vars) {
        return replay(*op.region(1), with_invariants(vars), nullptr);
      },
      std::vector<Tensor>(ins.begin(), ins.begin() + n), options);
}

// Runs `region`'s ops on `args` as Tensor ops of the current trace; returns the yielded Tensors
// and, if `steps` is set, appends every op run.
std::vector<Tensor> replay(const ir::Block& region, std::span<const Tensor> args,
                           std::vector<Step>* steps) {
  std::unordered_map<const ir::Value*, Tensor> env;
  for (int i = 0; i < region.num_arguments(); ++i) env[region.argument(i)] = args[i];
  for (const auto& owned : region.ops()) {
    const ir::Op& op = *owned;
    std::vector<Tensor> ins;
    for (const ir::Value* v : op.operands()) ins.push_back(env.at(v));
    if (op.kind() == ir::OpKind::kYield) return ins;
    std::vector<Tensor> outs;
    switch (ir::op_info(op.kind()).cls) {
      case ir::OpClass::kConstant: {
        const ir::Literal& lit = *op.literal();
        outs.push_back(from_buffer(lit.data(), lit.type().dtype, lit.type().shape));
        break;
      }
      case ir::OpClass::kFusion:
        outs = replay(*op.region(), ins, steps);
        break;
      case ir::OpClass::kControl:
        outs = replay_control(op, ins);
        break;
      default:
        if (ir::has_multiple_results(op.kind())) {
          outs = dispatch_multi_untaped(op.kind(), ins, op.attrs());
        } else {
          outs.push_back(dispatch_untaped(op.kind(), ins, op.attrs()));
        }
        break;
    }
    for (int r = 0; r < op.num_results(); ++r) env[op.result(r)] = outs[r];
    if (steps && op.kind() != ir::OpKind::kConst && op.kind() != ir::OpKind::kFusion) {
      steps->push_back({&op, std::move(ins), std::move(outs)});
    }
  }
  throw InternalError("cond gradient: region without yield");
}

// The backward sweep over `steps`: the cotangents of `inputs` given those of `outs`.
std::vector<std::optional<Tensor>> sweep(const std::vector<Step>& steps,
                                         std::span<const Tensor> outs,
                                         std::span<const std::optional<Tensor>> dys,
                                         std::span<const Tensor> inputs) {
  std::unordered_map<const internal::TensorImpl*, Tensor> cot;
  std::unordered_set<const internal::TensorImpl*> masked;
  const auto accumulate = [&](const Tensor& x, const Tensor& dx, bool is_masked) {
    auto [slot, fresh] = cot.try_emplace(x.impl(), dx);
    if (!fresh) {
      const Tensor terms[] = {slot->second, dx};
      slot->second = dispatch_untaped(ir::OpKind::kAdd, terms);
    }
    if (is_masked) masked.insert(x.impl());
  };
  for (size_t j = 0; j < outs.size() && j < dys.size(); ++j) {
    if (dys[j] && is_floating(outs[j].dtype())) accumulate(outs[j], *dys[j], false);
  }
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const Step& s = *it;
    std::vector<std::optional<Tensor>> step_dys;
    bool any = false, any_masked = false;
    for (const Tensor& o : s.outs) {
      auto found = cot.find(o.impl());
      step_dys.push_back(found == cot.end() ? std::nullopt : std::optional<Tensor>(found->second));
      any = any || found != cot.end();
      any_masked = any_masked || masked.count(o.impl());
    }
    if (!any) continue;
    Cotangents dxs;
    bool out_masked = any_masked;
    if (s.op->kind() == ir::OpKind::kCond) {
      dxs = cond_gradient(*s.op, s.ins, step_dys);
    } else if (s.op->kind() == ir::OpKind::kWhile) {
      dxs = while_gradient(*s.op, s.ins, step_dys);
    } else {
      const RuleEntry& entry = rule_entry(s.op->kind());
      if (entry.kind == Differentiability::kNotDifferentiable) continue;
      if (entry.kind == Differentiability::kMissing) rule_for(s.op->kind());  // throws
      if (s.outs.size() == 1 && !step_dys[0]) continue;
      OpCall call{s.op->kind(), s.op->attrs(), s.ins, s.outs, any_masked};
      dxs = entry.rule(call, step_dys);
      out_masked = any_masked || entry.masks;
    }
    for (size_t i = 0; i < dxs.size() && i < s.ins.size(); ++i) {
      if (dxs[i] && is_floating(s.ins[i].dtype())) accumulate(s.ins[i], *dxs[i], out_masked);
    }
  }
  std::vector<std::optional<Tensor>> out;
  for (const Tensor& x : inputs) {
    auto found = cot.find(x.impl());
    out.push_back(found == cot.end() ? std::nullopt : std::optional<Tensor>(found->second));
  }
  return out;
}

}  // namespace

std::vector<std::optional<Tensor>> cond_gradient(const ir::Op& op, std::span<const Tensor> operands,
                                                 std::span<const std::optional<Tensor>> dys) {
  std::vector<std::optional<Tensor>> result(operands.size());
  const Tensor& pred = operands[0];
  const std::vector<Tensor> inputs(operands.begin() + 1, operands.end());
  std::vector<size_t> floating;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (is_floating(inputs[i].dtype())) floating.push_back(i);
  }
  if (floating.empty()) return result;
  const auto backward = [&](int r) {
    return [&, r] {
      std::vector<Step> steps;
      const std::vector<Tensor> outs = replay(*op.region(r), inputs, &steps);
      const std::vector<std::optional<Tensor>> dxs = sweep(steps, outs, dys, inputs);
      std::vector<Tensor> yielded;
      for (size_t i : floating) {
        yielded.push_back(dxs[i] ? *dxs[i] : zeros(ir::Type{inputs[i].dtype(), inputs[i].shape()}));
      }
      return yielded;
    };
  };
  const std::vector<Tensor> grads = cond(pred, backward(0), backward(1));
  for (size_t k = 0; k < floating.size(); ++k) result[floating[k] + 1] = grads[k];
  return result;
}

std::vector<std::optional<Tensor>> while_gradient(const ir::Op& op,
                                                  std::span<const Tensor> operands,
                                                  std::span<const std::optional<Tensor>> dys) {
  const size_t n = static_cast<size_t>(op.num_results());
  std::vector<std::optional<Tensor>> result(operands.size());
  const std::vector<Tensor> init(operands.begin(), operands.begin() + n);
  const std::vector<Tensor> invariants(operands.begin() + n, operands.end());
  std::vector<size_t> fv, fi;  // floating loop variables / invariants
  for (size_t j = 0; j < n; ++j) {
    if (is_floating(init[j].dtype())) fv.push_back(j);
  }
  for (size_t i = 0; i < invariants.size(); ++i) {
    if (is_floating(invariants[i].dtype())) fi.push_back(i);
  }
  bool any = false;
  for (size_t j : fv) any = any || (j < dys.size() && dys[j]);
  if (!any) return result;
  // Variables the body assigns are the last loop variables (attr `variables`, their names).
  if (auto it = op.attrs().find("variables"); it != op.attrs().end()) {
    const std::string& names = std::get<std::string>(it->second);
    size_t k = n, begin = 0;
    for (size_t c = 0; c <= names.size(); ++c) k -= (c == names.size() || names[c] == ',');
    for (size_t j = k; j < n; ++j) {
      const size_t end = std::min(names.find(',', begin), names.size());
      if (is_floating(init[j].dtype())) {
        throw UnimplementedError(
            cat("the gradient of a kiln::while_loop whose body assigns "
                "Variable '",
                names.substr(begin, end - begin),
                "' is not supported; assign it after the loop, or compute "
                "the gradient outside the function"));
      }
      begin = end + 1;
    }
  }
  WhileLoopOptions options;
  if (auto it = op.attrs().find("maximum_iterations"); it != op.attrs().end()) {
    options.maximum_iterations = std::get<int64_t>(it->second);
  }
  const auto args_of = [&](std::span<const Tensor> vars) {
    std::vector<Tensor> all(vars.begin(), vars.end());
    all.insert(all.end(), invariants.begin(), invariants.end());
    return all;
  };
  // Loops whose first variable counts iterations, the rest the forward loop variables.
  const auto step_forward = [&](const std::vector<Tensor>& v) {
    std::vector<Tensor> next{v[0] + 1};
    const std::vector<Tensor> body =
        replay(*op.region(1), args_of(std::span(v).subspan(1)), nullptr);
    next.insert(next.end(), body.begin(), body.end());
    return next;
  };
  std::vector<Tensor> counted{constant(0)};
  counted.insert(counted.end(), init.begin(), init.end());

  // 1) The trip count of the forward loop.
  const Tensor trips = while_loop(
      [&](const std::vector<Tensor>& v) {
        return replay(*op.region(0), args_of(std::span(v).subspan(1)), nullptr)[0];
      },
      step_forward, counted, options)[0];

  // 2) Iterations k = trips-1 ... 0, latest first: recompute the loop variables entering
  // iteration k from the initial values, then run the body's backward sweep on them. Carried:
  // k+1, the cotangents of the floating loop variables, those accumulated for the invariants.
  std::vector<Tensor> carried{trips};
  for (size_t j : fv) {
    carried.push_back(j < dys.size() && dys[j] ? *dys[j]
                                               : zeros(ir::Type{init[j].dtype(), init[j].shape()}));
  }
  for (size_t i : fi) {
    carried.push_back(zeros(ir::Type{invariants[i].dtype(), invariants[i].shape()}));
  }
  const std::vector<Tensor> done = while_loop(
      [](const std::vector<Tensor>& v) { return v[0] > 0; },
      [&](const std::vector<Tensor>& v) {
        const Tensor k = v[0] - 1;
        std::vector<Tensor> entering = while_loop(
            [&](const std::vector<Tensor>& w) { return w[0] < k; }, step_forward, counted);
        entering.erase(entering.begin());
        std::vector<Step> steps;
        const std::vector<Tensor> inputs = args_of(entering);
        const std::vector<Tensor> outs = replay(*op.region(1), inputs, &steps);
        std::vector<std::optional<Tensor>> body_dys(n);
        for (size_t a = 0; a < fv.size(); ++a) body_dys[fv[a]] = v[1 + a];
        const std::vector<std::optional<Tensor>> dxs = sweep(steps, outs, body_dys, inputs);
        std::vector<Tensor> next{k};
        for (size_t j : fv) {
          next.push_back(dxs[j] ? *dxs[j] : zeros(ir::Type{init[j].dtype(), init[j].shape()}));
        }
        for (size_t b = 0; b < fi.size(); ++b) {
          const Tensor& acc = v[1 + fv.size() + b];
          const auto& dx = dxs[n + fi[b]];
          next.push_back(dx ? acc + *dx : acc);
        }
        return next;
      },
      carried);
  for (size_t a = 0; a < fv.size(); ++a) result[fv[a]] = done[1 + a];
  for (size_t b = 0; b < fi.size(); ++b) result[n + fi[b]] = done[1 + fv.size() + b];
  return result;
}

}  // namespace kiln::gradients
