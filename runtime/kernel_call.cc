// kiln — kiln_rt_kernel_call: the C entry point compiled code uses to run an eager kernel.
#include "runtime/kernel_call.h"

#include <exception>
#include <string>
#include <vector>

#include "runtime/kernels/kernels.h"
#include "support/str.h"

namespace {

thread_local std::string t_last_error;

// Records `message` as this thread's last error; never throws.
void set_error(std::string_view message) noexcept {
  try {
    t_last_error.assign(message.data(), message.size());
  } catch (...) {
    t_last_error.clear();  // out of memory: an empty message is the best we can do
  }
}

// The shape of `type`, its unknown dims read from dims[slot...] when slot >= 0.
kiln::Shape resolved(const kiln::ir::Type& type, int32_t slot, const int64_t* dims) {
  if (slot < 0 || dims == nullptr) return type.shape;
  return kiln::Shape(std::vector<int64_t>(dims + slot, dims + slot + type.shape.rank()));
}

int32_t slot_of(const std::vector<int32_t>& slots, size_t i) {
  return i < slots.size() ? slots[i] : -1;
}

int32_t run_call(const kiln::kernels::KernelCall& call, const void* const* inputs, void* output,
                 const int64_t* dims) {
  using kiln::kernels::View;
  constexpr size_t kInline = 4;
  View inline_views[kInline];
  std::vector<View> heap_views;
  const size_t n = call.input_types.size();
  View* views = inline_views;
  if (n > kInline) {
    heap_views.resize(n);
    views = heap_views.data();
  }
  if (n > 0 && inputs == nullptr) {
    set_error(kiln::cat(kiln::ir::mnemonic(call.kind), ": kernel call without inputs"));
    return static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
  }
  // Shapes resolved from the dims table (dynamic calls only).
  std::vector<kiln::Shape> shapes;
  if (dims) {
    shapes.reserve(n + 1);
    for (size_t i = 0; i < n; ++i) {
      shapes.push_back(resolved(call.input_types[i], slot_of(call.input_dims_slots, i), dims));
    }
    shapes.push_back(resolved(call.output_type, slot_of(call.output_dims_slots, 0), dims));
  }
  for (size_t i = 0; i < n; ++i) {
    views[i] =
        View{inputs[i], call.input_types[i].dtype, dims ? &shapes[i] : &call.input_types[i].shape};
  }
  const kiln::kernels::MutableView out{output, call.output_type.dtype,
                                       dims ? &shapes[n] : &call.output_type.shape};
  const absl::Status status =
      kiln::kernels::run(call.kind, call.attrs, std::span<const View>(views, n), out);
  if (status.ok()) return 0;
  set_error(std::string_view(status.message().data(), status.message().size()));
  return static_cast<int32_t>(status.code());
}

}  // namespace

extern "C" {

// Returns 0 on success, otherwise the absl::StatusCode of the failure (never 0).
int32_t kiln_rt_kernel_call(const kiln::kernels::KernelCall* call, const void* const* inputs,
                            void* output) noexcept {
  try {
    if (call == nullptr) {
      set_error("kiln_rt_kernel_call: null KernelCall");
      return static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
    }
    return run_call(*call, inputs, output, nullptr);
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("kiln_rt_kernel_call: unknown exception");
  }
  return static_cast<int32_t>(absl::StatusCode::kInternal);
}

int32_t kiln_rt_kernel_call_multi(const kiln::kernels::KernelCall* call, const void* const* inputs,
                                  void* const* outputs) noexcept {
  return kiln_rt_kernel_call_multi_dyn(call, inputs, outputs, nullptr);
}

int32_t kiln_rt_kernel_call_dyn(const kiln::kernels::KernelCall* call, const void* const* inputs,
                                void* output, const int64_t* dims) noexcept {
  try {
    if (call == nullptr || dims == nullptr) {
      set_error("kiln_rt_kernel_call_dyn: null KernelCall or dims table");
      return static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
    }
    return run_call(*call, inputs, output, dims);
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("kiln_rt_kernel_call_dyn: unknown exception");
  }
  return static_cast<int32_t>(absl::StatusCode::kInternal);
}

int32_t kiln_rt_kernel_call_multi_dyn(const kiln::kernels::KernelCall* call,
                                      const void* const* inputs, void* const* outputs,
                                      const int64_t* dims) noexcept {
  try {
    if (call == nullptr || (!call->input_types.empty() && inputs == nullptr) ||
        outputs == nullptr) {
      set_error("kiln_rt_kernel_call_multi: null KernelCall, inputs or outputs");
      return static_cast<int32_t>(absl::StatusCode::kInvalidArgument);
    }
    const size_t n_in = call->input_types.size(), n_out = call->output_types.size();
    std::vector<kiln::Shape> shapes;
    shapes.reserve(n_in + n_out);
    for (size_t i = 0; i < n_in; ++i) {
      shapes.push_back(resolved(call->input_types[i], slot_of(call->input_dims_slots, i), dims));
    }
    for (size_t i = 0; i < n_out; ++i) {
      shapes.push_back(resolved(call->output_types[i], slot_of(call->output_dims_slots, i), dims));
    }
    std::vector<kiln::kernels::View> views;
    for (size_t i = 0; i < n_in; ++i) {
      views.push_back(kiln::kernels::View{inputs[i], call->input_types[i].dtype, &shapes[i]});
    }
    std::vector<kiln::kernels::MutableView> outs;
    for (size_t i = 0; i < n_out; ++i) {
      outs.push_back(
          kiln::kernels::MutableView{outputs[i], call->output_types[i].dtype, &shapes[n_in + i]});
    }
    const absl::Status status = kiln::kernels::run_multi(call->kind, call->attrs, views, outs);
    if (status.ok()) return 0;
    set_error(std::string_view(status.message().data(), status.message().size()));
    return static_cast<int32_t>(status.code());
  } catch (const std::exception& e) {
    set_error(e.what());
  } catch (...) {
    set_error("kiln_rt_kernel_call_multi: unknown exception");
  }
  return static_cast<int32_t>(absl::StatusCode::kInternal);
}

const char* kiln_rt_last_error() noexcept { return t_last_error.c_str(); }

}  // extern "C"
