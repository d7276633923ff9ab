// kiln — the IR's data structures: SSA values, ops, blocks, functions and modules.
//
// A Function owns one Block (its body); the Block owns its arguments and a list of Ops; an Op
// owns its result Values and its region Blocks: one for `fusion`, two for `cond` (the branches)
// and `while` (the condition and the body). A region's arguments stand for the op's operands
// inside it (regions are isolated from above: ops in a region use only the region's arguments
// and values defined in it). Every Block ends with a terminator (`return` in a function body,
// `yield` in a region).
#pragma once

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ir/literal.h"
#include "ir/ops.h"
#include "ir/types.h"

namespace kiln::ir {

class Block;
class Op;

// Where an op came from: a line:column in IR text, or a C++ file:line from a trace.
struct Location {
  std::string file;
  int line = 0;
  int col = 0;
  bool known() const { return line > 0; }
  std::string to_string() const;  // "file:line:col", "line:col" or "" if unknown
};

// An SSA value: the result of an op or an argument of a block.
class Value {
 public:
  const Type& type() const { return type_; }
  void set_type(Type type) { type_ = std::move(type); }
  // The op that defines this value, or nullptr for a block argument.
  Op* defining_op() const { return def_; }
  // The block whose argument this is (nullptr for op results).
  Block* owner_block() const { return block_; }
  // Result number within the defining op, or argument number within the block.
  int index() const { return index_; }
  // Name given in text or by the user. Block arguments print as %name (%argN if empty);
  // op results are always numbered when printed.
  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }

 private:
  friend class Op;
  friend class Block;
  Value(Type type, Op* def, Block* block, int index)
      : type_(std::move(type)), def_(def), block_(block), index_(index) {}

  Type type_;
  Op* def_ = nullptr;
  Block* block_ = nullptr;
  int index_ = 0;
  std::string name_;
};

class Op {
 public:
  // A detached op; insert it with Block::append/insert or use ir::Builder.
  static std::unique_ptr<Op> create(OpKind kind, std::vector<Value*> operands,
                                    std::vector<Type> result_types, Attrs attrs = {},
                                    Location loc = {});
  ~Op();

  OpKind kind() const { return kind_; }
  std::string_view mnemonic() const { return ir::mnemonic(kind_); }

  const std::vector<Value*>& operands() const { return operands_; }
  Value* operand(int i) const { return operands_[i]; }
  int num_operands() const { return static_cast<int>(operands_.size()); }
  void set_operand(int i, Value* v) { operands_[i] = v; }
  void set_operands(std::vector<Value*> operands) { operands_ = std::move(operands); }

  int num_results() const { return static_cast<int>(results_.size()); }
  Value* result(int i = 0) const { return results_[i].get(); }
  // Appends a result of `type` (ops whose result types are known only after their regions are
  // built, e.g. a traced cond).
  Value* add_result(Type type);

  Attrs& attrs() { return attrs_; }
  const Attrs& attrs() const { return attrs_; }

  // The value of a `const` op.
  const std::optional<Literal>& literal() const { return literal_; }
  void set_literal(Literal lit) { literal_ = std::move(lit); }

  // The regions of the op, in order: fusion has one, cond two (then, else), while two
  // (condition, body).
  int num_regions() const { return static_cast<int>(regions_.size()); }
  Block* region(int i) const { return regions_[i].get(); }
  // The first region (the body of a `fusion`), or nullptr if the op has none.
  Block* region() const { return regions_.empty() ? nullptr : regions_.front().get(); }
  // Appends a new, empty region and returns it.
  Block& add_region();
  // Same as add_region (kept for ops with one region).
  Block& create_region() { return add_region(); }

  // The block this op sits in (nullptr while detached).
  Block* parent() const { return parent_; }

  const Location& loc() const { return loc_; }
  void set_loc(Location loc) { loc_ = std::move(loc); }

 private:
  friend class Block;
  Op() = default;

  OpKind kind_ = OpKind::kConst;
  std::vector<Value*> operands_;
  std::vector<std::unique_ptr<Value>> results_;
  Attrs attrs_;
  std::optional<Literal> literal_;
  std::vector<std::unique_ptr<Block>> regions_;
  Block* parent_ = nullptr;
  Location loc_;
};

class Block {
 public:
  using OpList = std::list<std::unique_ptr<Op>>;

  explicit Block(Op* parent_op = nullptr) : parent_op_(parent_op) {}
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  Value* add_argument(Type type, std::string name = "");
  int num_arguments() const { return static_cast<int>(args_.size()); }
  Value* argument(int i) const { return args_[i].get(); }
  std::vector<Value*> arguments() const;

  OpList& ops() { return ops_; }
  const OpList& ops() const { return ops_; }
  bool empty() const { return ops_.empty(); }

  // Inserts `op` before `pos` / at the end and returns it.
  Op* insert(OpList::iterator pos, std::unique_ptr<Op> op);
  Op* append(std::unique_ptr<Op> op) { return insert(ops_.end(), std::move(op)); }
  // Removes `op` from this block and destroys it. Its results must be unused.
  void erase(Op* op);
  // Removes `op` from this block and hands ownership back.
  std::unique_ptr<Op> take(Op* op);
  OpList::iterator find(const Op* op);

  // The last op if it is a terminator (return/yield), else nullptr.
  Op* terminator() const;
  // The op whose region this is; nullptr for a function body.
  Op* parent_op() const { return parent_op_; }

 private:
  std::vector<std::unique_ptr<Value>> args_;
  OpList ops_;
  Op* parent_op_ = nullptr;
};

class Function {
 public:
  explicit Function(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  Block& body() { return body_; }
  const Block& body() const { return body_; }
  std::vector<Type> argument_types() const;
  // Types of the `return` operands (empty if the body has no return yet).
  std::vector<Type> result_types() const;

 private:
  std::string name_;
  Block body_;
};

class Module {
 public:
  Function& add_function(std::string name);
  std::vector<std::unique_ptr<Function>>& functions() { return functions_; }
  const std::vector<std::unique_ptr<Function>>& functions() const { return functions_; }
  Function* lookup(std::string_view name) const;

 private:
  std::vector<std::unique_ptr<Function>> functions_;
};

// Visits every op in `block` and, depth-first, in the regions of its ops, in order.
void walk(Block& block, const std::function<void(Op&)>& fn);
void walk(const Block& block, const std::function<void(const Op&)>& fn);

// Replaces every use of `from` by `to` among the ops of `block` and its nested regions.
void replace_all_uses(Block& block, Value* from, Value* to);

// True if some op in `block` (or its regions) uses `v` as an operand.
bool has_uses(const Block& block, const Value* v);

}  // namespace kiln::ir
