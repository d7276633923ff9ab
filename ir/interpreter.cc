// kiln — the reference interpreter: runs a function op by op, kernels supplied by an Evaluator.
#include <unordered_map>

#include "ir/evaluator.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::ir {
namespace {

// A concrete type fits a declared one if dtypes and ranks agree and known dims are equal.
bool fits(const Type& concrete, const Type& declared) {
  if (concrete.dtype != declared.dtype || concrete.shape.rank() != declared.shape.rank()) {
    return false;
  }
  for (int i = 0; i < declared.shape.rank(); ++i) {
    if (declared.shape[i] >= 0 && declared.shape[i] != concrete.shape[i]) return false;
  }
  return true;
}

class Interpreter {
 public:
  explicit Interpreter(Evaluator& evaluator) : evaluator_(evaluator) {}

  // Runs `block` with its arguments bound to `args`; returns its terminator's operand values.
  absl::StatusOr<std::vector<Literal>> run(const Block& block,
                                           std::span<const Literal* const> args) {
    // Node-based: pointers to the stored literals stay valid as the map grows.
    std::unordered_map<const Value*, Literal> env;
    for (int i = 0; i < block.num_arguments(); ++i) env[block.argument(i)] = *args[i];
    for (const auto& op : block.ops()) {
      std::vector<const Literal*> operands;
      for (int i = 0; i < op->num_operands(); ++i) {
        auto it = env.find(op->operand(i));
        if (it == env.end()) {
          return absl::FailedPreconditionError(cat("interpret: operand #", i, " of '",
                                                   op->mnemonic(),
                                                   "' has no value (is the IR verified?)"));
        }
        operands.push_back(&it->second);
      }
      std::vector<Literal> results;
      switch (op_info(op->kind()).cls) {
        case OpClass::kTerminator:
          for (const Literal* l : operands) results.push_back(*l);
          return results;
        case OpClass::kConstant:
          if (!op->literal()) {
            return absl::FailedPreconditionError("interpret: 'const' has no literal");
          }
          results.push_back(*op->literal());
          break;
        case OpClass::kFusion: {
          if (!op->region()) {
            return absl::FailedPreconditionError("interpret: 'fusion' has no region");
          }
          if (op->region()->num_arguments() != op->num_operands()) {
            return absl::FailedPreconditionError(
                "interpret: fusion region arguments do not match its operands");
          }
          KILN_ASSIGN_OR_RETURN(results, run(*op->region(), operands));
          break;
        }
        default: {
          KILN_ASSIGN_OR_RETURN(results, evaluator_.evaluate(*op, operands));
          break;
        }
      }
      if (static_cast<int>(results.size()) != op->num_results()) {
        return absl::InternalError(cat("interpret: '", op->mnemonic(), "' produced ",
                                       results.size(), " value(s) for ", op->num_results(),
                                       " result(s)"));
      }
      for (int i = 0; i < op->num_results(); ++i) env[op->result(i)] = std::move(results[i]);
    }
    return absl::FailedPreconditionError("interpret: block has no terminator");
  }

 private:
  Evaluator& evaluator_;
};

}  // namespace

absl::StatusOr<std::vector<Literal>> interpret(const Function& fn, std::span<const Literal> args,
                                               Evaluator& evaluator) {
  const Block& body = fn.body();
  if (static_cast<int>(args.size()) != body.num_arguments()) {
    return absl::InvalidArgumentError(cat("interpret @", fn.name(), ": expected ",
                                          body.num_arguments(), " argument(s) but got ",
                                          args.size()));
  }
  std::vector<const Literal*> arg_ptrs;
  for (int i = 0; i < body.num_arguments(); ++i) {
    if (!fits(args[i].type(), body.argument(i)->type())) {
      return absl::InvalidArgumentError(cat("interpret @", fn.name(), ": argument #", i, " is ",
                                            args[i].type(), ", expected ",
                                            body.argument(i)->type()));
    }
    arg_ptrs.push_back(&args[i]);
  }
  return Interpreter(evaluator).run(body, arg_ptrs);
}

}  // namespace kiln::ir
