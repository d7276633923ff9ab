// kiln — buffer-plan: which intermediate values of a function may share workspace memory.
//
// The pass (create_buffer_plan_pass, "buffer-plan") computes a live interval for every value
// the compiled code keeps in its workspace and packs values whose intervals do not overlap into
// shared slots; it records the result as an attribute `buffer = [slot, ...]` (one entry per
// result; -1 = not in the workspace: returned values and constants) on each op. The lowering
// sizes each slot as its largest member and gives it one region of the workspace. Functions
// with unknown dims are planned too: the plan does not depend on sizes, and a slot with a
// member of unknown dims is sized (as its largest member) per run-time binding of the shapes.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "ir/function.h"

namespace kiln::passes {

// The attribute the pass writes and the lowering reads.
inline constexpr char kBufferAttr[] = "buffer";
// Workspace slots start at multiples of this many bytes.
inline constexpr int64_t kBufferAlign = 64;

// Bytes a value of `type` occupies in the workspace (rounded up to kBufferAlign).
int64_t workspace_bytes(const ir::Type& type);

// Byte counts cover values of fully defined types only; values with unknown dims ('?') and the
// slots holding one are sized per binding from the run-time shapes.
struct BufferPlanStats {
  int64_t values = 0;  // values kept in the workspace
  int64_t slots = 0;   // slots they share
  // The workspace with sharing: the slots sized at compile time plus the values without a slot.
  int64_t planned_bytes = 0;
  int64_t unplanned_bytes = 0;      // the workspace if every value had its own slot
  std::vector<int64_t> slot_bytes;  // per slot: its largest fully defined member's bytes
  // Per slot: true if a member has unknown dims (then the slot's size is known at run time).
  std::vector<bool> slot_sized_at_run_time;
  std::vector<std::vector<const ir::Value*>> slot_values;  // per slot: its members
};

// Checks the `buffer` attributes of `fn` against the liveness of its values: two values in one
// slot must never be live at the same time. Functions without the attribute are fine. On success
// fills `stats` (if not null). An error says which two values collide, e.g. after a pass that
// moved ops ran behind buffer-plan.
absl::Status verify_buffer_plan(const ir::Function& fn, BufferPlanStats* stats = nullptr);

}  // namespace kiln::passes
