// kiln — kiln::cond and kiln::while_loop: eager execution and tracing into region ops.
#include "runtime/control_flow.h"

#include <memory>

#include "ir/function.h"
#include "runtime/tape_hooks.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

std::string type_of(const Tensor& t) { return ir::Type{t.dtype(), t.shape()}.to_string(); }

void check_predicate(std::string_view op, std::string_view what, const Tensor& pred) {
  if (!pred.defined()) throw InvalidArgumentError(cat(op, ": ", what, " is an empty Tensor"));
  if (pred.dtype() != DType::kBool || pred.shape().rank() != 0) {
    throw InvalidArgumentError(
        cat(op, ": ", what, " must be a bool scalar (bool[]) but is ", type_of(pred)));
  }
}

// The body's results against the loop variables they replace (same count, dtypes, shapes).
void check_loop_step(const std::vector<Tensor>& vars, const std::vector<Tensor>& next) {
  if (next.size() != vars.size()) {
    throw InvalidArgumentError(cat("while_loop: body_fn returned ", next.size(), " Tensor(s) for ",
                                   vars.size(), " loop variable(s)"));
  }
  for (size_t j = 0; j < vars.size(); ++j) {
    if (!next[j].defined()) {
      throw InvalidArgumentError(
          cat("while_loop: body_fn returned an empty Tensor for loop "
              "variable #",
              j));
    }
    if (next[j].dtype() != vars[j].dtype() || !(next[j].shape() == vars[j].shape())) {
      throw InvalidArgumentError(cat("while_loop: loop variable #", j, " enters the loop as ",
                                     type_of(vars[j]), " but has ", type_of(next[j]),
                                     " after one iteration; the body must keep each loop "
                                     "variable's dtype and shape"));
    }
  }
}

// Records `kind` on the recording GradientTapes (while tracing: the region op as one step).
void record_on_tapes(ir::OpKind kind, const ir::Attrs& attrs, std::vector<Tensor> inputs,
                     const std::vector<Tensor>& outputs) {
  if (internal::tapes_live()) internal::record_op(kind, attrs, inputs, outputs);
}

// Traces `fn` into `region` (a region of the op being built under `trace`) and ends the region
// with `yield` of its results; returns the yielded types.
std::vector<ir::Type> trace_region(TraceContext& trace, ir::Block* region, RegionCaptures& caps,
                                   const std::function<std::vector<Tensor>(TraceContext&)>& fn) {
  internal::PauseAllTapes pause;  // the op is recorded as a whole
  TraceContext inner(&trace, region, &caps);
  const std::vector<Tensor> outs = fn(inner);
  std::vector<ir::Value*> values;
  std::vector<ir::Type> types;
  for (const Tensor& t : outs) {
    values.push_back(inner.value_of(t));
    types.push_back(values.back()->type());
  }
  inner.builder().create_op(ir::OpKind::kYield, std::move(values), {});
  return types;
}

std::vector<Tensor> traced_cond(TraceContext& trace, const Tensor& pred,
                                const std::function<std::vector<Tensor>()>& true_fn,
                                const std::function<std::vector<Tensor>()>& false_fn) {
  ir::Value* p = trace.value_of(pred);
  std::unique_ptr<ir::Op> op = ir::Op::create(ir::OpKind::kCond, {}, {});
  RegionCaptures caps;
  caps.regions = {&op->add_region(), &op->add_region()};
  caps.first_argument = 0;
  const std::function<std::vector<Tensor>()>* fns[] = {&true_fn, &false_fn};
  std::vector<ir::Type> types[2];
  for (int r = 0; r < 2; ++r) {
    types[r] =
        trace_region(trace, caps.regions[r], caps, [&](TraceContext&) { return (*fns[r])(); });
  }
  if (types[0].size() != types[1].size()) {
    throw InvalidArgumentError(cat("cond: true_fn returned ", types[0].size(),
                                   " Tensor(s) but false_fn returned ", types[1].size(),
                                   "; both branches must return the same structure"));
  }
  for (size_t i = 0; i < types[0].size(); ++i) {
    if (!(types[0][i] == types[1][i])) {
      throw InvalidArgumentError(cat("cond: result #", i, " is ", types[0][i], " in true_fn but ",
                                     types[1][i],
                                     " in false_fn; both branches must return the "
                                     "same dtypes and shapes"));
    }
  }
  std::vector<ir::Value*> operands{p};
  operands.insert(operands.end(), caps.outer.begin(), caps.outer.end());
  op->set_operands(std::move(operands));
  for (const ir::Type& t : types[0]) op->add_result(t);
  ir::Op* placed = trace.builder().insert(std::move(op));
  std::vector<Tensor> results;
  for (int i = 0; i < placed->num_results(); ++i) {
    results.push_back(Tensor::symbolic(placed->result(i), trace.id()));
  }
  std::vector<Tensor> inputs{pred};
  inputs.insert(inputs.end(), caps.outer_tensors.begin(), caps.outer_tensors.end());
  record_on_tapes(ir::OpKind::kCond, placed->attrs(), std::move(inputs), results);
  return results;
}

