// kiln — GradientTape: recording, the backward sweep, jacobians, custom gradients.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "runtime/array_ops.h"
#include "runtime/dispatch.h"
#include "runtime/gradient_tape.h"
#include "runtime/gradients/rules.h"
#include "runtime/math_ops.h"
#include "runtime/trace.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace internal {

thread_local constinit int tl_live_tapes = 0;

namespace {
using ImplPtr = const TensorImpl*;
}  // namespace

// One recorded op (or custom gradient).
struct Record {
  ir::OpKind kind = ir::OpKind::kConst;
  ir::Attrs attrs;
  absl::InlinedVector<Tensor, 3> inputs;  // inline: recording an op allocates nothing extra
  absl::InlinedVector<Tensor, 1> outputs;
  std::shared_ptr<CustomBackward> custom;  // set for custom_gradient records
};

class TapeImpl {
 public:
  explicit TapeImpl(GradientTapeOptions options) : options_(options) {
    // Room for a typical short computation: no regrowth (and no rehash) while it records.
    records_.reserve(64);
    connected_.reserve(64);
  }

  bool recording() const { return paused_ == 0; }
  void pause() { ++paused_; }
  void resume() { --paused_; }

  bool watches(ImplPtr p) const { return connected_.count(p) != 0; }
  bool watches_any(std::span<const Tensor> ts) const {
    for (const Tensor& t : ts) {
      if (t.defined() && watches(t.impl())) return true;
    }
    return false;
  }

  void watch(const Tensor& t) {
    if (!t.defined()) throw InvalidArgumentError("GradientTape.watch: the Tensor is empty");
    if (!is_floating(t.dtype())) return;  // TF: only floating tensors carry gradients
    if (connected_.insert(t.impl()).second) keep_.push_back(t);
  }
  void watch_variable(const Variable& v, const Tensor& value) {
    if (!is_floating(value.dtype())) return;
    auto& reads = variable_reads_[v.id()];
    if (std::none_of(reads.begin(), reads.end(),
                     [&](const Tensor& r) { return r.impl() == value.impl(); })) {
      reads.push_back(value);
    }
    watch(value);
  }
  bool watch_accessed_variables() const { return options_.watch_accessed_variables; }

  // A new, empty record at the end of the tape (filled in place: no moves of its tensors).
  Record& add_record() { return records_.emplace_back(); }
  // Marks `r`'s floating outputs as connected, once `r` is filled.
  void connect_outputs(const Record& r) {
    for (const Tensor& t : r.outputs) {
      if (t.defined() && is_floating(t.dtype())) connected_.insert(t.impl());
    }
  }
  void add(Record r) {
    connect_outputs(r);
    records_.push_back(std::move(r));
  }

  std::vector<Tensor> watched() const { return keep_; }

  std::vector<std::optional<Tensor>> gradient(const Tensor& target, std::span<const Source> sources,
                                              const std::optional<Tensor>& seed,
                                              UnconnectedGradients unconnected);
  Tensor jacobian(const Tensor& target, const Source& source, bool batch);

 private:
  // The tensors standing for `s` on this tape: the Tensor, or the values read of a Variable.
  std::vector<Tensor> source_tensors(const Source& s) const;
  void begin_use(std::string_view what);
  // The backward sweep from `target` with cotangent `seed`; returns the cotangent of every
  // tensor it reached.
  std::unordered_map<ImplPtr, Tensor> backward(const Tensor& target, const Tensor& seed) const;
  // The tensors from which `target` is reachable through recorded ops.
  std::unordered_set<ImplPtr> reaching(const Tensor& target) const;
  // The sweep over the recorded ops, eager or traced in place.
  std::vector<std::optional<Tensor>> backward_gradient(const Tensor& target,
                                                       std::span<const Source> sources,
                                                       const Tensor& seed,
                                                       UnconnectedGradients unconnected);
  // True if every op the IR has between the grad op's sources and target was recorded.
  bool ir_path_is_recorded(const Tensor& target, std::span<const Tensor> operands) const;
  std::vector<std::optional<Tensor>> traced_gradient(const Tensor& target,
                                                     std::span<const Source> sources,
                                                     const Tensor& seed,
                                                     UnconnectedGradients unconnected);

