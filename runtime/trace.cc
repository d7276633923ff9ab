// kiln — recording ops into IR while tracing.
#include "runtime/trace.h"

#include <atomic>
#include <cstring>

#include "runtime/dispatch.h"
#include "runtime/numerics.h"
#include "support/call_site.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

thread_local TraceContext* current_trace = nullptr;
std::atomic<uint64_t> next_trace_id{1};

// A Variable's name as an IR argument name: name characters only, not starting with a digit,
// unique among the block's arguments.
std::string argument_name(const ir::Block& block, std::string_view name) {
  std::string base;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.';
    base += ok ? c : '_';
  }
  // Unnamed arguments print as %argN: keep clear of those too.
  const bool argn = base.size() > 3 && base.compare(0, 3, "arg") == 0 &&
                    base.find_first_not_of("0123456789", 3) == std::string::npos;
  if (base.empty() || (base[0] >= '0' && base[0] <= '9') || base[0] == '.' || argn) {
    base = "v_" + base;
  }
  auto taken = [&](const std::string& n) {
    for (int i = 0; i < block.num_arguments(); ++i) {
      if (block.argument(i)->name() == n) return true;
    }
    return false;
  };
  std::string out = base;
  for (int k = 1; taken(out); ++k) out = cat(base, "_", k);
  return out;
}

}  // namespace

TraceContext::TraceContext(ir::Function* fn)
    : fn_(fn), builder_(&fn->body()), id_(next_trace_id++), previous_(current_trace) {
  current_trace = this;
}

TraceContext::TraceContext(ir::Block* block, ir::Block::OpList::iterator pos)
    : fn_(nullptr), builder_(block, pos), id_(next_trace_id++), previous_(current_trace) {
  current_trace = this;
}

TraceContext::TraceContext(TraceContext* parent, ir::Block* region, RegionCaptures* captures)
    : fn_(nullptr),
      builder_(region),
      id_(next_trace_id++),
      previous_(current_trace),
      parent_(parent),
      region_captures_(captures),
      variable_creation_allowed_(parent->variable_creation_allowed()) {
  current_trace = this;
}

TraceContext::~TraceContext() { current_trace = previous_; }

TraceContext* TraceContext::current() { return current_trace; }

namespace internal {
bool tracing() { return current_trace != nullptr; }
}  // namespace internal

std::string_view TraceContext::function_name() const {
  if (parent_) return parent_->function_name();
  return fn_ ? std::string_view(fn_->name()) : std::string_view();
}

ir::Location TraceContext::call_site_location() const {
  // Gradient rules emitted into existing IR (fn_ == nullptr) are not the user's calls.
  if (fn_ == nullptr || !config::check_numerics_enabled()) return {};
  CallSite site = user_call_site();
  if (!site.known()) return {};
  return ir::Location{std::move(site.file), site.line, 0};
}

TraceContext::RegionVariable* TraceContext::find_region_variable(const Variable& v) {
  for (RegionVariable& r : region_variables_) {
    if (r.state == v.state()) return &r;
  }
  return nullptr;
}

const Tensor& TraceContext::read_variable(const Variable& v) {
  if (parent_) {
    if (RegionVariable* r = find_region_variable(v)) return r->current;
    bool seen = false;
    for (const Variable* read : region_reads_) seen = seen || read->state() == v.state();
    if (!seen) region_reads_.push_back(&v);
    return parent_->read_variable(v);  // captured into the region on use
  }
  for (VariableCapture& c : variables_) {
    if (c.state == v.state()) return c.current;
  }
  if (!fn_) {
    throw FailedPreconditionError(
        cat("Variable '", v.name(), "' cannot be captured here (no function is being traced)"));
  }
  VariableCapture c;
  c.state = v.state();
  c.argument = add_argument(ir::Type{v.dtype(), v.shape()}, argument_name(fn_->body(), v.name()));
  c.current = c.argument;
  variables_.push_back(std::move(c));
  return variables_.back().current;
}

