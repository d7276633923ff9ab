// kiln — kiln::cond and kiln::while_loop: eager execution and tracing into region ops.
#include "runtime/control_flow.h"

#include <memory>
#include <optional>
#include <span>

#include "ir/function.h"
#include "runtime/tape_hooks.h"
#include "runtime/trace.h"
#include "runtime/variable.h"
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

// A Variable a region wrote (or had bound): its final value inside the region.
struct RegionVariableValue {
  const Variable* variable;
  std::shared_ptr<internal::VariableState> state;
  bool written;
  ir::Value* value;
};

// What tracing one region produced; its `yield` is emitted by the caller (which may add the
// Variables' values to it).
struct TracedRegion {
  std::vector<ir::Value*> values;
  std::vector<ir::Type> types;
  std::vector<RegionVariableValue> variables;
  std::vector<const Variable*> reads;  // read through the enclosing trace
};

// Before the op is recorded on the tapes: the Variables its regions read through `trace` are
// read there too, so a recording tape watches their values (operands of the op) as it watches
// an eager read; inside another region the read passes on to the enclosing op.
void note_region_reads(TraceContext& trace, std::span<const TracedRegion> regions) {
  for (const TracedRegion& r : regions) {
    for (const Variable* v : r.reads) {
      const Tensor& value = trace.read_variable(*v);
      if (internal::tapes_live()) internal::note_variable_read(*v, value);
    }
  }
}

// Traces `fn` into `region` (a region of the op being built under `trace`). `bound[j]` reads as
// region argument first_bound + j (a loop-carried Variable); `writes_allowed` is false for a
// while_loop's condition.
TracedRegion trace_region(TraceContext& trace, ir::Block* region, RegionCaptures& caps,
                          const std::function<std::vector<Tensor>(TraceContext&)>& fn,
                          std::span<const Variable* const> bound = {}, int first_bound = 0,
                          bool writes_allowed = true) {
  internal::PauseAllTapes pause;  // the op is recorded as a whole
  TraceContext inner(&trace, region, &caps);
  inner.set_variable_writes_allowed(writes_allowed);
  for (size_t j = 0; j < bound.size(); ++j) {
    inner.bind_variable(
        *bound[j],
        Tensor::symbolic(region->argument(first_bound + static_cast<int>(j)), inner.id()));
  }
  const std::vector<Tensor> outs = fn(inner);
  TracedRegion r;
  for (const Tensor& t : outs) {
    r.values.push_back(inner.value_of(t));
    r.types.push_back(r.values.back()->type());
  }
  for (const TraceContext::RegionVariable& v : inner.region_variables()) {
    r.variables.push_back({v.variable, v.state, v.written, inner.value_of(v.current)});
  }
  r.reads = inner.region_reads();
  return r;
}

const RegionVariableValue* find_variable(const TracedRegion& r,
                                         const std::shared_ptr<internal::VariableState>& state) {
  for (const RegionVariableValue& v : r.variables) {
    if (v.state == state) return &v;
  }
  return nullptr;
}

void emit_yield(ir::Block* region, std::vector<ir::Value*> values) {
  ir::Builder(region).create_op(ir::OpKind::kYield, std::move(values), {});
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
  TracedRegion traced[2];
  for (int r = 0; r < 2; ++r) {
    traced[r] =
        trace_region(trace, caps.regions[r], caps, [&](TraceContext&) { return (*fns[r])(); });
  }
  const std::vector<ir::Type>* types[] = {&traced[0].types, &traced[1].types};
  if (types[0]->size() != types[1]->size()) {
    throw InvalidArgumentError(cat("cond: true_fn returned ", types[0]->size(),
                                   " Tensor(s) but false_fn returned ", types[1]->size(),
                                   "; both branches must return the same structure"));
  }
  for (size_t i = 0; i < types[0]->size(); ++i) {
    if (!((*types[0])[i] == (*types[1])[i])) {
      throw InvalidArgumentError(cat("cond: result #", i, " is ", (*types[0])[i],
                                     " in true_fn but ", (*types[1])[i],
                                     " in false_fn; both branches must return the "
                                     "same dtypes and shapes"));
    }
  }
  // Variables assigned in either branch become extra results: each branch yields its final
  // value, or the value on entry if it does not assign it.
  std::vector<const RegionVariableValue*> written;
  for (const TracedRegion& r : traced) {
    for (const RegionVariableValue& v : r.variables) {
      bool seen = false;
      for (const RegionVariableValue* w : written) seen = seen || w->state == v.state;
      if (v.written && !seen) written.push_back(&v);
    }
  }
  for (int r = 0; r < 2; ++r) {
    std::vector<ir::Value*> values = traced[r].values;
    for (const RegionVariableValue* w : written) {
      if (const RegionVariableValue* own = find_variable(traced[r], w->state)) {
        values.push_back(own->value);
      } else {
        TraceContext capture(&trace, caps.regions[r], &caps);
        values.push_back(capture.value_of(trace.read_variable(*w->variable)));
      }
    }
    emit_yield(caps.regions[r], std::move(values));
  }
  std::vector<ir::Value*> operands{p};
  operands.insert(operands.end(), caps.outer.begin(), caps.outer.end());
  op->set_operands(std::move(operands));
  for (const ir::Type& t : *types[0]) op->add_result(t);
  for (const RegionVariableValue* w : written) op->add_result(w->value->type());
  ir::Op* placed = trace.builder().insert(std::move(op));
  std::vector<Tensor> results;
  for (int i = 0; i < placed->num_results(); ++i) {
    results.push_back(Tensor::symbolic(placed->result(i), trace.id()));
  }
  note_region_reads(trace, traced);
  std::vector<Tensor> inputs{pred};
  inputs.insert(inputs.end(), caps.outer_tensors.begin(), caps.outer_tensors.end());
  record_on_tapes(ir::OpKind::kCond, placed->attrs(), std::move(inputs), results);
  const size_t n = types[0]->size();
  for (size_t k = 0; k < written.size(); ++k) {
    trace.write_variable(*written[k]->variable, results[n + k]);
  }
  results.resize(n);
  return results;
}

