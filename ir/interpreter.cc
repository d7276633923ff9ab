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
        case OpClass::kControl: {
          KILN_ASSIGN_OR_RETURN(results, op->kind() == OpKind::kCond ? run_cond(*op, operands)
                                                                     : run_while(*op, operands));
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
  static absl::Status check_regions(const Op& op, int num_args) {
    if (op.num_regions() != 2 || op.region(0)->num_arguments() != num_args ||
        op.region(1)->num_arguments() != num_args) {
      return absl::FailedPreconditionError(
          cat("interpret: '", op.mnemonic(), "' regions do not match its operands"));
    }
    return absl::OkStatus();
  }

  // Runs the branch the predicate (operand #0) selects on the other operands.
  absl::StatusOr<std::vector<Literal>> run_cond(const Op& op,
                                                std::span<const Literal* const> operands) {
    if (operands.empty())
      return absl::FailedPreconditionError("interpret: 'cond' has no predicate");
    KILN_RETURN_IF_ERROR(check_regions(op, static_cast<int>(operands.size()) - 1));
    const bool taken = operands[0]->get(0) != 0;
    return run(*op.region(taken ? 0 : 1), operands.subspan(1));
  }

  // Runs the body while the condition region yields true (and fewer than maximum_iterations
  // iterations have run, if given). Operands past the loop variables are loop invariants.
  absl::StatusOr<std::vector<Literal>> run_while(const Op& op,
                                                 std::span<const Literal* const> operands) {
    const int n = op.num_results();
    KILN_RETURN_IF_ERROR(check_regions(op, static_cast<int>(operands.size())));
    if (static_cast<int>(operands.size()) < n) {
      return absl::FailedPreconditionError("interpret: 'while' has fewer operands than results");
    }
    const int64_t max_iterations = attr_or<int64_t>(op.attrs(), "maximum_iterations", -1);
    std::vector<Literal> carried;
    for (int j = 0; j < n; ++j) carried.push_back(*operands[j]);
    for (int64_t iteration = 0; max_iterations < 0 || iteration < max_iterations; ++iteration) {
      std::vector<const Literal*> args;
      for (const Literal& l : carried) args.push_back(&l);
      for (size_t i = n; i < operands.size(); ++i) args.push_back(operands[i]);
      KILN_ASSIGN_OR_RETURN(std::vector<Literal> pred, run(*op.region(0), args));
      if (pred.size() != 1 || pred[0].num_elements() != 1) {
        return absl::FailedPreconditionError(
            "interpret: the 'while' condition must yield one scalar");
      }
      if (pred[0].get(0) == 0) break;
      KILN_ASSIGN_OR_RETURN(std::vector<Literal> next, run(*op.region(1), args));
      if (static_cast<int>(next.size()) != n) {
        return absl::FailedPreconditionError(
            "interpret: the 'while' body yields the wrong number of values");
      }
      for (int j = 0; j < n; ++j) {
        if (!fits(next[j].type(), op.result(j)->type())) {
          return absl::InvalidArgumentError(cat("while: loop variable #", j, " has type ",
                                                op.result(j)->type(), " but the body produced ",
                                                next[j].type()));
        }
      }
      carried = std::move(next);
    }
    return carried;
  }

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
