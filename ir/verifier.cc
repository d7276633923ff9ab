// kiln — the IR verifier: checks the invariants listed in ir/verifier.h, regions included.
#include "ir/verifier.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "ir/printer.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::ir {
namespace {

std::string_view message_of(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

bool compatible(const Shape& a, const Shape& b) {
  if (a.rank() != b.rank()) return false;
  for (int i = 0; i < a.rank(); ++i) {
    if (a[i] != b[i] && a[i] >= 0 && b[i] >= 0) return false;
  }
  return true;
}

std::string type_list(const std::vector<Type>& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) out += cat(i ? ", " : "", types[i]);
  return out + ")";
}

// "fusion region", "cond region", "while region".
std::string region_name(const Op& op) { return cat(op.mnemonic(), " region"); }

std::vector<Type> operand_types(const Op& op, int first = 0) {
  std::vector<Type> out;
  for (int i = first; i < op.num_operands(); ++i) out.push_back(op.operand(i)->type());
  return out;
}

std::vector<Type> result_types(const Op& op) {
  std::vector<Type> out;
  for (int i = 0; i < op.num_results(); ++i) out.push_back(op.result(i)->type());
  return out;
}

std::vector<Type> yielded_types(const Block& region) {
  std::vector<Type> out;
  for (const Value* v : region.terminator()->operands()) out.push_back(v->type());
  return out;
}

class Verifier {
 public:
  explicit Verifier(const Function& fn) : fn_(fn) {}

  absl::Status run() {
    record_definitions(fn_.body());
    return verify_block(fn_.body());
  }

 private:
  // "line:col: error: msg" for an op with a location; otherwise the function and op text.
  absl::Status error(const Op* op, std::string_view message) const {
    if (op && op->loc().known()) {
      return absl::InvalidArgumentError(cat(op->loc().to_string(), ": error: ", message));
    }
    if (op) {
      return absl::InvalidArgumentError(
          cat("error: in @", fn_.name(), " at `", print_op(fn_, *op), "`: ", message));
    }
    return absl::InvalidArgumentError(cat("error: in @", fn_.name(), ": ", message));
  }

  void record_definitions(const Block& block) {
    for (const Value* arg : block.arguments()) defined_in_[arg] = &block;
    for (const auto& op : block.ops()) {
      for (int i = 0; i < op->num_results(); ++i) defined_in_[op->result(i)] = &block;
      for (int r = 0; r < op->num_regions(); ++r) record_definitions(*op->region(r));
    }
  }

  // Checks `block`'s ops in order, tracking the values visible so far (its arguments and the
  // results of earlier ops: a region sees nothing from above), and its terminator.
  absl::Status verify_block(const Block& block) {
    const Op* fusion = block.parent_op();
    const OpKind terminator = fusion ? OpKind::kYield : OpKind::kReturn;
    const std::string what = fusion ? cat("a ", region_name(*fusion)) : "a function body";
    if (block.empty()) {
      return error(fusion, cat(what, " must end with '", mnemonic(terminator), "' but is empty"));
    }
    std::unordered_set<const Value*> visible;
    for (const Value* arg : block.arguments()) visible.insert(arg);
    for (auto it = block.ops().begin(); it != block.ops().end(); ++it) {
      const Op& op = **it;
      const bool last = std::next(it) == block.ops().end();
      if (op.parent() != &block) {
        return error(&op, cat("'", op.mnemonic(), "': wrong parent block"));
      }
      KILN_RETURN_IF_ERROR(verify_operands_visible(op, block, visible));
      KILN_RETURN_IF_ERROR(verify_op(op));
      const bool is_terminator = op_info(op.kind()).cls == OpClass::kTerminator;
      if (is_terminator && op.kind() != terminator) {
        return error(&op, cat("'", op.mnemonic(), "' cannot end ", what, "; expected '",
                              mnemonic(terminator), "'"));
      }
      if (is_terminator && !last) {
        return error(&op, cat("'", op.mnemonic(), "' must be the last op of its block"));
      }
      if (last && !is_terminator) {
        return error(fusion ? fusion : &op, cat(what, " must end with '", mnemonic(terminator),
                                                "', but its last op is '", op.mnemonic(), "'"));
      }
      for (int i = 0; i < op.num_results(); ++i) visible.insert(op.result(i));
    }
    return absl::OkStatus();
  }

