// kiln — run-time shapes of a function with unknown dims (see resolve_shapes.h).
#include "compiler/resolve_shapes.h"

#include <algorithm>
#include <string>

#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

// True if concrete `s` fits declared `d` (same rank, equal known dims).
bool fits(const Shape& s, const Shape& d) {
  if (s.rank() != d.rank()) return false;
  for (int i = 0; i < s.rank(); ++i) {
    if (d[i] >= 0 && s[i] != d[i]) return false;
  }
  return true;
}

class Resolver {
 public:
  explicit Resolver(absl::flat_hash_map<const ir::Value*, ir::Type>& types) : types_(types) {}

  const ir::Type& type_of(const ir::Value* v) const {
    auto it = types_.find(v);
    return it == types_.end() ? v->type() : it->second;
  }

  // A type with unknown dims left is kept as is ("deferred"): a broadcast to a '?' dim takes
  // its size from the elementwise op that uses it (refine), and so do elementwise ops of such
  // values. Whatever stays unknown is an error (check_resolved).
  absl::Status set(const ir::Value* v, ir::Type t, const ir::Op& op) {
    if (v->type().shape.is_fully_defined() && t.shape == v->type().shape) return absl::OkStatus();
    if (t.dtype != v->type().dtype || t.shape.rank() != v->type().shape.rank() ||
        (t.shape.is_fully_defined() && !fits(t.shape, v->type().shape))) {
      return absl::InvalidArgumentError(cat("'", op.mnemonic(), "' gives ", t.to_string(),
                                            " at run time, which does not fit its type ",
                                            v->type().to_string()));
    }
    if (!v->type().shape.is_fully_defined()) types_[v] = std::move(t);
    return absl::OkStatus();
  }

  // The region's arguments take `arg_types`; then its ops are resolved.
  absl::Status block(const ir::Block& b, std::span<const ir::Type> arg_types, const ir::Op& owner) {
    for (int i = 0; i < b.num_arguments(); ++i) {
      KILN_RETURN_IF_ERROR(set(b.argument(i), arg_types[i], owner));
    }
    for (const auto& op : b.ops()) KILN_RETURN_IF_ERROR(this->op(*op));
    return absl::OkStatus();
  }

  bool deferred(const ir::Value* v) const {
    auto it = types_.find(v);
    return it != types_.end() && !it->second.shape.is_fully_defined();
  }

  // Fills the unknown dims of deferred `v` from `s` (the shape of an elementwise op using it),
  // and on through the elementwise ops and fusions that computed it.
  void refine(const ir::Value* v, const Shape& s) {
    auto it = types_.find(v);
    if (it == types_.end() || it->second.shape.is_fully_defined() ||
        it->second.shape.rank() != s.rank()) {
      return;
    }
    std::vector<int64_t> dims = it->second.shape.dims();
    for (int d = 0; d < s.rank(); ++d) {
      if (dims[d] < 0) dims[d] = s[d];
    }
    it->second.shape = Shape(dims);
    const ir::Op* def = v->defining_op();
    if (!def) return;
    if (def->kind() == ir::OpKind::kFusion) {
      const ir::Op* y = def->region()->terminator();
      if (y && v->index() < y->num_operands()) refine(y->operand(v->index()), s);
    } else if (ir::is_elementwise(def->kind()) && def->kind() != ir::OpKind::kBroadcast) {
      for (const ir::Value* operand : def->operands()) refine(operand, s);
    }
  }

  absl::Status no_deferred_operands(const ir::Op& op) const {
    for (int i = 0; i < op.num_operands(); ++i) {
      if (deferred(op.operand(i))) return unknown_error(op.operand(i));
    }
    return absl::OkStatus();
  }

