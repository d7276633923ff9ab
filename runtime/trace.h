// kiln — tracing: while a TraceContext is alive on this thread, every op on Tensors is recorded
// into an IR function instead of being executed.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "ir/builder.h"
#include "ir/function.h"
#include "runtime/tensor.h"
#include "runtime/variable.h"

namespace kiln {

// A Variable the traced function reads or writes: an extra argument (its value at call time)
// and, if written, an extra result (its final value, stored back after the call).
struct VariableCapture {
  std::shared_ptr<internal::VariableState> state;
  Tensor argument;  // the symbolic argument
  Tensor current;   // the value reads see now (the argument, or the last value written)
  bool written = false;
};

// The values a `cond` or `while` being traced reads from outside its regions. Regions are
// isolated from above, so each such value becomes an operand of the op and, at the same index,
// an argument of every region: a use inside one region adds the argument to all of them, which
// keeps the regions' arguments aligned with the op's operands.
struct RegionCaptures {
  std::vector<ir::Block*> regions;    // the op's regions (all get every captured argument)
  std::vector<ir::Value*> outer;      // captured values in the enclosing trace, in order
  std::vector<Tensor> outer_tensors;  // the same, as Tensors of the enclosing trace
  int first_argument = 0;             // region argument index of outer[0]
};

class TraceContext {
 public:
  // Starts recording into `fn` (which must outlive the context); becomes current on this thread.
  explicit TraceContext(ir::Function* fn);
  // Records into `block` before `pos` (the autodiff pass emitting gradient rules into existing
  // IR); add_argument and set_results are not available.
  TraceContext(ir::Block* block, ir::Block::OpList::iterator pos);
  // Records into `region` (of a cond or while being traced inside `parent`): a use of a Tensor
  // of `parent` (or of a trace enclosing it) is captured through `captures`. Variables are read
  // through `parent` until the region writes them (or binds them, bind_variable); the region's
  // writes are collected (region_variables) for the op to yield them.
  TraceContext(TraceContext* parent, ir::Block* region, RegionCaptures* captures);
  ~TraceContext();
  TraceContext(const TraceContext&) = delete;
  TraceContext& operator=(const TraceContext&) = delete;

  // The innermost active trace on this thread, or nullptr.
  static TraceContext* current();

  uint64_t id() const { return id_; }
  ir::Function& function() { return *fn_; }
  ir::Builder& builder() { return builder_; }

  // Adds a function argument of `type` and returns the symbolic tensor standing for it.
  Tensor add_argument(const ir::Type& type, std::string name = "");
  // The IR value for `t` in this trace: its own value if symbolic, a `const` op holding its
  // contents if concrete (one per captured tensor). Throws if `t` belongs to another trace.
  ir::Value* value_of(const Tensor& t);
  // Ends the function with `return` of `results`, followed by the final values of the Variables
  // the trace wrote (in capture order).
  void set_results(std::span<const Tensor> results);

  // The traced value of `v`: on first use it becomes an extra argument of the function.
  const Tensor& read_variable(const Variable& v);
  // `v := value` in the trace (dtype and shape already checked). Gradients do not flow through
  // an assignment: later reads see the value behind a stop_gradient.
  void write_variable(const Variable& v, const Tensor& value);
  // After a cond or while traced here wrote `v`: reads see `value` (a result of the op) from now
  // on, and the write propagates outwards like an assignment.
  void set_variable_value(const Variable& v, const Tensor& value);
  // Region traces: reads of `v` see `value` (a region argument) instead of the enclosing value.
  void bind_variable(const Variable& v, const Tensor& value);
  // Region traces: whether assignments are allowed (not in a while_loop's cond_fn).
  void set_variable_writes_allowed(bool allowed) { variable_writes_allowed_ = allowed; }
  // Whether Variables may be created during this trace (a kiln::function's first trace only).
  void set_variable_creation_allowed(bool allowed) { variable_creation_allowed_ = allowed; }
  bool variable_creation_allowed() const { return variable_creation_allowed_; }
  // The name of the function being traced ("" for the autodiff pass's contexts).
  std::string_view function_name() const;
  // The trace enclosing a region trace (nullptr otherwise).
  TraceContext* parent() const { return parent_; }

  // The location for an op recorded now: in check_numerics mode, while tracing a function, the
  // user's C++ file:line that called the op (a stack walk; column 0); unknown otherwise, so the
  // IR is the same as without locations when the mode is off.
  ir::Location call_site_location() const;

  // The Variables captured so far, in argument order.
  const std::deque<VariableCapture>& variables() const { return variables_; }
  // Region traces: the Variables bound or written in the region, in order of first use.
  struct RegionVariable {
    const Variable* variable;  // the user's object (alive while the trace runs)
    std::shared_ptr<internal::VariableState> state;
    Tensor current;  // the value reads in the region see now
    bool written = false;
  };
  const std::deque<RegionVariable>& region_variables() const { return region_variables_; }
  // Region traces: the Variables read through the enclosing trace (their value on entry), in
  // order of first read; the op notes them on the GradientTapes once it is recorded whole.
  const std::vector<const Variable*>& region_reads() const { return region_reads_; }

 private:
  ir::Function* fn_;
  ir::Builder builder_;
  uint64_t id_;
  TraceContext* previous_;
  TraceContext* parent_ = nullptr;
  RegionCaptures* region_captures_ = nullptr;
  // A symbolic tensor of an enclosing trace used here: its region argument (capture on use).
  ir::Value* capture(const Tensor& t);
  // Captured concrete tensors → their const op result (keeps each capture one const).
  std::unordered_map<const internal::TensorImpl*, ir::Value*> captures_;
  std::vector<Tensor> keep_alive_;
  std::deque<VariableCapture> variables_;  // stable addresses: reads hand out references
  std::deque<RegionVariable> region_variables_;
  std::vector<const Variable*> region_reads_;
  RegionVariable* find_region_variable(const Variable& v);
  bool variable_creation_allowed_ = true;
  bool variable_writes_allowed_ = true;
};

}  // namespace kiln