  GradientTapeOptions options_;
  int paused_ = 0;
  bool used_ = false;
  std::vector<Record> records_;
  absl::flat_hash_set<ImplPtr> connected_;
  std::vector<Tensor> keep_;  // watched tensors, kept alive so their identity stays unique
  std::unordered_map<uint64_t, std::vector<Tensor>> variable_reads_;
  friend class kiln::GradientTape;
};

namespace {

// The tapes alive on this thread, innermost last.
thread_local std::vector<TapeImpl*> tl_tapes;
// While a custom_gradient's forward runs: the Variables it reads.
thread_local std::vector<const Variable*>* tl_variable_reads = nullptr;

struct VariableReadCollector {
  explicit VariableReadCollector(std::vector<const Variable*>* out) : saved(tl_variable_reads) {
    tl_variable_reads = out;
  }
  ~VariableReadCollector() { tl_variable_reads = saved; }
  std::vector<const Variable*>* saved;
};

// The operands [first, end) of `op` through which a gradient can flow: all of them, but for a
// custom_grad only its inputs (not the forward value, computed with recording paused, nor the
// values its gradient region captures).
std::pair<int, int> flowing_operands(const ir::Op& op) {
  if (op.kind() != ir::OpKind::kCustomGrad) return {0, op.num_operands()};
  const ir::Op* yield = op.region() ? op.region()->terminator() : nullptr;
  return {1, 1 + (yield ? yield->num_operands() : 0)};
}

Tensor ones_seed(const Tensor& target) {
  return broadcast_to(gradients::scalar_of(target, 1.0), target.shape());
}

void accumulate(std::unordered_map<ImplPtr, Tensor>& grads,
                std::unordered_map<ImplPtr, bool>& masked, ImplPtr p, Tensor g, bool m) {
  auto [it, inserted] = grads.try_emplace(p, g);
  if (!inserted) it->second = add(it->second, g);
  masked[p] = masked[p] || m;
}

}  // namespace

void record_op(ir::OpKind kind, const ir::Attrs& attrs, std::span<const Tensor> inputs,
               std::span<const Tensor> outputs) {
  const gradients::RuleEntry* entry = nullptr;
  for (TapeImpl* tape : tl_tapes) {
    if (!tape->recording() || !tape->watches_any(inputs)) continue;
    if (!entry) entry = &gradients::rule_entry(kind);
    // Outputs of non-differentiable ops are not connected: no gradient flows through them.
    if (entry->kind == gradients::Differentiability::kNotDifferentiable) continue;
    Record& r = tape->add_record();
    r.kind = kind;
    if (!attrs.empty()) r.attrs = attrs;
    r.inputs.assign(inputs.begin(), inputs.end());
    r.outputs.assign(outputs.begin(), outputs.end());
    tape->connect_outputs(r);
  }
}

void record_custom(std::span<const Tensor> inputs, std::span<const Tensor> outputs,
                   CustomBackward backward) {
  auto shared = std::make_shared<CustomBackward>(std::move(backward));
  for (TapeImpl* tape : tl_tapes) {
    if (!tape->recording() || !tape->watches_any(inputs)) continue;
    Record r;
    r.inputs.assign(inputs.begin(), inputs.end());
    r.outputs.assign(outputs.begin(), outputs.end());
    r.custom = shared;
    tape->add(std::move(r));
  }
}

void note_variable_read(const Variable& var, const Tensor& value) {
  if (tl_variable_reads) tl_variable_reads->push_back(&var);
  if (!var.trainable()) return;
  for (TapeImpl* tape : tl_tapes) {
    if (tape->recording() && tape->watch_accessed_variables()) tape->watch_variable(var, value);
  }
}

PauseAllTapes::PauseAllTapes() {
  for (TapeImpl* t : tl_tapes) t->pause();
}
PauseAllTapes::~PauseAllTapes() {
  for (TapeImpl* t : tl_tapes) t->resume();
}