  absl::Status unknown_error(const ir::Value* v) const {
    // A fusion region's argument stands for the fusion's operand: name the op that computed it.
    while (!v->defining_op() && v->owner_block() && v->owner_block()->parent_op() &&
           v->owner_block()->parent_op()->kind() == ir::OpKind::kFusion &&
           v->index() < v->owner_block()->parent_op()->num_operands()) {
      v = v->owner_block()->parent_op()->operand(v->index());
    }
    const ir::Op* def = v->defining_op();
    const Shape& s = type_of(v).shape;
    int d = 0;
    while (d < s.rank() && s[d] >= 0) ++d;
    return absl::InvalidArgumentError(
        cat(def ? cat("'", def->mnemonic(), "'") : std::string("a region argument"),
            " gives a value of type ", v->type().to_string(), " whose dim ", d,
            " cannot be determined from the argument shapes at run time (", s.to_string(),
            "); only an elementwise op can give such a broadcast its size"));
  }

  // Every value outside fusion regions (and every fusion result) has concrete dims.
  absl::Status check_resolved(const ir::Block& b) const {
    for (const auto& op : b.ops()) {
      for (int i = 0; i < op->num_results(); ++i) {
        if (deferred(op->result(i))) return unknown_error(op->result(i));
      }
      if (op->kind() == ir::OpKind::kFusion) continue;
      for (int r = 0; r < op->num_regions(); ++r)
        KILN_RETURN_IF_ERROR(check_resolved(*op->region(r)));
    }
    return absl::OkStatus();
  }

  // The elementwise check of the ops whose result was deferred when they were resolved, now
  // that check_resolved found every result concrete. With it, every elementwise op and fusion
  // has passed check_elementwise: an operand whose type equals the result's (the same '?'
  // positions) has the result's shape at run time, which buffer-plan relies on to write a
  // result over such an operand (passes/buffer_plan.cc, writes_in_place).
  absl::Status check_refined() {
    for (const ir::Op* op : refined_later_) {
      // Inside a fusion region a value may stay unrefined; the fusion's own check covers it.
      if (!type_of(op->result(0)).shape.is_fully_defined()) continue;
      std::vector<const ir::Value*> inputs;
      if (op->kind() == ir::OpKind::kFusion) {
        for (int i = 0; i < op->region()->num_arguments(); ++i) {
          inputs.push_back(op->region()->argument(i));
        }
        if (ir::attr_or<std::string>(op->attrs(), "kind", "loop") == "reduce") {
          KILN_RETURN_IF_ERROR(check_reduce_fusion(*op, *op->region(), inputs));
          continue;
        }
      } else {
        inputs.assign(op->operands().begin(), op->operands().end());
      }
      KILN_RETURN_IF_ERROR(check_elementwise(*op, inputs, type_of(op->result(0)).shape));
    }
    return absl::OkStatus();
  }

  std::vector<ir::Type> operand_types(const ir::Op& op, int first = 0) const {
    std::vector<ir::Type> out;
    for (int i = first; i < op.num_operands(); ++i) out.push_back(type_of(op.operand(i)));
    return out;
  }

  std::vector<ir::Type> yield_types(const ir::Block& b) const {
    const ir::Op* y = b.terminator();
    return y ? operand_types(*y) : std::vector<ir::Type>{};
  }

  // Elementwise operands broadcast only along dims of size 1 known when traced.
  absl::Status check_elementwise(const ir::Op& op, std::span<const ir::Value* const> inputs,
                                 const Shape& out) {
    for (const ir::Value* v : inputs) {
      const Shape& declared = v->type().shape;
      const Shape& actual = type_of(v).shape;
      for (int j = 0; j < declared.rank(); ++j) {
        const int p = out.rank() - declared.rank() + j;
        if (declared[j] < 0 && actual[j] != out[p]) {
          return absl::InvalidArgumentError(
              cat("'", op.mnemonic(), "': an operand of type ", v->type().to_string(), " is ",
                  actual.to_string(), " at run time and would broadcast to ", out.to_string(),
                  " along dim ", j,
                  ", which was unknown when traced (not supported: give that "
                  "dim a known size of 1)"));
        }
      }
    }
    return absl::OkStatus();
  }

