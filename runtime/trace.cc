// kiln — recording ops into IR while tracing.
#include "runtime/trace.h"

#include <atomic>
#include <cstring>

#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

thread_local TraceContext* current_trace = nullptr;
std::atomic<uint64_t> next_trace_id{1};

}  // namespace

TraceContext::TraceContext(ir::Function* fn)
    : fn_(fn), builder_(&fn->body()), id_(next_trace_id++), previous_(current_trace) {
  current_trace = this;
}

TraceContext::TraceContext(ir::Block* block, ir::Block::OpList::iterator pos)
    : fn_(nullptr), builder_(block, pos), id_(next_trace_id++), previous_(current_trace) {
  current_trace = this;
}

TraceContext::~TraceContext() { current_trace = previous_; }

TraceContext* TraceContext::current() { return current_trace; }

Tensor TraceContext::add_argument(const ir::Type& type, std::string name) {
  if (!fn_) throw InternalError("TraceContext: no function to add an argument to");
  ir::Value* v = fn_->body().add_argument(type, std::move(name));
  return Tensor::symbolic(v, id_);
}

ir::Value* TraceContext::value_of(const Tensor& t) {
  if (!t.defined()) throw FailedPreconditionError("use of an empty (default-constructed) Tensor");
  const internal::TensorImpl* impl = t.impl();
  if (impl->value) {
    if (impl->trace_id != id_) {
      throw FailedPreconditionError(
          "a symbolic Tensor from another traced function was used here; pass it as an "
          "argument instead of capturing it");
    }
    return impl->value;
  }
  // A concrete tensor captured by the traced code becomes a constant.
  auto it = captures_.find(impl);
  if (it != captures_.end()) return it->second;
  ir::Literal lit(ir::Type{t.dtype(), t.shape()});
  std::memcpy(lit.data(), t.raw_data(), lit.size_bytes());
  ir::Value* v = builder_.constant(std::move(lit));
  captures_.emplace(impl, v);
  keep_alive_.push_back(t);
  return v;
}

void TraceContext::set_results(std::span<const Tensor> results) {
  if (!fn_) throw InternalError("TraceContext: no function to return from");
  std::vector<ir::Value*> values;
  for (const Tensor& t : results) values.push_back(value_of(t));
  builder_.create_return(std::move(values));
}

}  // namespace kiln
