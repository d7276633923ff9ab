// kiln — tracing: while a TraceContext is alive on this thread, every op on Tensors is recorded
// into an IR function instead of being executed.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "ir/builder.h"
#include "ir/function.h"
#include "runtime/tensor.h"

namespace kiln {

class TraceContext {
 public:
  // Starts recording into `fn` (which must outlive the context); becomes current on this thread.
  explicit TraceContext(ir::Function* fn);
  // Records into `block` before `pos` (the autodiff pass emitting gradient rules into existing
  // IR); add_argument and set_results are not available.
  TraceContext(ir::Block* block, ir::Block::OpList::iterator pos);
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
  // Ends the function with `return` of `results`.
  void set_results(std::span<const Tensor> results);

 private:
  ir::Function* fn_;
  ir::Builder builder_;
  uint64_t id_;
  TraceContext* previous_;
  // Captured concrete tensors → their const op result (keeps each capture one const).
  std::unordered_map<const internal::TensorImpl*, ir::Value*> captures_;
  std::vector<Tensor> keep_alive_;
};

}  // namespace kiln