  // A reduce fusion's arguments are read along the reduction's input (those its prologue ops
  // or the reduction read, ops of that shape) or along its result (the epilogue's).
  absl::Status check_reduce_fusion(const ir::Op& op, const ir::Block& region,
                                   const std::vector<const ir::Value*>& inputs) {
    const ir::Value* reduced = nullptr;
    for (const auto& inner : region.ops()) {
      const ir::OpKind k = inner->kind();
      if (k == ir::OpKind::kReduceSum || k == ir::OpKind::kReduceMean ||
          k == ir::OpKind::kReduceMax || k == ir::OpKind::kReduceMin) {
        reduced = inner->operand(0);
      }
    }
    if (!reduced || deferred(reduced)) return absl::OkStatus();
    for (const ir::Value* v : inputs) {
      bool prologue = false;
      for (const auto& inner : region.ops()) {
        const bool reads = std::find(inner->operands().begin(), inner->operands().end(), v) !=
                           inner->operands().end();
        if (reads && (inner->result(0) == reduced ||
                      inner->result(0)->type().shape == reduced->type().shape ||
                      std::find(inner->operands().begin(), inner->operands().end(), reduced) !=
                          inner->operands().end())) {
          prologue = true;
        }
      }
      const Shape& against = prologue ? type_of(reduced).shape : type_of(op.result(0)).shape;
      if (v->type().shape.rank() > against.rank()) continue;  // not elementwise with it
      const std::vector<const ir::Value*> one{v};
      KILN_RETURN_IF_ERROR(check_elementwise(op, one, against));
    }
    return absl::OkStatus();
  }

  absl::Status op(const ir::Op& op) {
    switch (op.kind()) {
      case ir::OpKind::kConst:
      case ir::OpKind::kReturn:
      case ir::OpKind::kYield:
        return absl::OkStatus();
      case ir::OpKind::kFusion: {
        const ir::Block* region = op.region();
        const std::vector<ir::Type> args = operand_types(op);
        KILN_RETURN_IF_ERROR(block(*region, args, op));
        // A deferred operand (a broadcast to an unknown dim that a reduce fusion reads from
        // memory) takes the size its region argument got from the elementwise ops using it.
        for (int i = 0; i < op.num_operands() && i < region->num_arguments(); ++i) {
          if (deferred(op.operand(i))) refine(op.operand(i), type_of(region->argument(i)).shape);
        }
        const std::vector<ir::Type> ys = yield_types(*region);
        for (int i = 0; i < op.num_results() && i < static_cast<int>(ys.size()); ++i) {
          KILN_RETURN_IF_ERROR(set(op.result(i), ys[i], op));
        }
        std::vector<const ir::Value*> inputs;
        for (int i = 0; i < region->num_arguments(); ++i) inputs.push_back(region->argument(i));
        if (deferred(op.result(0))) {  // checked once refined (check_refined)
          refined_later_.push_back(&op);
          return absl::OkStatus();
        }
        if (ir::attr_or<std::string>(op.attrs(), "kind", "loop") == "reduce") {
          return check_reduce_fusion(op, *region, inputs);
        }
        return check_elementwise(op, inputs, type_of(op.result(0)).shape);
      }
      case ir::OpKind::kCond: {
        KILN_RETURN_IF_ERROR(no_deferred_operands(op));
        const std::vector<ir::Type> args = operand_types(op, 1);
        std::vector<ir::Type> results[2];
        for (int r = 0; r < 2; ++r) {
          KILN_RETURN_IF_ERROR(block(*op.region(r), args, op));
          results[r] = yield_types(*op.region(r));
        }
        for (int i = 0; i < op.num_results(); ++i) {
          if (!(results[0][i] == results[1][i])) {
            return absl::InvalidArgumentError(
                cat("'cond': result ", i, " is ", results[0][i].to_string(), " in one branch and ",
                    results[1][i].to_string(), " in the other for these argument shapes"));
          }
          KILN_RETURN_IF_ERROR(set(op.result(i), results[0][i], op));
        }
        return absl::OkStatus();
      }
      case ir::OpKind::kWhile: {
        KILN_RETURN_IF_ERROR(no_deferred_operands(op));
        const std::vector<ir::Type> args = operand_types(op);
        for (int i = 0; i < op.num_results(); ++i) {
          KILN_RETURN_IF_ERROR(set(op.result(i), args[i], op));
        }
        for (int r = 0; r < 2; ++r) KILN_RETURN_IF_ERROR(block(*op.region(r), args, op));
        const std::vector<ir::Type> ys = yield_types(*op.region(1));
        for (int i = 0; i < op.num_results() && i < static_cast<int>(ys.size()); ++i) {
          if (!(ys[i] == args[i])) {
            return absl::InvalidArgumentError(
                cat("'while': loop variable ", i, " enters as ", args[i].to_string(),
                    " but the body yields ", ys[i].to_string(), " (its shape must not change)"));
          }
        }
        return absl::OkStatus();
      }
      default:
        break;
    }
    const bool elementwise = ir::is_elementwise(op.kind());
    if (!elementwise) KILN_RETURN_IF_ERROR(no_deferred_operands(op));
    if (elementwise) {
      // IR elementwise operands have one shape (or rank 0): a deferred one takes a known one's.
      for (const ir::Value* known : op.operands()) {
        if (deferred(known) || !type_of(known).shape.is_fully_defined()) continue;
        for (const ir::Value* v : op.operands()) refine(v, type_of(known).shape);
      }
    }
    const std::vector<ir::Type> in = operand_types(op);
    absl::StatusOr<std::vector<ir::Type>> out = ir::infer_types(op.kind(), in, op.attrs());
    if (!out.ok()) {
      return absl::InvalidArgumentError(
          cat("'", op.mnemonic(), "' at run time: ", out.status().message()));
    }
    for (int i = 0; i < op.num_results() && i < static_cast<int>(out->size()); ++i) {
      KILN_RETURN_IF_ERROR(set(op.result(i), (*out)[i], op));
    }
    if (elementwise && op.kind() != ir::OpKind::kBroadcast) {
      const Shape out = type_of(op.result()).shape;
      for (const ir::Value* v : op.operands()) refine(v, out);
      if (!out.is_fully_defined()) {  // checked once refined (check_refined)
        refined_later_.push_back(&op);
        return absl::OkStatus();
      }
      std::vector<const ir::Value*> inputs(op.operands().begin(), op.operands().end());
      return check_elementwise(op, inputs, out);
    }
    return absl::OkStatus();
  }