std::vector<Tensor> TapeImpl::source_tensors(const Source& s) const {
  if (const Tensor* t = s.tensor()) {
    if (!t->defined()) throw InvalidArgumentError("GradientTape.gradient: a source is empty");
    return {*t};
  }
  auto it = variable_reads_.find(s.variable()->id());
  if (it == variable_reads_.end()) return {};
  return it->second;
}

void TapeImpl::begin_use(std::string_view what) {
  if (used_ && !options_.persistent) {
    throw FailedPreconditionError(
        cat("GradientTape.", what,
            ": a non-persistent GradientTape can only be used to compute one set of gradients "
            "(or jacobians); create it with {.persistent = true} to call it again"));
  }
  used_ = true;
}

std::unordered_set<ImplPtr> TapeImpl::reaching(const Tensor& target) const {
  std::unordered_set<ImplPtr> live{target.impl()};
  for (auto r = records_.rbegin(); r != records_.rend(); ++r) {
    bool hit = false;
    for (const Tensor& o : r->outputs) hit = hit || live.count(o.impl());
    if (!hit) continue;
    for (const Tensor& i : r->inputs) live.insert(i.impl());
  }
  return live;
}

std::unordered_map<ImplPtr, Tensor> TapeImpl::backward(const Tensor& target,
                                                       const Tensor& seed) const {
  std::unordered_map<ImplPtr, Tensor> grads;
  std::unordered_map<ImplPtr, bool> masked;
  grads.emplace(target.impl(), seed);
  std::vector<std::optional<Tensor>> dys;
  for (auto r = records_.rbegin(); r != records_.rend(); ++r) {
    dys.clear();
    bool any = false, any_masked = false;
    for (const Tensor& o : r->outputs) {
      auto it = grads.find(o.impl());
      if (it == grads.end()) {
        dys.emplace_back();
      } else {
        dys.emplace_back(it->second);
        any = true;
        any_masked = any_masked || masked[o.impl()];
      }
    }
    if (!any) continue;
    gradients::Cotangents dxs;
    bool out_masked = any_masked;
    if (r->custom) {
      dxs = (*r->custom)(dys);
      if (dxs.size() != r->inputs.size()) {
        throw InvalidArgumentError(cat("custom_gradient: the gradient function returned ",
                                       dxs.size(), " cotangent(s) for ", r->inputs.size(),
                                       " input(s)"));
      }
    } else {
      const gradients::RuleEntry& entry = gradients::rule_entry(r->kind);
      if (entry.kind == gradients::Differentiability::kMissing) {
        gradients::rule_for(r->kind);  // throws, naming the op
      }
      if (entry.kind != gradients::Differentiability::kRule) continue;
      if (r->outputs.size() == 1 && !dys[0]) continue;
      gradients::OpCall call{r->kind, r->attrs, r->inputs, r->outputs, any_masked};
      dxs = entry.rule(call, dys);
      out_masked = out_masked || entry.masks;
    }
    for (size_t i = 0; i < r->inputs.size() && i < dxs.size(); ++i) {
      const Tensor& in = r->inputs[i];
      if (!dxs[i] || !watches(in.impl())) continue;
      if (!(dxs[i]->shape() == in.shape())) {
        throw InternalError(
            cat("gradient of '",
                r->custom ? std::string_view("custom_gradient") : ir::mnemonic(r->kind),
                "': cotangent of input #", i, " has shape ", dxs[i]->shape(),
                " but the input has shape ", in.shape()));
      }
      accumulate(grads, masked, in.impl(), *dxs[i], out_masked);
    }
  }
  return grads;
}

