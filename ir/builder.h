// kiln — builds IR: creates ops with inferred result types at an insertion point.
#pragma once

#include "absl/status/statusor.h"
#include "ir/function.h"

namespace kiln::ir {

class Builder {
 public:
  // Appends to the end of `block`.
  explicit Builder(Block* block) : block_(block), pos_(block->ops().end()) {}
  // Inserts before `pos` in `block`.
  Builder(Block* block, Block::OpList::iterator pos) : block_(block), pos_(pos) {}

  Block* block() const { return block_; }
  Block::OpList::iterator insertion_point() const { return pos_; }
  void set_insertion_point(Block* block, Block::OpList::iterator pos) {
    block_ = block;
    pos_ = pos;
  }
  void set_insertion_point_to_end(Block* block) { set_insertion_point(block, block->ops().end()); }

  // Creates `kind(operands) {attrs}`, its result type inferred by the op table (infer_type).
  absl::StatusOr<Value*> create(OpKind kind, std::vector<Value*> operands, Attrs attrs = {},
                                Location loc = {});
  // Like create, for any number of results (split, top_k): result types from infer_types.
  absl::StatusOr<Op*> create_multi(OpKind kind, std::vector<Value*> operands, Attrs attrs = {},
                                   Location loc = {});
  // `const` holding `value`.
  Value* constant(Literal value, Location loc = {});
  Value* scalar_constant(DType dtype, double v, Location loc = {}) {
    return constant(Literal::scalar(dtype, v), std::move(loc));
  }
  // An op with explicit result types; no inference (fusion, return, yield, parser).
  Op* create_op(OpKind kind, std::vector<Value*> operands, std::vector<Type> result_types,
                Attrs attrs = {}, Location loc = {});
  // Inserts a detached op (built with Op::create) at the insertion point.
  Op* insert(std::unique_ptr<Op> op) { return block_->insert(pos_, std::move(op)); }
  Op* create_return(std::vector<Value*> values, Location loc = {}) {
    return create_op(OpKind::kReturn, std::move(values), {}, {}, std::move(loc));
  }

 private:
  Block* block_;
  Block::OpList::iterator pos_;
};

}  // namespace kiln::ir