std::vector<Tensor> traced_while(
    TraceContext& trace, const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
    const std::vector<Tensor>& loop_vars, const WhileLoopOptions& options) {
  ir::Attrs attrs;
  if (options.maximum_iterations) attrs["maximum_iterations"] = *options.maximum_iterations;
  std::unique_ptr<ir::Op> op = ir::Op::create(ir::OpKind::kWhile, {}, {}, attrs);
  RegionCaptures caps;
  caps.regions = {&op->add_region(), &op->add_region()};
  std::vector<ir::Value*> operands;
  std::vector<ir::Type> types;
  for (const Tensor& v : loop_vars) {
    operands.push_back(trace.value_of(v));
    types.push_back(operands.back()->type());
    for (ir::Block* region : caps.regions) region->add_argument(types.back());
  }
  caps.first_argument = static_cast<int>(loop_vars.size());
  const auto arguments = [&](TraceContext& inner, const ir::Block* region) {
    std::vector<Tensor> args;
    for (size_t j = 0; j < loop_vars.size(); ++j) {
      args.push_back(Tensor::symbolic(region->argument(static_cast<int>(j)), inner.id()));
    }
    return args;
  };
  trace_region(trace, caps.regions[0], caps, [&](TraceContext& inner) {
    Tensor c = cond_fn(arguments(inner, caps.regions[0]));
    check_predicate("while_loop", "the result of cond_fn", c);
    return std::vector<Tensor>{c};
  });
  trace_region(trace, caps.regions[1], caps, [&](TraceContext& inner) {
    std::vector<Tensor> args = arguments(inner, caps.regions[1]);
    std::vector<Tensor> next = body_fn(args);
    check_loop_step(args, next);
    return next;
  });
  operands.insert(operands.end(), caps.outer.begin(), caps.outer.end());
  op->set_operands(std::move(operands));
  for (const ir::Type& t : types) op->add_result(t);
  ir::Op* placed = trace.builder().insert(std::move(op));
  std::vector<Tensor> results;
  for (int i = 0; i < placed->num_results(); ++i) {
    results.push_back(Tensor::symbolic(placed->result(i), trace.id()));
  }
  std::vector<Tensor> inputs = loop_vars;
  inputs.insert(inputs.end(), caps.outer_tensors.begin(), caps.outer_tensors.end());
  record_on_tapes(ir::OpKind::kWhile, placed->attrs(), std::move(inputs), results);
  return results;
}

}  // namespace

std::vector<Tensor> cond(const Tensor& pred, const std::function<std::vector<Tensor>()>& true_fn,
                         const std::function<std::vector<Tensor>()>& false_fn) {
  check_predicate("cond", "the predicate", pred);
  if (!true_fn || !false_fn) throw InvalidArgumentError("cond: true_fn and false_fn must be set");
  if (TraceContext* trace = TraceContext::current()) {
    return traced_cond(*trace, pred, true_fn, false_fn);
  }
  return pred.item<bool>() ? true_fn() : false_fn();
}

Tensor cond(const Tensor& pred, const std::function<Tensor()>& true_fn,
            const std::function<Tensor()>& false_fn) {
  if (!true_fn || !false_fn) throw InvalidArgumentError("cond: true_fn and false_fn must be set");
  return cond(
      pred, [&] { return std::vector<Tensor>{true_fn()}; },
      [&] { return std::vector<Tensor>{false_fn()}; })[0];
}

std::vector<Tensor> while_loop(
    const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
    std::vector<Tensor> loop_vars, const WhileLoopOptions& options) {
  if (!cond_fn || !body_fn) {
    throw InvalidArgumentError("while_loop: cond_fn and body_fn must be set");
  }
  if (loop_vars.empty()) throw InvalidArgumentError("while_loop: loop_vars is empty");
  for (size_t j = 0; j < loop_vars.size(); ++j) {
    if (!loop_vars[j].defined()) {
      throw InvalidArgumentError(cat("while_loop: loop variable #", j, " is an empty Tensor"));
    }
  }
  if (options.maximum_iterations && *options.maximum_iterations < 0) {
    throw InvalidArgumentError(cat("while_loop: maximum_iterations must be non-negative, got ",
                                   *options.maximum_iterations));
  }
  if (TraceContext* trace = TraceContext::current()) {
    return traced_while(*trace, cond_fn, body_fn, loop_vars, options);
  }
  for (int64_t i = 0; !options.maximum_iterations || i < *options.maximum_iterations; ++i) {
    const Tensor c = cond_fn(loop_vars);
    check_predicate("while_loop", "the result of cond_fn", c);
    if (!c.item<bool>()) break;
    std::vector<Tensor> next = body_fn(loop_vars);
    check_loop_step(loop_vars, next);
    loop_vars = std::move(next);
  }
  return loop_vars;
}

Tensor while_loop(const std::function<Tensor(const Tensor&)>& cond_fn,
                  const std::function<Tensor(const Tensor&)>& body_fn, Tensor loop_var,
                  const WhileLoopOptions& options) {
  if (!cond_fn || !body_fn) {
    throw InvalidArgumentError("while_loop: cond_fn and body_fn must be set");
  }
  return while_loop(
      [&](const std::vector<Tensor>& v) { return cond_fn(v[0]); },
      [&](const std::vector<Tensor>& v) { return std::vector<Tensor>{body_fn(v[0])}; },
      std::vector<Tensor>{std::move(loop_var)}, options)[0];
}

}  // namespace kiln
