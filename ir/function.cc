// kiln — IR data structure operations.
#include "ir/function.h"

#include <algorithm>
#include <cassert>

#include "support/str.h"

namespace kiln::ir {

std::string Location::to_string() const {
  if (!known()) return "";
  if (file.empty()) return cat(line, ":", col);
  return cat(file, ":", line, ":", col);
}

std::unique_ptr<Op> Op::create(OpKind kind, std::vector<Value*> operands,
                               std::vector<Type> result_types, Attrs attrs, Location loc) {
  std::unique_ptr<Op> op(new Op());
  op->kind_ = kind;
  op->operands_ = std::move(operands);
  op->attrs_ = std::move(attrs);
  op->loc_ = std::move(loc);
  for (size_t i = 0; i < result_types.size(); ++i) {
    op->results_.push_back(std::unique_ptr<Value>(
        new Value(std::move(result_types[i]), op.get(), nullptr, static_cast<int>(i))));
  }
  return op;
}

Op::~Op() = default;

Value* Op::add_result(Type type) {
  results_.push_back(std::unique_ptr<Value>(
      new Value(std::move(type), this, nullptr, static_cast<int>(results_.size()))));
  return results_.back().get();
}

Block& Op::add_region() {
  regions_.push_back(std::make_unique<Block>(this));
  return *regions_.back();
}

Value* Block::add_argument(Type type, std::string name) {
  args_.push_back(std::unique_ptr<Value>(
      new Value(std::move(type), nullptr, this, static_cast<int>(args_.size()))));
  args_.back()->set_name(std::move(name));
  return args_.back().get();
}

std::vector<Value*> Block::arguments() const {
  std::vector<Value*> out;
  for (const auto& a : args_) out.push_back(a.get());
  return out;
}

Op* Block::insert(OpList::iterator pos, std::unique_ptr<Op> op) {
  op->parent_ = this;
  return ops_.insert(pos, std::move(op))->get();
}

Block::OpList::iterator Block::find(const Op* op) {
  return std::find_if(ops_.begin(), ops_.end(), [op](const auto& p) { return p.get() == op; });
}

void Block::erase(Op* op) { ops_.erase(find(op)); }

std::unique_ptr<Op> Block::take(Op* op) {
  auto it = find(op);
  assert(it != ops_.end());
  std::unique_ptr<Op> owned = std::move(*it);
  ops_.erase(it);
  owned->parent_ = nullptr;
  return owned;
}

Op* Block::terminator() const {
  if (ops_.empty()) return nullptr;
  Op* last = ops_.back().get();
  return op_info(last->kind()).cls == OpClass::kTerminator ? last : nullptr;
}

std::vector<Type> Function::argument_types() const {
  std::vector<Type> out;
  for (int i = 0; i < body_.num_arguments(); ++i) out.push_back(body_.argument(i)->type());
  return out;
}

std::vector<Type> Function::result_types() const {
  std::vector<Type> out;
  if (Op* ret = body_.terminator()) {
    for (Value* v : ret->operands()) out.push_back(v->type());
  }
  return out;
}

Function& Module::add_function(std::string name) {
  functions_.push_back(std::make_unique<Function>(std::move(name)));
  return *functions_.back();
}

Function* Module::lookup(std::string_view name) const {
  for (const auto& f : functions_) {
    if (f->name() == name) return f.get();
  }
  return nullptr;
}

void walk(Block& block, const std::function<void(Op&)>& fn) {
  for (auto& op : block.ops()) {
    fn(*op);
    for (int i = 0; i < op->num_regions(); ++i) walk(*op->region(i), fn);
  }
}

void walk(const Block& block, const std::function<void(const Op&)>& fn) {
  for (const auto& op : block.ops()) {
    fn(*op);
    for (int i = 0; i < op->num_regions(); ++i) {
      walk(static_cast<const Block&>(*op->region(i)), fn);
    }
  }
}

void replace_all_uses(Block& block, Value* from, Value* to) {
  walk(block, [&](Op& op) {
    for (int i = 0; i < op.num_operands(); ++i) {
      if (op.operand(i) == from) op.set_operand(i, to);
    }
  });
}

bool has_uses(const Block& block, const Value* v) {
  bool used = false;
  walk(block, [&](const Op& op) {
    for (Value* o : op.operands()) used |= (o == v);
  });
  return used;
}

}  // namespace kiln::ir