std::vector<std::optional<Tensor>> TapeImpl::gradient(const Tensor& target,
                                                      std::span<const Source> sources,
                                                      const std::optional<Tensor>& seed_in,
                                                      UnconnectedGradients unconnected) {
  if (!target.defined()) throw InvalidArgumentError("GradientTape.gradient: the target is empty");
  begin_use("gradient");
  Tensor seed = seed_in ? *seed_in : ones_seed(target);
  if (seed_in && (!(seed.shape() == target.shape()) || seed.dtype() != target.dtype())) {
    throw InvalidArgumentError(cat("GradientTape.gradient: output_gradients is ",
                                   ir::Type{seed.dtype(), seed.shape()}, " but the target is ",
                                   ir::Type{target.dtype(), target.shape()}));
  }
  // The backward ops are not recorded on this tape (enclosing tapes do record them).
  pause();
  struct Resume {
    TapeImpl* t;
    ~Resume() { t->resume(); }
  } resume{this};
  std::vector<std::optional<Tensor>> out;
  // Traced: a grad op for the autodiff pass (custom gradients are custom_grad ops in the IR).
  if (target.is_symbolic()) {
    out = traced_gradient(target, sources, seed, unconnected);
  } else {
    out = backward_gradient(target, sources, seed, unconnected);
  }
  if (!options_.persistent) {
    records_.clear();
    records_.shrink_to_fit();
  }
  return out;
}

// Inside kiln::function: a `grad` op over the sources the target depends on through recorded
// ops; the autodiff pass expands it.
std::vector<std::optional<Tensor>> TapeImpl::traced_gradient(const Tensor& target,
                                                             std::span<const Source> sources,
                                                             const Tensor& seed,
                                                             UnconnectedGradients unconnected) {
  const std::unordered_set<ImplPtr> live =
      watches(target.impl()) ? reaching(target) : std::unordered_set<ImplPtr>{};
  std::vector<Tensor> operands{target, seed};
  std::vector<int> slot(sources.size(), -1);
  for (size_t i = 0; i < sources.size(); ++i) {
    for (const Tensor& t : source_tensors(sources[i])) {
      if (!live.count(t.impl()) || !is_floating(t.dtype())) continue;
      slot[i] = static_cast<int>(operands.size()) - 2;
      operands.push_back(t);
      break;  // a Variable traced once reads as one value
    }
  }
  std::vector<Tensor> results;
  if (operands.size() > 2 && !ir_path_is_recorded(target, operands)) {
    // The IR connects a source to the target through ops this tape did not record (under
    // stop_recording, or before the tape watched the source): a grad op would differentiate
    // through them. Trace the backward sweep over the recorded ops instead.
    return backward_gradient(target, sources, seed, unconnected);
  }
  if (operands.size() > 2) results = dispatch_multi(ir::OpKind::kGrad, operands);
  std::vector<std::optional<Tensor>> out;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (slot[i] >= 0) {
      out.emplace_back(results[slot[i]]);
    } else if (unconnected == UnconnectedGradients::kZero) {
      const Tensor& like =
          sources[i].tensor() ? *sources[i].tensor() : sources[i].variable()->value();
      out.emplace_back(broadcast_to(gradients::scalar_of(like, 0.0), like.shape()));
    } else {
      out.emplace_back();
    }
  }
  return out;
}

bool TapeImpl::ir_path_is_recorded(const Tensor& target, std::span<const Tensor> operands) const {
  TraceContext* trace = TraceContext::current();
  if (!trace) return false;
  std::unordered_set<const ir::Value*> recorded;
  for (ImplPtr p : connected_) {
    if (p->value) recorded.insert(p->value);
  }
  std::unordered_set<const ir::Value*> depends;
  for (size_t i = 2; i < operands.size(); ++i) depends.insert(trace->value_of(operands[i]));
  std::vector<const ir::Op*> forward;
  for (const auto& op : trace->builder().block()->ops()) {
    if (op->kind() == ir::OpKind::kStopGradient) continue;
    const auto [first, end] = flowing_operands(*op);
    bool hit = false;
    for (int i = first; i < end; ++i) hit = hit || depends.count(op->operand(i));
    if (!hit) continue;
    forward.push_back(op.get());
    for (int r = 0; r < op->num_results(); ++r) depends.insert(op->result(r));
  }
  std::unordered_set<const ir::Value*> live{trace->value_of(target)};
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    const ir::Op* op = *it;
    bool reaches = false;
    for (int r = 0; r < op->num_results(); ++r) reaches = reaches || live.count(op->result(r));
    if (!reaches) continue;
    for (int r = 0; r < op->num_results(); ++r) {
      const ir::Value* v = op->result(r);
      // Broadcasts the tracer inserts for elementwise operands are not Tensors the tape sees.
      if (is_floating(v->type().dtype) && !recorded.count(v) &&
          op->kind() != ir::OpKind::kBroadcast) {
        return false;
      }
    }
    const auto [first, end] = flowing_operands(*op);
    for (int i = first; i < end; ++i) live.insert(op->operand(i));
  }
  return true;
}

