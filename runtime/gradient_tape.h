// kiln — GradientTape (tf.GradientTape), stop_gradient and custom_gradient.
//
// A tape records, while it is alive, every op whose inputs it watches: watched Tensors,
// trainable Variables read while it records (unless watch_accessed_variables is false), and the
// outputs of ops it recorded. `gradient` then runs the ops' gradient rules
// (runtime/gradients/rules.h) backwards from the target. The backward ops go through the normal
// dispatch, so an enclosing tape records them (nested tapes give higher-order gradients).
//
// Inside kiln::function the tape records symbolically and `gradient` emits a `grad` op into the
// traced IR; the autodiff pass expands it with the same rules (docs/passes.md). A custom
// gradient recorded there is a `custom_grad` op whose region is its gradient function, traced
// once (docs/ir-format.md).
#pragma once

#include <atomic>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/tape_hooks.h"
#include "runtime/tensor.h"
#include "runtime/variable.h"

namespace kiln {

struct GradientTapeOptions {
  // gradient()/jacobian() may be called more than once (the records are kept until the tape dies).
  bool persistent = false;
  // Trainable Variables read while the tape records are watched automatically.
  bool watch_accessed_variables = true;
};

// What gradient() returns for a source the target does not depend on.
enum class UnconnectedGradients { kNone, kZero };

// A gradient source: a Tensor or a Variable (kept by reference; it must outlive the call).
class Source {
 public:
  Source(const Tensor& t) : tensor_(t) {}  // NOLINT(google-explicit-constructor)
  Source(const Variable& v) : variable_(&v) {}
  const Tensor* tensor() const { return variable_ ? nullptr : &tensor_; }
  const Variable* variable() const { return variable_; }

 private:
  Tensor tensor_;
  const Variable* variable_ = nullptr;
};

namespace internal {
class TapeImpl;
}

class GradientTape {
 public:
  explicit GradientTape(GradientTapeOptions options = {});
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  // Watches a Tensor (ops on it are recorded from now on) or a Variable's current value.
  void watch(const Tensor& t);
  void watch(const Variable& v);
  // The Tensors and Variables watched so far (Variables as their values when first watched).
  std::vector<Tensor> watched_tensors() const;

  // d target / d source for each source: nullopt where the target does not depend on the
  // source (TF's None) unless `unconnected` is kZero. A non-scalar target is summed, or
  // weighted by `output_gradients` (same shape as target) when given.
  std::vector<std::optional<Tensor>> gradient(
      const Tensor& target, std::span<const Source> sources,
      const std::optional<Tensor>& output_gradients = std::nullopt,
      UnconnectedGradients unconnected = UnconnectedGradients::kNone);
  std::vector<std::optional<Tensor>> gradient(
      const Tensor& target, std::initializer_list<Source> sources,
      const std::optional<Tensor>& output_gradients = std::nullopt,
      UnconnectedGradients unconnected = UnconnectedGradients::kNone) {
    return gradient(target, std::span<const Source>(sources.begin(), sources.size()),
                    output_gradients, unconnected);
  }
  std::optional<Tensor> gradient(const Tensor& target, const Source& source) {
    return gradient(target, std::span<const Source>(&source, 1))[0];
  }

  // The Jacobian d target[i...] / d source[j...], shape target.shape + source.shape (zeros
  // where unconnected).
  Tensor jacobian(const Tensor& target, const Source& source);
  // For target [b, ...] and source [b, ...] whose rows are independent: d target[b, i...] /
  // d source[b, j...], shape [b] + target.shape[1:] + source.shape[1:].
  Tensor batch_jacobian(const Tensor& target, const Source& source);

  // While the returned object lives, this tape records nothing (tape.stop_recording()).
  class StopRecording {
   public:
    explicit StopRecording(internal::TapeImpl* tape);
    ~StopRecording();
    StopRecording(const StopRecording&) = delete;
    StopRecording& operator=(const StopRecording&) = delete;

   private:
    internal::TapeImpl* tape_;
  };
  [[nodiscard]] StopRecording stop_recording() { return StopRecording(impl_.get()); }