void TraceContext::write_variable(const Variable& v, const Tensor& value) {
  if (parent_ && !variable_writes_allowed_) {
    throw InvalidArgumentError(cat("Variable '", v.name(),
                                   "' is assigned in the cond_fn of a kiln::while_loop; the "
                                   "condition must not change state (assign it in body_fn)"));
  }
  const Tensor operand[] = {Tensor::symbolic(value_of(value), id_)};
  set_variable_value(v, dispatch_untaped(ir::OpKind::kStopGradient, operand));
}

void TraceContext::set_variable_value(const Variable& v, const Tensor& value) {
  if (parent_) {
    // The enclosing traces capture the Variable too (their ops will yield or return it).
    parent_->read_variable(v);
    RegionVariable* r = find_region_variable(v);
    if (!r) r = &region_variables_.emplace_back(RegionVariable{&v, v.state(), Tensor(), false});
    r->current = value;
    r->written = true;
    return;
  }
  read_variable(v);
  for (VariableCapture& c : variables_) {
    if (c.state != v.state()) continue;
    c.current = value;
    c.written = true;
    return;
  }
}

void TraceContext::bind_variable(const Variable& v, const Tensor& value) {
  if (!parent_) throw InternalError("TraceContext::bind_variable outside a region");
  RegionVariable* r = find_region_variable(v);
  if (!r) r = &region_variables_.emplace_back(RegionVariable{&v, v.state(), Tensor(), false});
  r->current = value;
}

Tensor TraceContext::add_argument(const ir::Type& type, std::string name) {
  if (!fn_) throw InternalError("TraceContext: no function to add an argument to");
  ir::Value* v = fn_->body().add_argument(type, std::move(name));
  return Tensor::symbolic(v, id_);
}

ir::Value* TraceContext::value_of(const Tensor& t) {
  if (!t.defined()) throw FailedPreconditionError("use of an empty (default-constructed) Tensor");
  const internal::TensorImpl* impl = t.impl();
  if (impl->value) {
    if (impl->trace_id != id_ && parent_) {
      for (const TraceContext* p = parent_; p; p = p->parent_) {
        if (p->id_ == impl->trace_id) return capture(t);
      }
    }
    if (impl->trace_id != id_) {
      throw FailedPreconditionError(
          "a symbolic Tensor from another traced function, or from inside a kiln::cond branch "
          "or kiln::while_loop body, was used here; pass it as an argument, or return it from "
          "the branch or body, instead of capturing it");
    }
    return impl->value;
  }
  // A concrete tensor captured by the traced code becomes a constant.
  // One const per captured tensor and block: a const made inside a region (custom_grad's) is
  // not visible outside it, nor one made outside inside the isolated region.
  auto it = captures_.find(impl);
  if (it != captures_.end() && it->second->defining_op()->parent() == builder_.block()) {
    return it->second;
  }
  ir::Literal lit(ir::Type{t.dtype(), t.shape()});
  std::memcpy(lit.data(), t.raw_data(), lit.size_bytes());
  ir::Value* v = builder_.constant(std::move(lit));
  captures_[impl] = v;
  keep_alive_.push_back(t);
  return v;
}

ir::Value* TraceContext::capture(const Tensor& t) {
  ir::Value* outer = parent_->value_of(t);
  RegionCaptures& c = *region_captures_;
  const ir::Block* own = builder_.block();
  for (size_t k = 0; k < c.outer.size(); ++k) {
    if (c.outer[k] == outer) return own->argument(c.first_argument + static_cast<int>(k));
  }
  c.outer.push_back(outer);
  // The user's own Tensor when it belongs to the enclosing trace (tapes know it by identity).
  c.outer_tensors.push_back(
      t.impl()->trace_id == parent_->id_ ? t : Tensor::symbolic(outer, parent_->id_));
  for (ir::Block* region : c.regions) region->add_argument(outer->type());
  return own->argument(c.first_argument + static_cast<int>(c.outer.size()) - 1);
}

void TraceContext::set_results(std::span<const Tensor> results) {
  if (!fn_) throw InternalError("TraceContext: no function to return from");
  std::vector<ir::Value*> values;
  for (const Tensor& t : results) values.push_back(value_of(t));
  for (const VariableCapture& c : variables_) {
    if (c.written) values.push_back(value_of(c.current));
  }
  builder_.create_return(std::move(values));
}

}  // namespace kiln