// One trace of a while_loop whose body assigns the Variables `carried` (loop variables after the
// user's). Returns nullopt, with the op discarded, if the body assigns other Variables too
// (appended to `carried`, for the caller to trace again).
std::optional<std::vector<Tensor>> trace_while_once(
    TraceContext& trace, const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
    const std::vector<Tensor>& loop_vars, const WhileLoopOptions& options,
    std::vector<const Variable*>& carried) {
  ir::Attrs attrs;
  if (options.maximum_iterations) attrs["maximum_iterations"] = *options.maximum_iterations;
  if (!carried.empty()) {
    // The names of the Variables carried as the last loop variables (for the gradient's error).
    std::string names;
    for (const Variable* v : carried) {
      std::string name = v->name();
      for (char& c : name) c = c == ',' ? '_' : c;
      names += cat(names.empty() ? "" : ",", name);
    }
    attrs["variables"] = names;
  }
  std::unique_ptr<ir::Op> op = ir::Op::create(ir::OpKind::kWhile, {}, {}, attrs);
  RegionCaptures caps;
  caps.regions = {&op->add_region(), &op->add_region()};
  std::vector<ir::Value*> operands;
  std::vector<ir::Type> types;
  std::vector<Tensor> entering = loop_vars;
  for (const Variable* v : carried) entering.push_back(trace.read_variable(*v));
  for (const Tensor& v : entering) {
    operands.push_back(trace.value_of(v));
    types.push_back(operands.back()->type());
    for (ir::Block* region : caps.regions) region->add_argument(types.back());
  }
  const int n = static_cast<int>(loop_vars.size());
  caps.first_argument = static_cast<int>(entering.size());
  const auto arguments = [&](TraceContext& inner, const ir::Block* region) {
    std::vector<Tensor> args;
    for (int j = 0; j < n; ++j) args.push_back(Tensor::symbolic(region->argument(j), inner.id()));
    return args;
  };
  TracedRegion head = trace_region(
      trace, caps.regions[0], caps,
      [&](TraceContext& inner) {
        Tensor c = cond_fn(arguments(inner, caps.regions[0]));
        check_predicate("while_loop", "the result of cond_fn", c);
        return std::vector<Tensor>{c};
      },
      carried, n, /*writes_allowed=*/false);
  TracedRegion body = trace_region(
      trace, caps.regions[1], caps,
      [&](TraceContext& inner) {
        std::vector<Tensor> args = arguments(inner, caps.regions[1]);
        std::vector<Tensor> next = body_fn(args);
        check_loop_step(args, next);
        return next;
      },
      carried, n);
  const size_t known = carried.size();
  for (const RegionVariableValue& v : body.variables) {
    if (!v.written) continue;
    bool seen = false;
    for (const Variable* c : carried) seen = seen || c->state() == v.state;
    if (!seen) carried.push_back(v.variable);
  }
  if (carried.size() != known) return std::nullopt;
  emit_yield(caps.regions[0], std::move(head.values));
  std::vector<ir::Value*> next = std::move(body.values);
  for (const Variable* v : carried) next.push_back(find_variable(body, v->state())->value);
  emit_yield(caps.regions[1], std::move(next));
  operands.insert(operands.end(), caps.outer.begin(), caps.outer.end());
  op->set_operands(std::move(operands));
  for (const ir::Type& t : types) op->add_result(t);
  ir::Op* placed = trace.builder().insert(std::move(op));
  std::vector<Tensor> results;
  for (int i = 0; i < placed->num_results(); ++i) {
    results.push_back(Tensor::symbolic(placed->result(i), trace.id()));
  }
  const TracedRegion regions[] = {std::move(head), std::move(body)};
  note_region_reads(trace, regions);
  std::vector<Tensor> inputs = entering;
  inputs.insert(inputs.end(), caps.outer_tensors.begin(), caps.outer_tensors.end());
  record_on_tapes(ir::OpKind::kWhile, placed->attrs(), std::move(inputs), results);
  for (size_t k = 0; k < carried.size(); ++k) trace.write_variable(*carried[k], results[n + k]);
  results.resize(n);
  return results;
}

// A body that assigns Variables is traced a second time with them as extra loop variables from
// the start, so that every read in the condition and the body sees the current iteration's value.
std::vector<Tensor> traced_while(
    TraceContext& trace, const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
    const std::vector<Tensor>& loop_vars, const WhileLoopOptions& options) {
  std::vector<const Variable*> carried;
  if (auto results = trace_while_once(trace, cond_fn, body_fn, loop_vars, options, carried)) {
    return *results;
  }
  const size_t first = carried.size();
  if (auto results = trace_while_once(trace, cond_fn, body_fn, loop_vars, options, carried)) {
    return *results;
  }
  throw InvalidArgumentError(cat("while_loop: body_fn assigned Variable '", carried[first]->name(),
                                 "' only on its second trace; the Variables a traced loop body "
                                 "assigns must not depend on how often it was traced"));
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