 private:
  std::unique_ptr<internal::TapeImpl> impl_;
};

// The same values as x, through which no gradient flows (tf.stop_gradient).
Tensor stop_gradient(const Tensor& x);

namespace config {
// Debugging switch: the first time each custom_gradient function runs eagerly, its gradient
// function is compared with central differences of its forward (testing::check_gradients), and
// a disagreement is an InvalidArgumentError showing the worst element.
void check_custom_gradients(bool enable);
bool custom_gradients_checked();
}  // namespace config

// tf.custom_gradient: `f(x...)` returns {y, grad_fn} where grad_fn(dy) gives the cotangent of
// each x (a Tensor for one input, a std::vector<Tensor> for several). The forward ops of f are
// not recorded; a tape differentiating through the result calls grad_fn instead.
//   auto softplus = kiln::custom_gradient([](const Tensor& z) {
//     auto e = kiln::exp(z);
//     return std::pair{kiln::log(e + 1), [e](const Tensor& dy) { return dy / (1 + 1 / e); }};
//   });
// If f reads trainable Variables, grad_fn must take them too, as TF's `variables` argument:
// grad_fn(dy, std::span<const Variable* const> variables) returns {input cotangents, one
// cotangent per variable}; tapes then get the variables' gradients from it.
// Traced (in kiln::function, with a tape watching an input), grad_fn runs once with a symbolic
// dy to build the custom_grad op's region; it must return cotangents of its inputs' types.
namespace internal {
struct CustomForward {
  Tensor y;
  // Cotangents of the inputs, then of `variables` (the trainable Variables f read).
  std::function<std::vector<std::optional<Tensor>>(std::span<const std::optional<Tensor>> dys,
                                                   std::span<const Variable* const> variables)>
      backward;
  bool takes_variables = false;
};
Tensor call_custom_gradient(std::span<const Tensor> inputs,
                            const std::function<CustomForward(std::span<const Tensor>)>& forward);
// config::check_custom_gradients: checks `fn` at `inputs`; false if it could not run (traced).
bool check_custom_gradient(std::span<const Tensor> inputs,
                           const std::function<Tensor(std::span<const Tensor>)>& fn);

template <typename R>
std::vector<std::optional<Tensor>> as_cotangents(R&& r) {
  std::vector<std::optional<Tensor>> out;
  if constexpr (std::is_convertible_v<R, Tensor>) {
    out.emplace_back(Tensor(std::forward<R>(r)));
  } else {
    for (auto& t : r) out.emplace_back(Tensor(t));
  }
  return out;
}
}  // namespace internal

template <typename F>
auto custom_gradient(F f) {
  auto impl = std::make_shared<F>(std::move(f));
  auto checked = std::make_shared<std::atomic<bool>>(false);
  return [impl, checked](const auto&... xs) -> Tensor {
    constexpr size_t kArity = sizeof...(xs);
    const Tensor inputs[] = {Tensor(xs)...};
    auto run = [&impl](std::span<const Tensor> args) -> Tensor {
      return internal::call_custom_gradient(
          args, [&](std::span<const Tensor> in) -> internal::CustomForward {
            auto [y, grad_fn] = [&]<size_t... I>(std::index_sequence<I...>) {
              return (*impl)(in[I]...);
            }
            (std::make_index_sequence<kArity>{});
            using G = decltype(grad_fn);
            internal::CustomForward out;
            out.y = Tensor(y);
            if constexpr (std::is_invocable_v<G, const Tensor&, std::span<const Variable* const>>) {
              out.takes_variables = true;
              out.backward = [g = std::move(grad_fn)](std::span<const std::optional<Tensor>> dys,
                                                      std::span<const Variable* const> vars) {
                auto [dx, dv] = g(*dys[0], vars);
                std::vector<std::optional<Tensor>> c = internal::as_cotangents(dx);
                for (auto& t : dv) c.emplace_back(Tensor(t));
                return c;
              };
            } else {
              out.backward = [g = std::move(grad_fn)](std::span<const std::optional<Tensor>> dys,
                                                      std::span<const Variable* const>) {
                return internal::as_cotangents(g(*dys[0]));
              };
            }
            return out;
          });
    };
    if (config::custom_gradients_checked() && !checked->load() &&
        internal::check_custom_gradient(inputs, run)) {
      checked->store(true);
    }
    return run(inputs);
  };
}

}  // namespace kiln