  absl::Status verify_operands_visible(const Op& op, const Block& block,
                                       const std::unordered_set<const Value*>& visible) const {
    for (int i = 0; i < op.num_operands(); ++i) {
      const Value* v = op.operand(i);
      const std::string which = cat("'", op.mnemonic(), "': operand #", i);
      if (v == nullptr) return error(&op, cat(which, " is null"));
      if (visible.count(v)) continue;
      auto it = defined_in_.find(v);
      if (it == defined_in_.end()) {
        return error(&op, cat(which, " is not defined in @", fn_.name()));
      }
      if (it->second == &block) return error(&op, cat(which, " is used before its definition"));
      if (encloses(it->second, block)) {
        return error(&op, cat(which, " is defined outside the ", region_name(*block.parent_op()),
                              "; regions are isolated from above"));
      }
      const Op* owner = it->second->parent_op();
      return error(
          &op, cat(which, " is defined inside a ",
                   owner ? region_name(*owner) : std::string("region"), " and not visible here"));
    }
    return absl::OkStatus();
  }

  // True if `outer` contains `inner` through a chain of fusion regions.
  static bool encloses(const Block* outer, const Block& inner) {
    for (const Op* p = inner.parent_op(); p && p->parent(); p = p->parent()->parent_op()) {
      if (p->parent() == outer) return true;
    }
    return false;
  }

  absl::Status verify_op(const Op& op) {
    const OpInfo& info = op_info(op.kind());
    const std::string name = cat("'", info.mnemonic, "'");
    if (info.arity >= 0 && op.num_operands() != info.arity) {
      return error(&op,
                   cat(name, " expects ", info.arity, " operand(s) but has ", op.num_operands()));
    }
    if (info.cls == OpClass::kTerminator && op.num_results() != 0) {
      return error(&op, cat(name, " must have no results but has ", op.num_results()));
    }
    if (info.cls != OpClass::kTerminator && info.cls != OpClass::kFusion &&
        info.cls != OpClass::kControl && !has_multiple_results(op.kind()) &&
        op.num_results() != 1) {
      return error(&op, cat(name, " must have 1 result but has ", op.num_results()));
    }
    int regions = 0;
    if (info.cls == OpClass::kFusion || op.kind() == OpKind::kCustomGrad) regions = 1;
    if (info.cls == OpClass::kControl) regions = 2;
    if (op.num_regions() != regions) {
      if (regions == 0) return error(&op, cat(name, " must not have a region"));
      if (op.num_regions() == 0) return error(&op, cat(name, " has no region"));
      return error(&op, cat(name, " must have ", regions, " region(s) but has ", op.num_regions()));
    }
    for (int r = 0; r < op.num_regions(); ++r) {
      if (op.region(r)->parent_op() != &op) {
        return error(&op, cat(name, ": region #", r, " has the wrong parent op"));
      }
    }
    if (op.kind() == OpKind::kCustomGrad) return verify_custom_grad(op);
    switch (info.cls) {
      case OpClass::kConstant:
        return verify_const(op);
      case OpClass::kFusion:
        return verify_fusion(op);
      case OpClass::kControl:
        return op.kind() == OpKind::kCond ? verify_cond(op) : verify_while(op);
      case OpClass::kTerminator:
        return absl::OkStatus();
      default:
        break;
    }
    std::vector<Type> types;
    for (const Value* v : op.operands()) types.push_back(v->type());
    if (auto s = verify_elementwise_operands(op.kind(), types); !s.ok()) {
      return error(&op, message_of(s));
    }
    if (has_multiple_results(op.kind())) {
      auto inferred = infer_types(op.kind(), types, op.attrs());
      if (!inferred.ok()) return error(&op, message_of(inferred.status()));
      std::vector<Type> results;
      for (int i = 0; i < op.num_results(); ++i) results.push_back(op.result(i)->type());
      if (results != *inferred) {
        return error(&op, cat(name, ": result types ", type_list(results),
                              " do not match inferred types ", type_list(*inferred)));
      }
      return absl::OkStatus();
    }
    auto inferred = infer_type(op.kind(), types, op.attrs());
    if (!inferred.ok()) return error(&op, message_of(inferred.status()));
    if (!(*inferred == op.result()->type())) {
      return error(&op, cat(name, ": result type ", op.result()->type(),
                            " does not match inferred type ", *inferred));
    }
    return absl::OkStatus();
  }

  absl::Status verify_const(const Op& op) const {
    if (!op.literal()) return error(&op, "'const' has no literal");
    if (!(op.literal()->type() == op.result()->type())) {
      return error(&op, cat("'const': literal is ", op.literal()->type(), " but the result is ",
                            op.result()->type()));
    }
    return absl::OkStatus();
  }