std::vector<std::optional<Tensor>> TapeImpl::backward_gradient(const Tensor& target,
                                                               std::span<const Source> sources,
                                                               const Tensor& seed,
                                                               UnconnectedGradients unconnected) {
  std::unordered_map<ImplPtr, Tensor> grads;
  if (watches(target.impl()) && is_floating(target.dtype())) grads = backward(target, seed);
  std::vector<std::optional<Tensor>> out;
  for (const Source& s : sources) {
    std::optional<Tensor> g;
    for (const Tensor& t : source_tensors(s)) {
      auto it = grads.find(t.impl());
      if (it == grads.end()) continue;
      g = g ? kiln::add(*g, it->second) : it->second;
    }
    if (!g && unconnected == UnconnectedGradients::kZero) {
      const Tensor& like = s.tensor() ? *s.tensor() : s.variable()->value();
      g = broadcast_to(gradients::scalar_of(like, 0.0), like.shape());
    }
    out.push_back(std::move(g));
  }
  return out;
}

Tensor TapeImpl::jacobian(const Tensor& target, const Source& source, bool batch) {
  if (!target.defined()) throw InvalidArgumentError("GradientTape.jacobian: the target is empty");
  const Tensor src = source.tensor() ? *source.tensor() : source.variable()->value();
  const std::string_view what = batch ? "batch_jacobian" : "jacobian";
  if (batch && (target.rank() < 1 || src.rank() < 1 || target.shape()[0] != src.shape()[0])) {
    throw InvalidArgumentError(cat("GradientTape.batch_jacobian: target ", target.shape(),
                                   " and source ", src.shape(),
                                   " need the same leading (batch) dimension"));
  }
  begin_use(what);
  pause();
  struct Resume {
    TapeImpl* t;
    ~Resume() { t->resume(); }
  } resume{this};
  const int64_t b = batch ? target.shape()[0] : 1;
  const int64_t n = b == 0 ? 0 : target.num_elements() / b;  // target elements per row
  std::vector<int64_t> src_rest(src.shape().begin() + (batch ? 1 : 0), src.shape().end());
  std::vector<Tensor> rows;
  const bool connected = watches(target.impl());
  for (int64_t j = 0; j < n; ++j) {
    // seed: 1 at element j of every row
    Tensor hot =
        one_hot(constant(std::vector<int32_t>(b, static_cast<int32_t>(j)), Shape{b}), n, 1.0, 0.0);
    hot = reshape(cast(hot, target.dtype()), target.shape().dims());
    std::optional<Tensor> g;
    if (connected) {
      auto grads = backward(target, hot);
      for (const Tensor& t : source_tensors(source)) {
        auto it = grads.find(t.impl());
        if (it != grads.end()) g = g ? kiln::add(*g, it->second) : it->second;
      }
    }
    if (!g) g = broadcast_to(gradients::scalar_of(src, 0.0), src.shape());
    rows.push_back(*g);  // [b, src_rest...] or [src...]
  }
  std::vector<int64_t> out_dims;
  if (batch) out_dims.push_back(b);
  for (auto it = target.shape().begin() + (batch ? 1 : 0); it != target.shape().end(); ++it)
    out_dims.push_back(*it);
  out_dims.insert(out_dims.end(), src_rest.begin(), src_rest.end());
  if (!options_.persistent) records_.clear();
  if (n == 0) return zeros(Shape(out_dims), src.dtype());
  Tensor stacked = stack(rows, batch ? 1 : 0);  // [b, n, src_rest...] or [n, src...]
  return reshape(stacked, out_dims);
}

