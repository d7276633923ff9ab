// kiln — tensor-dependent control flow: kiln::cond and kiln::while_loop.
//
// Eagerly they just run: cond calls the branch the predicate selects, while_loop calls the
// condition and the body until the condition is false (GradientTapes record the ops that ran,
// so eager gradients need nothing special). Inside a kiln::function they trace into one `cond`
// or `while` op (docs/ir-format.md, "Control flow"): cond traces both branches, while_loop the
// condition and the body once each, and the compiled code branches and loops at run time.
// Tensors of the enclosing function used inside a branch, condition or body are captured on use
// (they become operands of the op). Variables may be read and assigned there: a Variable a
// branch assigns becomes an extra result of the `cond` (the other branch yields its value on
// entry), one the body assigns an extra loop variable of the `while` (the body is then traced a
// second time, with the Variable carried from the start); reads after the op see the new value.
// A while_loop's cond_fn must not assign Variables. Gradients do not flow through assignments,
// and differentiating a loop whose body assigns a floating-point Variable is an error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "runtime/tensor.h"

namespace kiln {

// Runs `true_fn` if `pred` (a bool scalar) is true, else `false_fn`. Both branches return the
// same number of Tensors with equal dtypes and shapes (checked when tracing; eagerly only the
// branch taken runs).
std::vector<Tensor> cond(const Tensor& pred, const std::function<std::vector<Tensor>()>& true_fn,
                         const std::function<std::vector<Tensor>()>& false_fn);
Tensor cond(const Tensor& pred, const std::function<Tensor()>& true_fn,
            const std::function<Tensor()>& false_fn);

struct WhileLoopOptions {
  // Stops the loop after this many iterations even if the condition still holds (also what
  // differentiating a traced loop needs, to bound the values it keeps).
  std::optional<int64_t> maximum_iterations;
};

// `while (cond_fn(vars)) vars = body_fn(vars);` and returns vars. cond_fn returns a bool
// scalar; body_fn returns as many Tensors as there are loop variables, each with the dtype and
// shape it entered with (else InvalidArgumentError naming the loop variable and both types).
std::vector<Tensor> while_loop(
    const std::function<Tensor(const std::vector<Tensor>&)>& cond_fn,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& body_fn,
    std::vector<Tensor> loop_vars, const WhileLoopOptions& options = {});
// One loop variable.
Tensor while_loop(const std::function<Tensor(const Tensor&)>& cond_fn,
                  const std::function<Tensor(const Tensor&)>& body_fn, Tensor loop_var,
                  const WhileLoopOptions& options = {});

}  // namespace kiln