  // custom_grad(forward, inputs..., captures...): the result is the forward value; the region
  // takes (dy, one argument per operand) and yields one cotangent per input (operands #1..#k).
  absl::Status verify_custom_grad(const Op& op) {
    if (op.num_operands() < 1) {
      return error(&op, "'custom_grad' needs the forward value as its first operand");
    }
    if (!(op.result()->type() == op.operand(0)->type())) {
      return error(&op, cat("'custom_grad': result type ", op.result()->type(),
                            " does not match the forward value's type ", op.operand(0)->type()));
    }
    const Block& region = *op.region();
    if (region.parent_op() != &op) {
      return error(&op, "'custom_grad': region has the wrong parent op");
    }
    if (region.num_arguments() != op.num_operands() + 1) {
      return error(
          &op, cat("'custom_grad': region has ", region.num_arguments(), " argument(s) but needs ",
                   op.num_operands() + 1, ": the cotangent, then one per operand"));
    }
    for (int i = 0; i < region.num_arguments(); ++i) {
      const Type& want = i == 0 ? op.result()->type() : op.operand(i - 1)->type();
      if (!(region.argument(i)->type() == want)) {
        return error(
            &op,
            cat("'custom_grad': region argument #", i, " is ", region.argument(i)->type(), " but ",
                i == 0 ? std::string("the cotangent (the result type)") : cat("operand #", i - 1),
                " is ", want));
      }
    }
    KILN_RETURN_IF_ERROR(verify_block(region));
    const Op& yield = *region.terminator();
    if (yield.num_operands() >= op.num_operands()) {
      return error(&op, cat("'custom_grad': the region yields ", yield.num_operands(),
                            " cotangent(s) but the op has only ", op.num_operands() - 1,
                            " operand(s) after the forward value"));
    }
    for (int i = 0; i < yield.num_operands(); ++i) {
      if (!(yield.operand(i)->type() == op.operand(i + 1)->type())) {
        return error(&op, cat("'custom_grad': cotangent #", i, " is ", yield.operand(i)->type(),
                              " but operand #", i + 1, " is ", op.operand(i + 1)->type()));
      }
    }
    return absl::OkStatus();
  }

  absl::Status verify_fusion(const Op& op) {
    const Block& region = *op.region();
    if (region.parent_op() != &op) return error(&op, "'fusion': region has the wrong parent op");
    if (region.num_arguments() != op.num_operands()) {
      return error(&op, cat("'fusion': region has ", region.num_arguments(),
                            " argument(s) but the op has ", op.num_operands(), " operand(s)"));
    }
    for (int i = 0; i < op.num_operands(); ++i) {
      if (!(region.argument(i)->type() == op.operand(i)->type())) {
        return error(&op, cat("'fusion': region argument #", i, " is ", region.argument(i)->type(),
                              " but operand #", i, " is ", op.operand(i)->type()));
      }
    }
    KILN_RETURN_IF_ERROR(verify_block(region));
    if (attr_or<std::string>(op.attrs(), "kind", "loop") == "reduce") {
      // One reduction with elementwise ops around it (see docs/ir-format.md).
      int reductions = 0;
      for (const auto& inner : region.ops()) {
        const OpKind k = inner->kind();
        if (k == OpKind::kReduceSum || k == OpKind::kReduceMean || k == OpKind::kReduceMax ||
            k == OpKind::kReduceMin) {
          ++reductions;
        } else if (k != OpKind::kConst && k != OpKind::kYield && !is_elementwise(k)) {
          return error(inner.get(), cat("'", inner->mnemonic(),
                                        "' cannot be part of a fusion of kind \"reduce\""));
        }
      }
      if (reductions != 1) {
        return error(&op, cat("'fusion' of kind \"reduce\" must hold one reduce_sum, reduce_mean, "
                              "reduce_max or reduce_min but holds ",
                              reductions));
      }
    }
    std::vector<Type> yielded, results;
    for (const Value* v : region.terminator()->operands()) yielded.push_back(v->type());
    for (int i = 0; i < op.num_results(); ++i) results.push_back(op.result(i)->type());
    if (yielded != results) {
      return error(&op, cat("'fusion': result types ", type_list(results),
                            " do not match the yielded types ", type_list(yielded)));
    }
    return absl::OkStatus();
  }

  // Region #r's arguments have the types of `types` (the op's operands they stand for, starting
  // at operand #first).
  absl::Status verify_region_arguments(const Op& op, int r, const std::vector<Type>& types,
                                       int first) {
    const Block& region = *op.region(r);
    const std::string name = cat("'", op.mnemonic(), "'");
    if (region.num_arguments() != static_cast<int>(types.size())) {
      return error(&op, cat(name, ": region #", r, " has ", region.num_arguments(),
                            " argument(s) but ", types.size(), " are expected (one per operand",
                            first ? " after the predicate" : "", ")"));
    }
    for (int i = 0; i < region.num_arguments(); ++i) {
      if (!(region.argument(i)->type() == types[i])) {
        return error(
            &op, cat(name, ": region #", r, " argument #", i, " is ", region.argument(i)->type(),
                     " but operand #", i + first, " is ", types[i]));
      }
    }
    return verify_block(region);
  }