namespace {

bool any_tape_records(std::span<const Tensor> inputs) {
  for (TapeImpl* tape : tl_tapes) {
    if (tape->recording() && tape->watches_any(inputs)) return true;
  }
  return false;
}

// Makes the ops of `region` (traced with the function's own values) isolated from above: every
// value they use from outside becomes an operand of `op` and a region argument.
void close_region(ir::Op& op, ir::Block& region) {
  std::vector<ir::Value*> operands = op.operands();
  std::unordered_map<ir::Value*, ir::Value*> argument_of;
  for (size_t i = 0; i < operands.size(); ++i) {
    argument_of.try_emplace(operands[i], region.argument(static_cast<int>(i) + 1));
  }
  for (auto& inner : region.ops()) {
    for (int i = 0; i < inner->num_operands(); ++i) {
      ir::Value* v = inner->operand(i);
      const bool local = v->owner_block() == &region ||
                         (v->defining_op() && v->defining_op()->parent() == &region);
      if (local) continue;
      auto [it, fresh] = argument_of.try_emplace(v, nullptr);
      if (fresh) {
        operands.push_back(v);
        it->second = region.add_argument(v->type());
      }
      inner->set_operand(i, it->second);
    }
  }
  op.set_operands(std::move(operands));
}

// Inside kiln::function: `custom_grad %y0, %inputs..., %captures...` whose region is the
// gradient function traced once with a symbolic cotangent (docs/ir-format.md).
Tensor trace_custom_grad(TraceContext& trace, const CustomForward& result,
                         std::span<const Tensor> inputs, std::span<const Variable* const> vars) {
  ir::Builder& b = trace.builder();
  ir::Block* const block = b.block();
  const ir::Block::OpList::iterator pos = b.insertion_point();
  std::vector<ir::Value*> operands{trace.value_of(result.y)};
  for (const Tensor& t : inputs) operands.push_back(trace.value_of(t));
  const ir::Type type = operands[0]->type();
  ir::Op* op = b.create_op(ir::OpKind::kCustomGrad, operands, {type});
  ir::Block& region = op->create_region();
  Tensor dy = Tensor::symbolic(region.add_argument(type, "dy"), trace.id());
  for (ir::Value* v : operands) region.add_argument(v->type());
  struct Restore {
    ir::Builder& b;
    ir::Block* block;
    ir::Block::OpList::iterator pos;
    ~Restore() { b.set_insertion_point(block, pos); }
  } restore{b, block, pos};
  b.set_insertion_point_to_end(&region);
  std::vector<ir::Value*> cotangents;
  {
    PauseAllTapes pause;  // the region is not part of the function's forward computation
    const std::optional<Tensor> dys[] = {dy};
    std::vector<std::optional<Tensor>> dxs = result.backward(dys, vars);
    if (dxs.size() != inputs.size()) {
      throw InvalidArgumentError(cat("custom_gradient: the gradient function returned ", dxs.size(),
                                     " cotangent(s) for ", inputs.size(),
                                     " input(s) and variable(s)"));
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& x = inputs[i];
      // No gradient flows to a non-floating input (as eagerly): it gets zeros.
      Tensor dx = dxs[i] && is_floating(x.dtype())
                      ? *dxs[i]
                      : broadcast_to(gradients::scalar_of(x, 0.0), x.shape());
      if (!(dx.shape() == x.shape()) || dx.dtype() != x.dtype()) {
        throw InvalidArgumentError(cat("custom_gradient: the gradient function returned ",
                                       ir::Type{dx.dtype(), dx.shape()}, " for input #", i,
                                       " of type ", ir::Type{x.dtype(), x.shape()}));
      }
      cotangents.push_back(trace.value_of(dx));
    }
  }
  // A Variable assigned in the region would have its new value visible only there.
  for (const VariableCapture& c : trace.variables()) {
    const ir::Op* def = c.current.impl()->value->defining_op();
    for (const ir::Block* in = def ? def->parent() : nullptr; in;
         in = in->parent_op() ? in->parent_op()->parent() : nullptr) {
      if (in != &region) continue;
      throw InvalidArgumentError(cat("custom_gradient: the gradient function assigns Variable '",
                                     c.state->name,
                                     "'; inside kiln::function a gradient function cannot assign "
                                     "Variables"));
    }
  }
  b.create_op(ir::OpKind::kYield, std::move(cotangents), {});
  close_region(*op, region);
  return Tensor::symbolic(op->result(), trace.id());
}

}  // namespace

