// kiln — IR builder.
#include "ir/builder.h"

namespace kiln::ir {

absl::StatusOr<Value*> Builder::create(OpKind kind, std::vector<Value*> operands, Attrs attrs,
                                       Location loc) {
  std::vector<Type> types;
  types.reserve(operands.size());
  for (Value* v : operands) types.push_back(v->type());
  auto type = infer_type(kind, types, attrs);
  if (!type.ok()) return type.status();
  return create_op(kind, std::move(operands), {std::move(*type)}, std::move(attrs), std::move(loc))
      ->result();
}

absl::StatusOr<Op*> Builder::create_multi(OpKind kind, std::vector<Value*> operands, Attrs attrs,
                                          Location loc) {
  std::vector<Type> types;
  types.reserve(operands.size());
  for (Value* v : operands) types.push_back(v->type());
  auto results = infer_types(kind, types, attrs);
  if (!results.ok()) return results.status();
  return create_op(kind, std::move(operands), std::move(*results), std::move(attrs),
                   std::move(loc));
}

Value* Builder::constant(Literal value, Location loc) {
  Type type = value.type();
  Op* op = create_op(OpKind::kConst, {}, {std::move(type)}, {}, std::move(loc));
  op->set_literal(std::move(value));
  return op->result();
}

Op* Builder::create_op(OpKind kind, std::vector<Value*> operands, std::vector<Type> result_types,
                       Attrs attrs, Location loc) {
  return block_->insert(pos_, Op::create(kind, std::move(operands), std::move(result_types),
                                         std::move(attrs), std::move(loc)));
}

}  // namespace kiln::ir