  // cond %pred, %a... : (bool[], ta...) -> results { then } else { else }
  absl::Status verify_cond(const Op& op) {
    if (op.num_operands() < 1) return error(&op, "'cond' needs a predicate operand");
    const Type pred{DType::kBool, Shape{}};
    if (!(op.operand(0)->type() == pred)) {
      return error(&op, cat("'cond': the predicate (operand #0) must be bool[] but is ",
                            op.operand(0)->type()));
    }
    const std::vector<Type> inputs = operand_types(op, 1);
    const std::vector<Type> results = result_types(op);
    static constexpr const char* kBranch[] = {"then", "else"};
    for (int r = 0; r < 2; ++r) {
      KILN_RETURN_IF_ERROR(verify_region_arguments(op, r, inputs, 1));
      const std::vector<Type> yielded = yielded_types(*op.region(r));
      if (yielded != results) {
        return error(&op, cat("'cond': the ", kBranch[r], " branch yields ", type_list(yielded),
                              " but the results are ", type_list(results)));
      }
    }
    return absl::OkStatus();
  }

  // while %carried..., %invariant... : (types) -> carried types { cond } do { body }
  absl::Status verify_while(const Op& op) {
    const int n = op.num_results();
    if (op.num_operands() < n) {
      return error(&op, cat("'while' has ", n, " result(s) but only ", op.num_operands(),
                            " operand(s); the first operands are the loop variables"));
    }
    const std::vector<Type> inputs = operand_types(op);
    const std::vector<Type> results = result_types(op);
    for (int j = 0; j < n; ++j) {
      if (!(inputs[j] == results[j])) {
        return error(&op, cat("'while': loop variable #", j, " enters as ", inputs[j],
                              " but result #", j, " is ", results[j]));
      }
    }
    if (auto it = op.attrs().find("maximum_iterations"); it != op.attrs().end()) {
      const int64_t* m = std::get_if<int64_t>(&it->second);
      if (!m || *m < 0) {
        return error(&op, "'while': maximum_iterations must be a non-negative integer");
      }
    }
    if (auto it = op.attrs().find("variables"); it != op.attrs().end()) {
      const std::string* names = std::get_if<std::string>(&it->second);
      const int64_t count = names ? 1 + std::count(names->begin(), names->end(), ',') : 0;
      if (!names || names->empty() || count > n) {
        return error(&op, cat("'while': variables must be a string of at most ", n,
                              " comma-separated Variable names (one per last loop variable)"));
      }
    }
    KILN_RETURN_IF_ERROR(verify_region_arguments(op, 0, inputs, 0));
    const std::vector<Type> pred = yielded_types(*op.region(0));
    if (pred.size() != 1 || !(pred[0] == Type{DType::kBool, Shape{}})) {
      return error(&op, cat("'while': the condition region must yield one bool[] but yields ",
                            type_list(pred)));
    }
    KILN_RETURN_IF_ERROR(verify_region_arguments(op, 1, inputs, 0));
    const std::vector<Type> body = yielded_types(*op.region(1));
    if (body != results) {
      return error(&op, cat("'while': the body yields ", type_list(body),
                            " but the loop variables are ", type_list(results)));
    }
    return absl::OkStatus();
  }

  const Function& fn_;
  // Every value defined anywhere in fn_ and its block, to explain SSA violations.
  std::unordered_map<const Value*, const Block*> defined_in_;
};

}  // namespace

absl::Status verify_elementwise_operands(OpKind kind, std::span<const Type> operand_types) {
  if (!is_elementwise(kind) || op_info(kind).cls == OpClass::kBroadcast) return absl::OkStatus();
  const Shape* expected = nullptr;
  for (size_t i = 0; i < operand_types.size(); ++i) {
    const Type& t = operand_types[i];
    if (t.shape.rank() == 0) continue;
    if (!expected) {
      expected = &t.shape;
    } else if (!compatible(*expected, t.shape)) {
      return absl::InvalidArgumentError(cat("'", mnemonic(kind), "': operand #", i, " is ", t,
                                            ", expected ", Type{t.dtype, *expected}, " or ",
                                            Type{t.dtype, Shape{}}));
    }
  }
  return absl::OkStatus();
}

absl::Status verify(const Function& fn) { return Verifier(fn).run(); }

absl::Status verify(const Module& module) {
  std::set<std::string_view> names;
  for (const auto& fn : module.functions()) {
    if (!names.insert(fn->name()).second) {
      return absl::InvalidArgumentError(cat("error: redefinition of function @", fn->name()));
    }
    KILN_RETURN_IF_ERROR(verify(*fn));
  }
  return absl::OkStatus();
}

}  // namespace kiln::ir