 private:
  absl::flat_hash_map<const ir::Value*, ir::Type>& types_;
  std::vector<const ir::Op*> refined_later_;
};

}  // namespace

absl::StatusOr<absl::flat_hash_map<const ir::Value*, ir::Type>> resolve_shapes(
    const ir::Function& fn, std::span<const Shape> arg_shapes) {
  absl::flat_hash_map<const ir::Value*, ir::Type> types;
  const ir::Block& body = fn.body();
  if (static_cast<int>(arg_shapes.size()) != body.num_arguments()) {
    return absl::InvalidArgumentError(cat("@", fn.name(), " takes ", body.num_arguments(),
                                          " argument(s) but got ", arg_shapes.size(), " shape(s)"));
  }
  for (int i = 0; i < body.num_arguments(); ++i) {
    const ir::Type& declared = body.argument(i)->type();
    if (!arg_shapes[i].is_fully_defined() || !fits(arg_shapes[i], declared.shape)) {
      return absl::InvalidArgumentError(cat("@", fn.name(), ": argument ", i, " has shape ",
                                            arg_shapes[i].to_string(), " but its type is ",
                                            declared.to_string()));
    }
    if (!declared.shape.is_fully_defined()) {
      types[body.argument(i)] = ir::Type{declared.dtype, arg_shapes[i]};
    }
  }
  Resolver r(types);
  for (const auto& op : body.ops()) KILN_RETURN_IF_ERROR(r.op(*op));
  KILN_RETURN_IF_ERROR(r.check_resolved(body));
  KILN_RETURN_IF_ERROR(r.check_refined());
  return types;
}

}  // namespace kiln::compiler
