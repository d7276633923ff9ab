// kiln — the hooks through which ops and Variable reads reach the active GradientTapes.
// Cheap when no tape records on this thread: one thread-local load.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "ir/ops.h"
#include "runtime/tensor.h"

namespace kiln {
class Variable;

namespace internal {

// Number of GradientTapes alive on this thread (recording or paused).
extern thread_local constinit int tl_live_tapes;

inline bool tapes_live() { return tl_live_tapes != 0; }

// Records `kind(inputs) -> outputs` on every recording tape that watches one of the inputs.
void record_op(ir::OpKind kind, const ir::Attrs& attrs, std::span<const Tensor> inputs,
               std::span<const Tensor> outputs);

// A custom gradient: the cotangents of `inputs` from those of `outputs`.
using CustomBackward =
    std::function<std::vector<std::optional<Tensor>>(std::span<const std::optional<Tensor>> dys)>;
void record_custom(std::span<const Tensor> inputs, std::span<const Tensor> outputs,
                   CustomBackward backward);

// Tells recording tapes that watch accessed variables that `var` was read as `value` (which
// becomes a source for it).
void note_variable_read(const Variable& var, const Tensor& value);

// True while a kiln::function trace is active on this thread (runtime/trace.h).
bool tracing();

// Pauses every tape on this thread while alive (custom_gradient's forward computation).
class PauseAllTapes {
 public:
  PauseAllTapes();
  ~PauseAllTapes();
  PauseAllTapes(const PauseAllTapes&) = delete;
  PauseAllTapes& operator=(const PauseAllTapes&) = delete;
};

}  // namespace internal
}  // namespace kiln