Tensor call_custom_gradient(std::span<const Tensor> inputs,
                            const std::function<CustomForward(std::span<const Tensor>)>& forward) {
  if (!tapes_live()) return forward(inputs).y;
  CustomForward result;
  std::vector<const Variable*> read;
  {
    PauseAllTapes pause;
    VariableReadCollector collect(&read);
    result = forward(inputs);
  }
  std::vector<const Variable*> vars;
  for (const Variable* v : read) {
    if (v->trainable() && std::find(vars.begin(), vars.end(), v) == vars.end()) vars.push_back(v);
  }
  if (!vars.empty() && !result.takes_variables) {
    throw InvalidArgumentError(
        cat("custom_gradient: the function reads Variable '", vars[0]->name(),
            "', so its gradient function must take (dy, variables) and return {input "
            "cotangents, variable cotangents}"));
  }
  // The Variables f read are inputs of the record too (watched as if read outside f).
  std::vector<Tensor> all(inputs.begin(), inputs.end());
  for (const Variable* v : vars) all.push_back(v->value());
  // The result gets its own identity: it may be an input or a tensor other ops produced.
  // Traced, it is a custom_grad op holding the traced gradient function.
  TraceContext* trace = TraceContext::current();
  Tensor y =
      trace && result.y.is_symbolic() && is_floating(result.y.dtype()) && any_tape_records(all)
          ? trace_custom_grad(*trace, result, all, vars)
          : result.y.alias();
  const Tensor outputs[] = {y};
  const size_t expected = all.size();
  record_custom(all, outputs,
                [backward = std::move(result.backward), vars,
                 expected](std::span<const std::optional<Tensor>> dys) {
                  std::vector<std::optional<Tensor>> c = backward(dys, vars);
                  if (c.size() != expected) {
                    throw InvalidArgumentError(
                        cat("custom_gradient: the gradient function returned ", c.size(),
                            " cotangent(s) for ", expected, " input(s) and variable(s)"));
                  }
                  return c;
                });
  return y;
}

}  // namespace internal

// ---- GradientTape ------------------------------------------------------------------------------

GradientTape::GradientTape(GradientTapeOptions options)
    : impl_(std::make_unique<internal::TapeImpl>(options)) {
  internal::tl_tapes.push_back(impl_.get());
  ++internal::tl_live_tapes;
}

GradientTape::~GradientTape() {
  auto& tapes = internal::tl_tapes;
  tapes.erase(std::find(tapes.begin(), tapes.end(), impl_.get()));
  --internal::tl_live_tapes;
}

void GradientTape::watch(const Tensor& t) { impl_->watch(t); }

void GradientTape::watch(const Variable& v) {
  const int saved = internal::tl_live_tapes;
  internal::tl_live_tapes = 0;  // read without notifying the tapes
  const Tensor& value = v.value();
  internal::tl_live_tapes = saved;
  impl_->watch_variable(v, value);
}

std::vector<Tensor> GradientTape::watched_tensors() const { return impl_->watched(); }

std::vector<std::optional<Tensor>> GradientTape::gradient(const Tensor& target,
                                                          std::span<const Source> sources,
                                                          const std::optional<Tensor>& og,
                                                          UnconnectedGradients unconnected) {
  return impl_->gradient(target, sources, og, unconnected);
}

Tensor GradientTape::jacobian(const Tensor& target, const Source& source) {
  return impl_->jacobian(target, source, false);
}

Tensor GradientTape::batch_jacobian(const Tensor& target, const Source& source) {
  return impl_->jacobian(target, source, true);
}

GradientTape::StopRecording::StopRecording(internal::TapeImpl* tape) : tape_(tape) {
  tape_->pause();
}
GradientTape::StopRecording::~StopRecording() { tape_->resume(); }

Tensor stop_gradient(const Tensor& x) {
  if (!x.defined()) throw InvalidArgumentError("stop_gradient: the Tensor is empty");
  if (x.is_symbolic()) return dispatch(ir::OpKind::kStopGradient, {x});
  return x.alias();  // same storage, a new identity no tape has seen
}

}  // namespace kiln
