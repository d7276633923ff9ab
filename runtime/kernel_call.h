// kiln — the C entry point compiled code uses to run an op's eager kernel.
// The compiler keeps one KernelCall per non-lowered op alive as long as the compiled code; the
// code refers to it by a symbol defined at link time and passes it to kiln_rt_kernel_call.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/ops.h"
#include "ir/types.h"

namespace kiln::kernels {

struct KernelCall {
  ir::OpKind kind;
  ir::Attrs attrs;
  std::vector<ir::Type> input_types;   // fully defined, except in a dynamic call (below)
  ir::Type output_type;                // fully defined, except in a dynamic call
  std::vector<ir::Type> output_types;  // ops with several results (kiln_rt_kernel_call_multi)
  // A dynamic call (kiln_rt_kernel_call_dyn / _multi_dyn) takes the dims of the types with
  // unknown dims from the call's dims table: slot index of the first dim, or -1 for a type that
  // is fully defined. One entry per input / per output (output_dims_slots also covers
  // output_type as entry 0 for single-result ops).
  std::vector<int32_t> input_dims_slots;
  std::vector<int32_t> output_dims_slots;
};

}  // namespace kiln::kernels

extern "C" {
// Runs call->kind on `inputs` (one pointer per input) into `output`. Returns 0 on success;
// otherwise non-zero, and kiln_rt_last_error() gives the message (thread-local).
int32_t kiln_rt_kernel_call(const kiln::kernels::KernelCall* call, const void* const* inputs,
                            void* output) noexcept;
// The same for ops with several results (split, top_k): one pointer per output, typed as
// call->output_types.
int32_t kiln_rt_kernel_call_multi(const kiln::kernels::KernelCall* call, const void* const* inputs,
                                  void* const* outputs) noexcept;
// The same with the unknown dims of the call's types read from `dims` (KernelCall's
// input_dims_slots / output_dims_slots index it).
int32_t kiln_rt_kernel_call_dyn(const kiln::kernels::KernelCall* call, const void* const* inputs,
                                void* output, const int64_t* dims) noexcept;
int32_t kiln_rt_kernel_call_multi_dyn(const kiln::kernels::KernelCall* call,
                                      const void* const* inputs, void* const* outputs,
                                      const int64_t* dims) noexcept;
const char* kiln_rt_last_error() noexcept;

// C = op(A) op(B) for row-major float32 A, B, C with C [m, n] and k > 0 (`flags`: the bits below),
// computed with sgemm in panels of `panel_rows` rows (row blocks split over the thread pool as
// the eager matmul's are); after each panel, `panel(c, r0, r1, operands)` runs on its rows
// [r0, r1) (skipped when null). Results do not depend on the thread count as long as `panel`
// treats rows independently. Never fails (the compiler checked the shapes).
inline constexpr int32_t kiln_rt_kTransposeA = 1, kiln_rt_kTransposeB = 2;
using kiln_rt_panel_fn = void (*)(float* c, int64_t r0, int64_t r1, const void* const* operands);
void kiln_rt_sgemm_epilogue(const float* a, const float* b, float* c, int64_t m, int64_t k,
                            int64_t n, int32_t flags, int64_t panel_rows, kiln_rt_panel_fn panel,
                            const void* const* operands) noexcept;
}
