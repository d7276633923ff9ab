// kiln — lowering a Function to an LLVM module: the entry function, buffers and kernel calls.
//
//   int32_t entry(const void* const* args, void* const* results, void* workspace,
//                 const int64_t* dims)
//
// Unknown dims: a value whose type has '?' dims reads them from the dims table `dims` (filled by
// the caller per call from the argument shapes; LoweredModule::dims_entries), and so do byte
// counts, elementwise loop bounds and the types of kernel calls (kiln_rt_kernel_call_dyn). Such
// a value, if it lives in the workspace, finds its offset in the table too
// (LoweredModule::workspace_entries: one per buffer-plan slot with such a member, sized by the
// caller as its largest member, once per argument-shape tuple); fixed-size values keep constant
// offsets and constant dims.
//
// Buffers: arguments come from args[i]; a value returned once (and produced by an op that
// writes memory) lives directly in its results[j]; a top-level const is a private global; every
// other value gets a 64-byte aligned slot in the workspace: the slot the `buffer-plan` pass gave it
// (values that are never live at the same time share one; the plan is verified first), or one of
// its own if the function was not planned. Results that are arguments, consts or returned twice
// are copied at the `return`.
// Ops: fusion and lone elementwise ops call an internal loop function (lower_elementwise.cc);
// everything else calls kiln_rt_kernel_call with a KernelCall the code refers to by an external
// symbol (defined at link time, see kernel_call_symbol), and returns its error code if non-zero.
// Control flow: every pointer is computed in the entry block (so it dominates all uses); the
// ops follow from the `body` block on. `cond` is a conditional branch to its two lowered regions,
// each copying its yields into the cond's result buffers. `while` keeps its loop variables in
// its result buffers (initialized from the operands; the regions' arguments alias them, loop
// invariants alias their operands): a header block runs the condition region and branches to the
// body or the exit; the body runs its region, copies the yields back (through a scratch buffer
// when a yield is another loop variable) and jumps back to the header.
#include "compiler/lower.h"

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "passes/buffer_plan.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {

LoweredModule::LoweredModule() = default;
LoweredModule::~LoweredModule() = default;

namespace {

constexpr int64_t kSlotAlign = passes::kBufferAlign;

int64_t byte_size(const ir::Type& type) {
  return type.shape.num_elements() * dtype_size(type.dtype);
}

// Where a value's data lives during a run.
struct BufferRef {
  enum Kind { kArg, kResult, kWorkspace, kGlobal } kind = kWorkspace;
  int index = 0;             // argument / result number
  int64_t offset = 0;        // workspace offset
  int32_t offset_slot = -1;  // >= 0: the workspace offset is read from the dims table
  llvm::GlobalVariable* global = nullptr;
};

class EntryLowering {
 public:
  EntryLowering(const ir::Function& fn, LoweredModule& out)
      : fn_(fn), out_(out), ctx_(*out.context), module_(*out.module), b_(ctx_), pb_(ctx_) {}

  absl::Status lower();

 private:
  absl::Status check_function();
  absl::Status assign_buffers();
  llvm::Value* pointer(const ir::Value* v);
  llvm::Value* result_pointer(int j);
  absl::Status lower_op(const ir::Op& op);
  absl::Status lower_elementwise(const ir::Op& op);
  absl::Status lower_matmul(const ir::Op& op);
  absl::Status lower_kernel_call(const ir::Op& op);
  absl::Status lower_region_ops(const ir::Block& region);
  absl::Status lower_cond(const ir::Op& op);
  absl::Status lower_while(const ir::Op& op);
  absl::Status assign_block_buffers(const ir::Block& block, int64_t& ws);
  BufferRef new_slot(const ir::Value* v, int64_t& ws);
  void note_dims(const ir::Value* v);
  llvm::Value* dims_pointer(const ir::Value* v);
  llvm::Value* byte_count(const ir::Value* v);
  llvm::Value* workspace_pointer(const BufferRef& ref);
  void copy_value(llvm::Value* dst, const ir::Value* src);
  bool same_buffer(const ir::Value* a, const ir::Value* b) const;
  void lower_return(const ir::Op& ret);
  void emit_error_branch(llvm::Value* failed, llvm::Value* code, std::string_view what);

  const ir::Function& fn_;
  LoweredModule& out_;
  llvm::LLVMContext& ctx_;
  llvm::Module& module_;
  llvm::IRBuilder<> b_;
  llvm::IRBuilder<> pb_;  // the entry block: pointers and other loop-invariant setup

  llvm::Function* entry_ = nullptr;
  llvm::Value* inputs_array_ = nullptr;  // [max kernel inputs x ptr] for kiln_rt_kernel_call
  llvm::Value* div_flag_ = nullptr;      // i8, see ElementwiseFunction::checks_division
  llvm::FunctionCallee kernel_call_;
  absl::flat_hash_map<const ir::Value*, BufferRef> buffers_;
  absl::flat_hash_map<const ir::Value*, llvm::Value*> pointers_;
  // Scratch buffers of a while body's yield operands that are loop variables of another index.
  absl::flat_hash_map<const ir::Value*, BufferRef> scratch_;  // keyed by the while's result
  std::vector<BufferRef> slot_refs_;                          // where each buffer-plan slot lives
  std::vector<llvm::Value*> result_pointers_;
  int num_loops_ = 0;
  // Values with unknown dims: the table slot of their first dim.
  absl::flat_hash_map<const ir::Value*, int32_t> dims_slot_;
  absl::flat_hash_map<const ir::Value*, llvm::Value*> byte_counts_;
};

absl::Status EntryLowering::check_function() {
  const ir::Block& body = fn_.body();
  const ir::Op* ret = body.terminator();
  if (!ret || ret->kind() != ir::OpKind::kReturn) {
    return absl::InvalidArgumentError(cat("function @", fn_.name(), " does not end in return"));
  }
  // Unknown dims are allowed everywhere except in constants (which have literals).
  return absl::OkStatus();
}

absl::Status EntryLowering::assign_buffers() {
  const ir::Block& body = fn_.body();
  for (int i = 0; i < body.num_arguments(); ++i) {
    buffers_[body.argument(i)] = {BufferRef::kArg, i};
    note_dims(body.argument(i));
  }
  // Values produced by a memory-writing op and returned go straight to their first result.
  const ir::Op* ret = body.terminator();
  for (int j = 0; j < ret->num_operands(); ++j) {
    const ir::Value* v = ret->operand(j);
    const ir::Op* def = v->defining_op();
    if (def && def->kind() != ir::OpKind::kConst && !buffers_.contains(v)) {
      buffers_[v] = {BufferRef::kResult, j};
    }
  }
  passes::BufferPlanStats plan;
  KILN_RETURN_IF_ERROR(passes::verify_buffer_plan(fn_, &plan));
  // Slots sized at compile time get constant offsets; the others, table entries.
  int64_t ws = 0;
  for (size_t s = 0; s < plan.slot_bytes.size(); ++s) {
    BufferRef ref{BufferRef::kWorkspace};
    if (plan.slot_sized_at_run_time[s]) {
      ref.offset_slot = out_.table_size++;
      out_.workspace_entries.push_back({ref.offset_slot, plan.slot_values[s]});
    } else {
      ref.offset = ws;
      ws += plan.slot_bytes[s];
    }
    slot_refs_.push_back(ref);
  }
  KILN_RETURN_IF_ERROR(assign_block_buffers(body, ws));
  out_.workspace_bytes = ws;
  // Without sharing: every planned value in its own slot, plus what was allocated below.
  out_.workspace_bytes_without_reuse = plan.unplanned_bytes + (ws - plan.planned_bytes);
  return absl::OkStatus();
}

// A workspace buffer for `v`: at a constant offset if its size is known, else at an offset
// the caller computes per call and passes in the dims table.
BufferRef EntryLowering::new_slot(const ir::Value* v, int64_t& ws) {
  BufferRef ref{BufferRef::kWorkspace};
  if (v->type().shape.is_fully_defined()) {
    ref.offset = ws;
    ws += passes::workspace_bytes(v->type());
  } else {
    ref.offset_slot = out_.table_size++;
    out_.workspace_entries.push_back({ref.offset_slot, {v}});
  }
  return ref;
}

// Gives `v` dims slots in the table if its type has unknown dims.
void EntryLowering::note_dims(const ir::Value* v) {
  if (v->type().shape.is_fully_defined() || dims_slot_.contains(v)) return;
  const int32_t slot = out_.table_size;
  out_.table_size += v->type().shape.rank();
  dims_slot_[v] = slot;
  out_.dims_entries.push_back({v, slot});
  out_.polymorphic = true;
}

// The address of `v`'s dims in the table (entry block).
llvm::Value* EntryLowering::dims_pointer(const ir::Value* v) {
  return pb_.CreateConstInBoundsGEP1_64(pb_.getInt64Ty(), entry_->getArg(3), dims_slot_.at(v));
}

// Bytes of `v`'s data: a constant, or the product of its dims from the table (entry block).
llvm::Value* EntryLowering::byte_count(const ir::Value* v) {
  const ir::Type& type = v->type();
  if (type.shape.is_fully_defined()) return b_.getInt64(byte_size(type));
  auto it = byte_counts_.find(v);
  if (it != byte_counts_.end()) return it->second;
  llvm::Value* n = pb_.getInt64(dtype_size(type.dtype));
  llvm::Value* dims = dims_pointer(v);
  for (int d = 0; d < type.shape.rank(); ++d) {
    llvm::Value* dim = type.shape[d] >= 0
                           ? static_cast<llvm::Value*>(pb_.getInt64(type.shape[d]))
                           : pb_.CreateLoad(pb_.getInt64Ty(), pb_.CreateConstInBoundsGEP1_64(
                                                                  pb_.getInt64Ty(), dims, d));
    n = pb_.CreateMul(n, dim, "", true, true);
  }
  byte_counts_[v] = n;
  return n;
}

llvm::Value* EntryLowering::workspace_pointer(const BufferRef& ref) {
  if (ref.offset_slot < 0) {
    return pb_.CreateConstInBoundsGEP1_64(pb_.getInt8Ty(), entry_->getArg(2), ref.offset);
  }
  llvm::Value* offset = pb_.CreateLoad(
      pb_.getInt64Ty(),
      pb_.CreateConstInBoundsGEP1_64(pb_.getInt64Ty(), entry_->getArg(3), ref.offset_slot));
  return pb_.CreateInBoundsGEP(pb_.getInt8Ty(), entry_->getArg(2), offset);
}

// Buffers of `block`'s op results and, recursively, of the values in their regions.
absl::Status EntryLowering::assign_block_buffers(const ir::Block& block, int64_t& ws) {
  for (const auto& op : block.ops()) {
    if (op->kind() == ir::OpKind::kConst) {
      if (!op->literal() || !(op->literal()->type() == op->result()->type())) {
        return absl::InvalidArgumentError("const without a literal of its type");
      }
      const ir::Literal& lit = *op->literal();
      auto* data = llvm::ConstantDataArray::getRaw(
          llvm::StringRef(static_cast<const char*>(lit.data()), lit.size_bytes()), lit.size_bytes(),
          b_.getInt8Ty());
      auto* gv = new llvm::GlobalVariable(module_, data->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::PrivateLinkage, data, "kiln.const");
      gv->setAlignment(llvm::Align(kSlotAlign));
      gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
      BufferRef ref{BufferRef::kGlobal};
      ref.global = gv;
      buffers_[op->result()] = ref;
      continue;
    }
    const auto plan = op->attrs().find(passes::kBufferAttr);
    const auto* slots =
        plan == op->attrs().end() ? nullptr : std::get_if<std::vector<int64_t>>(&plan->second);
    for (int i = 0; i < op->num_results(); ++i) {
      const ir::Value* v = op->result(i);
      note_dims(v);
      if (buffers_.contains(v)) continue;
      const int64_t slot = slots && i < static_cast<int>(slots->size()) ? (*slots)[i] : -1;
      if (slot >= 0) {  // planned by buffer-plan
        buffers_[v] = slot_refs_.at(slot);
      } else {
        buffers_[v] = new_slot(v, ws);
      }
    }
    if (op->kind() == ir::OpKind::kCond || op->kind() == ir::OpKind::kWhile) {
      const bool is_while = op->kind() == ir::OpKind::kWhile;
      const int first = is_while ? 0 : 1;  // operand of region argument #0
      const int n = is_while ? op->num_results() : 0;
      if (op->num_regions() != 2 || op->num_operands() < std::max(first, n)) {
        return absl::InvalidArgumentError(cat("malformed '", op->mnemonic(), "'"));
      }
      for (int r = 0; r < 2; ++r) {
        const ir::Block& region = *op->region(r);
        const ir::Op* yield = region.terminator();
        if (region.num_arguments() != op->num_operands() - first || !yield ||
            yield->kind() != ir::OpKind::kYield) {
          return absl::InvalidArgumentError(cat("malformed '", op->mnemonic(), "' region"));
        }
        // Region arguments never get written: they share the buffers they stand for.
        for (int i = 0; i < region.num_arguments(); ++i) {
          buffers_[region.argument(i)] =
              i < n ? buffers_.at(op->result(i)) : buffers_.at(op->operand(i + first));
          note_dims(region.argument(i));
        }
        KILN_RETURN_IF_ERROR(assign_block_buffers(region, ws));
      }
      if (is_while) {
        const ir::Op* yield = op->region(1)->terminator();
        if (yield->num_operands() != n) {
          return absl::InvalidArgumentError("malformed 'while': body yield count");
        }
        for (int j = 0; j < n; ++j) {
          const ir::Value* y = yield->operand(j);
          if (y->owner_block() == op->region(1) && y->index() != j) {
            scratch_[op->result(j)] = new_slot(y, ws);
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

llvm::Value* EntryLowering::result_pointer(int j) {
  if (!result_pointers_[j]) {
    llvm::Value* slot = pb_.CreateConstInBoundsGEP1_64(pb_.getPtrTy(), entry_->getArg(1), j);
    result_pointers_[j] = pb_.CreateLoad(pb_.getPtrTy(), slot, cat("result", j));
  }
  return result_pointers_[j];
}

// The address of `v`'s data, computed once in the entry block (which dominates every use).
llvm::Value* EntryLowering::pointer(const ir::Value* v) {
  auto it = pointers_.find(v);
  if (it != pointers_.end()) return it->second;
  const BufferRef& ref = buffers_.at(v);
  llvm::Value* p = nullptr;
  switch (ref.kind) {
    case BufferRef::kArg: {
      llvm::Value* slot =
          pb_.CreateConstInBoundsGEP1_64(pb_.getPtrTy(), entry_->getArg(0), ref.index);
      p = pb_.CreateLoad(pb_.getPtrTy(), slot, cat("arg", ref.index));
      break;
    }
    case BufferRef::kResult:
      p = result_pointer(ref.index);
      break;
    case BufferRef::kWorkspace:
      p = workspace_pointer(ref);
      break;
    case BufferRef::kGlobal:
      p = ref.global;
      break;
  }
  pointers_[v] = p;
  return p;
}

bool EntryLowering::same_buffer(const ir::Value* a, const ir::Value* b) const {
  const BufferRef& x = buffers_.at(a);
  const BufferRef& y = buffers_.at(b);
  if (x.kind != y.kind) return false;
  switch (x.kind) {
    case BufferRef::kArg:
    case BufferRef::kResult:
      return x.index == y.index;
    case BufferRef::kWorkspace:
      return x.offset == y.offset && x.offset_slot == y.offset_slot;
    case BufferRef::kGlobal:
      return x.global == y.global;
  }
  return false;
}

void EntryLowering::copy_value(llvm::Value* dst, const ir::Value* src) {
  if (src->type().shape.num_elements() == 0) return;
  b_.CreateMemCpy(dst, llvm::MaybeAlign(), pointer(src), llvm::MaybeAlign(), byte_count(src));
}

// The ops of a cond/while region up to its yield (which the caller handles).
absl::Status EntryLowering::lower_region_ops(const ir::Block& region) {
  for (const auto& op : region.ops()) {
    if (op->kind() == ir::OpKind::kYield) break;
    KILN_RETURN_IF_ERROR(lower_op(*op));
  }
  return absl::OkStatus();
}

absl::Status EntryLowering::lower_cond(const ir::Op& op) {
  llvm::Value* pred = b_.CreateLoad(b_.getInt8Ty(), pointer(op.operand(0)), "cond.pred");
  auto* then_bb = llvm::BasicBlock::Create(ctx_, "cond.then", entry_);
  auto* else_bb = llvm::BasicBlock::Create(ctx_, "cond.else", entry_);
  auto* merge_bb = llvm::BasicBlock::Create(ctx_, "cond.end", entry_);
  b_.CreateCondBr(b_.CreateICmpNE(pred, b_.getInt8(0)), then_bb, else_bb);
  llvm::BasicBlock* branches[] = {then_bb, else_bb};
  for (int r = 0; r < 2; ++r) {
    b_.SetInsertPoint(branches[r]);
    const ir::Block& region = *op.region(r);
    KILN_RETURN_IF_ERROR(lower_region_ops(region));
    const ir::Op* yield = region.terminator();
    for (int i = 0; i < op.num_results(); ++i) {
      if (same_buffer(yield->operand(i), op.result(i))) continue;
      copy_value(pointer(op.result(i)), yield->operand(i));
    }
    b_.CreateBr(merge_bb);
  }
  b_.SetInsertPoint(merge_bb);
  return absl::OkStatus();
}

absl::Status EntryLowering::lower_while(const ir::Op& op) {
  const int n = op.num_results();
  for (int j = 0; j < n; ++j) {
    if (!same_buffer(op.operand(j), op.result(j))) {
      copy_value(pointer(op.result(j)), op.operand(j));
    }
  }
  const int64_t max_iterations = ir::attr_or<int64_t>(op.attrs(), "maximum_iterations", -1);
  llvm::Value* counter = nullptr;
  if (max_iterations >= 0) {
    llvm::BasicBlock* entry_block = &entry_->getEntryBlock();
    llvm::IRBuilder<> alloca_builder(entry_block, entry_block->begin());
    counter = alloca_builder.CreateAlloca(b_.getInt64Ty(), nullptr, "while.iterations");
    b_.CreateStore(b_.getInt64(0), counter);
  }
  auto* header = llvm::BasicBlock::Create(ctx_, "while.cond", entry_);
  auto* body = llvm::BasicBlock::Create(ctx_, "while.body", entry_);
  auto* exit = llvm::BasicBlock::Create(ctx_, "while.end", entry_);
  b_.CreateBr(header);

  b_.SetInsertPoint(header);
  KILN_RETURN_IF_ERROR(lower_region_ops(*op.region(0)));
  const ir::Op* cond_yield = op.region(0)->terminator();
  if (cond_yield->num_operands() != 1) {
    return absl::InvalidArgumentError("malformed 'while': condition yield");
  }
  llvm::Value* go = b_.CreateICmpNE(
      b_.CreateLoad(b_.getInt8Ty(), pointer(cond_yield->operand(0)), "while.pred"), b_.getInt8(0));
  if (counter) {
    llvm::Value* below =
        b_.CreateICmpSLT(b_.CreateLoad(b_.getInt64Ty(), counter), b_.getInt64(max_iterations));
    go = b_.CreateAnd(go, below);
  }
  b_.CreateCondBr(go, body, exit);

  b_.SetInsertPoint(body);
  KILN_RETURN_IF_ERROR(lower_region_ops(*op.region(1)));
  const ir::Op* yield = op.region(1)->terminator();
  // Loop variables yielded in another position are read before any is overwritten.
  std::vector<llvm::Value*> sources(n, nullptr);
  for (int j = 0; j < n; ++j) {
    auto it = scratch_.find(op.result(j));
    if (it == scratch_.end()) continue;
    llvm::Value* tmp = workspace_pointer(it->second);
    copy_value(tmp, yield->operand(j));
    sources[j] = tmp;
  }
  for (int j = 0; j < n; ++j) {
    if (sources[j]) {
      if (op.result(j)->type().shape.num_elements() != 0) {
        b_.CreateMemCpy(pointer(op.result(j)), llvm::MaybeAlign(), sources[j], llvm::MaybeAlign(),
                        byte_count(op.result(j)));
      }
    } else if (!same_buffer(yield->operand(j), op.result(j))) {
      copy_value(pointer(op.result(j)), yield->operand(j));
    }
  }
  if (counter) {
    b_.CreateStore(b_.CreateAdd(b_.CreateLoad(b_.getInt64Ty(), counter), b_.getInt64(1)), counter);
  }
  b_.CreateBr(header);
  b_.SetInsertPoint(exit);
  return absl::OkStatus();
}

absl::Status EntryLowering::lower_elementwise(const ir::Op& op) {
  ElementwiseGroup group;
  if (op.kind() == ir::OpKind::kFusion) {
    const std::string kind = ir::attr_or<std::string>(op.attrs(), "kind", "loop");
    if (kind != "loop" && kind != "reduce") {
      return absl::UnimplementedError(cat("fusion of kind \"", kind, "\" is not supported"));
    }
    const ir::Block* region = op.region();
    const ir::Op* yield = region ? region->terminator() : nullptr;
    if (!yield || yield->kind() != ir::OpKind::kYield ||
        region->num_arguments() != op.num_operands() || yield->num_operands() != op.num_results() ||
        op.num_results() == 0) {
      return absl::InvalidArgumentError("malformed fusion region");
    }
    for (int i = 0; i < region->num_arguments(); ++i) {
      if (!(region->argument(i)->type() == op.operand(i)->type())) {
        return absl::InvalidArgumentError("fusion region argument types differ from operands");
      }
      group.inputs.push_back(region->argument(i));
    }
    for (const auto& inner : region->ops()) {
      if (inner.get() != yield) group.ops.push_back(inner.get());
    }
    for (int i = 0; i < yield->num_operands(); ++i) {
      if (!(yield->operand(i)->type() == op.result(i)->type())) {
        return absl::InvalidArgumentError("fusion result types differ from its yield");
      }
      group.outputs.push_back(yield->operand(i));
    }
  } else {
    for (const ir::Value* v : op.operands()) group.inputs.push_back(v);
    group.ops.push_back(&op);
    group.outputs.push_back(op.result());
  }
  group.shape = op.result()->type().shape;
  // Results buffer-plan placed over a dying operand (an in-place update).
  group.input_in_output.assign(op.num_operands(), -1);
  for (int i = 0; i < op.num_operands(); ++i) {
    for (int j = 0; j < op.num_results(); ++j) {
      if (buffers_.at(op.operand(i)).kind == BufferRef::kWorkspace &&
          same_buffer(op.operand(i), op.result(j))) {
        group.input_in_output[i] = j;
      }
    }
  }
  const std::string loop_name = cat(out_.entry_name, ".loop", num_loops_++);
  const bool reduce = op.kind() == ir::OpKind::kFusion &&
                      ir::attr_or<std::string>(op.attrs(), "kind", "loop") == "reduce";
  KILN_ASSIGN_OR_RETURN(ElementwiseFunction loop,
                        reduce ? emit_reduce_function(module_, group, loop_name)
                               : emit_elementwise_function(module_, group, loop_name));
  std::vector<llvm::Value*> call_args;
  for (int i = 0; i < op.num_results(); ++i) call_args.push_back(pointer(op.result(i)));
  for (const ir::Value* v : op.operands()) call_args.push_back(pointer(v));
  if (loop.checks_division) {
    if (!div_flag_) {
      llvm::BasicBlock* entry_block = &entry_->getEntryBlock();
      llvm::IRBuilder<> alloca_builder(entry_block, entry_block->begin());
      div_flag_ = alloca_builder.CreateAlloca(b_.getInt8Ty(), nullptr, "div_by_zero");
    }
    b_.CreateStore(b_.getInt8(0), div_flag_);
    call_args.push_back(div_flag_);
  }
  if (loop.takes_dims) call_args.push_back(dims_pointer(op.result(0)));
  b_.CreateCall(loop.function, call_args);
  if (loop.checks_division) {
    const int32_t code = kCompiledErrorBase + static_cast<int32_t>(out_.error_messages.size());
    // Name the op as eager execution does ("mod: Integer division by zero"): the first integer
    // division-like op of the loop.
    std::string_view divider = "div";
    for (const ir::Op* inner : group.ops) {
      const ir::OpKind k = inner->kind();
      if ((k == ir::OpKind::kDiv || k == ir::OpKind::kMod || k == ir::OpKind::kFloorDiv) &&
          is_integer(inner->result()->type().dtype)) {
        divider = inner->mnemonic();
        break;
      }
    }
    out_.error_messages.push_back(cat(divider, ": Integer division by zero"));
    llvm::Value* failed = b_.CreateICmpNE(b_.CreateLoad(b_.getInt8Ty(), div_flag_), b_.getInt8(0));
    emit_error_branch(failed, b_.getInt32(code), "div");
  }
  return absl::OkStatus();
}

absl::Status EntryLowering::lower_matmul(const ir::Op& op) {
  KILN_ASSIGN_OR_RETURN(
      llvm::Function * fn,
      emit_matmul_function(module_, op, cat(out_.entry_name, ".matmul", num_loops_++)));
  std::vector<llvm::Value*> args = {pointer(op.result())};
  for (const ir::Value* v : op.operands()) args.push_back(pointer(v));
  b_.CreateCall(fn, args);
  return absl::OkStatus();
}

absl::Status EntryLowering::lower_kernel_call(const ir::Op& op) {
  const bool multi = ir::has_multiple_results(op.kind());
  if (op.kind() == ir::OpKind::kGrad) {
    return absl::UnimplementedError(
        "'grad' cannot be compiled: run the autodiff pass first to expand it");
  }
  if (op.kind() == ir::OpKind::kCustomGrad) {
    return absl::UnimplementedError(
        "'custom_grad' cannot be compiled: run the autodiff pass first (it expands the region "
        "on gradient paths and replaces the op by its forward value)");
  }
  if (op.num_results() != 1 && !multi) {
    return absl::UnimplementedError(
        cat("'", op.mnemonic(), "' with ", op.num_results(), " results cannot be compiled"));
  }
  auto call = std::make_unique<kernels::KernelCall>();
  call->kind = op.kind();
  call->attrs = op.attrs();
  bool dynamic = false;
  auto slot_of = [&](const ir::Value* v) {
    auto it = dims_slot_.find(v);
    dynamic |= it != dims_slot_.end();
    return it == dims_slot_.end() ? int32_t{-1} : it->second;
  };
  for (const ir::Value* v : op.operands()) {
    call->input_types.push_back(v->type());
    call->input_dims_slots.push_back(slot_of(v));
  }
  call->output_type = op.result()->type();
  for (int i = 0; i < op.num_results(); ++i) {
    call->output_types.push_back(op.result(i)->type());
    call->output_dims_slots.push_back(slot_of(op.result(i)));
  }
  if (!dynamic) call->input_dims_slots.clear(), call->output_dims_slots.clear();
  // An external byte whose address is the KernelCall's: one load from the GOT per call.
  auto* call_ptr = new llvm::GlobalVariable(
      module_, b_.getInt8Ty(), /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage,
      /*Initializer=*/nullptr, kernel_call_symbol(static_cast<int>(out_.kernel_calls.size())));
  out_.kernel_calls.push_back(std::move(call));

  for (int i = 0; i < op.num_operands(); ++i) {
    b_.CreateStore(pointer(op.operand(i)),
                   b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), inputs_array_, i));
  }
  llvm::Value* rc = nullptr;
  if (multi) {  // split / top_k: an array of output pointers, kiln_rt_kernel_call_multi
    llvm::BasicBlock* entry_block = &entry_->getEntryBlock();
    llvm::IRBuilder<> alloca_builder(entry_block, entry_block->begin());
    llvm::Value* outputs = alloca_builder.CreateAlloca(
        llvm::ArrayType::get(b_.getPtrTy(), op.num_results()), nullptr, "outputs");
    for (int i = 0; i < op.num_results(); ++i) {
      b_.CreateStore(pointer(op.result(i)),
                     b_.CreateConstInBoundsGEP1_64(b_.getPtrTy(), outputs, i));
    }
    llvm::PointerType* ptr = b_.getPtrTy();
    if (dynamic) {
      auto* fn_type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr, ptr}, false);
      llvm::FunctionCallee fn =
          module_.getOrInsertFunction("kiln_rt_kernel_call_multi_dyn", fn_type);
      rc = b_.CreateCall(fn, {call_ptr, inputs_array_, outputs, entry_->getArg(3)},
                         cat(op.mnemonic(), ".rc"));
    } else {
      auto* fn_type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr}, false);
      llvm::FunctionCallee multi_fn =
          module_.getOrInsertFunction("kiln_rt_kernel_call_multi", fn_type);
      rc = b_.CreateCall(multi_fn, {call_ptr, inputs_array_, outputs}, cat(op.mnemonic(), ".rc"));
    }
  } else if (dynamic) {
    llvm::PointerType* ptr = b_.getPtrTy();
    auto* fn_type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr, ptr}, false);
    llvm::FunctionCallee fn = module_.getOrInsertFunction("kiln_rt_kernel_call_dyn", fn_type);
    if (auto* decl = llvm::dyn_cast<llvm::Function>(fn.getCallee())) {
      decl->addFnAttr(llvm::Attribute::NoUnwind);
    }
    rc = b_.CreateCall(fn, {call_ptr, inputs_array_, pointer(op.result()), entry_->getArg(3)},
                       cat(op.mnemonic(), ".rc"));
  } else {
    rc = b_.CreateCall(kernel_call_, {call_ptr, inputs_array_, pointer(op.result())},
                       cat(op.mnemonic(), ".rc"));
  }
  emit_error_branch(b_.CreateICmpNE(rc, b_.getInt32(0)), rc, op.mnemonic());
  return absl::OkStatus();
}

// if (failed) return code; and continue in a new block.
void EntryLowering::emit_error_branch(llvm::Value* failed, llvm::Value* code,
                                      std::string_view what) {
  auto* fail = llvm::BasicBlock::Create(ctx_, cat(what, ".fail"), entry_);
  auto* cont = llvm::BasicBlock::Create(ctx_, cat(what, ".ok"), entry_);
  b_.CreateCondBr(failed, fail, cont);
  b_.SetInsertPoint(fail);
  b_.CreateRet(code);
  b_.SetInsertPoint(cont);
}

void EntryLowering::lower_return(const ir::Op& ret) {
  for (int j = 0; j < ret.num_operands(); ++j) {
    const ir::Value* v = ret.operand(j);
    const BufferRef& ref = buffers_.at(v);
    if (ref.kind == BufferRef::kResult && ref.index == j) continue;
    if (v->type().shape.num_elements() == 0) continue;
    b_.CreateMemCpy(result_pointer(j), llvm::MaybeAlign(), pointer(v), llvm::MaybeAlign(),
                    byte_count(v));
  }
  b_.CreateRet(b_.getInt32(0));
}

absl::Status EntryLowering::lower_op(const ir::Op& op) {
  for (const ir::Value* v : op.operands()) {
    if (!buffers_.contains(v)) {
      return absl::InvalidArgumentError(
          cat("'", op.mnemonic(), "': operand is not defined in function @", fn_.name()));
    }
  }
  switch (op.kind()) {
    case ir::OpKind::kConst:
      return absl::OkStatus();  // a global, see assign_buffers
    case ir::OpKind::kReturn:
      lower_return(op);
      return absl::OkStatus();
    case ir::OpKind::kYield:
      return absl::InvalidArgumentError("yield outside a region");
    case ir::OpKind::kFusion:
      return lowers_as_matmul(op) ? lower_matmul(op) : lower_elementwise(op);
    case ir::OpKind::kCond:
      return lower_cond(op);
    case ir::OpKind::kWhile:
      return lower_while(op);
    case ir::OpKind::kReshape:  // same row-major bytes: a copy, not a kernel call
    case ir::OpKind::kExpandDims:
    case ir::OpKind::kSqueeze: {
      if (op.num_operands() != 1 || op.num_results() != 1) return lower_kernel_call(op);
      const ir::Type& in = op.operand(0)->type();
      const ir::Type& out = op.result()->type();
      // With unknown dims the run-time element counts agree (the binding inferred the result
      // from the operand's shape); buffer-plan may have put both in one slot.
      const bool same_bytes = in.shape.is_fully_defined() && out.shape.is_fully_defined()
                                  ? byte_size(in) == byte_size(out)
                                  : dtype_size(in.dtype) == dtype_size(out.dtype);
      if (same_bytes) {
        if (!same_buffer(op.operand(0), op.result())) {
          copy_value(pointer(op.result()), op.operand(0));
        }
        return absl::OkStatus();
      }
      return lower_kernel_call(op);
    }
    default:
      if (ir::is_elementwise(op.kind())) return lower_elementwise(op);
      if (lowers_as_matmul(op)) return lower_matmul(op);
      return lower_kernel_call(op);
  }
}

absl::Status EntryLowering::lower() {
  KILN_RETURN_IF_ERROR(check_function());
  KILN_RETURN_IF_ERROR(assign_buffers());
  llvm::PointerType* ptr = b_.getPtrTy();
  auto* entry_type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr, ptr}, false);
  entry_ = llvm::Function::Create(entry_type, llvm::GlobalValue::ExternalLinkage, out_.entry_name,
                                  module_);
  entry_->addFnAttr(llvm::Attribute::NoUnwind);
  entry_->getArg(0)->setName("args");
  entry_->getArg(1)->setName("results");
  entry_->getArg(2)->setName("workspace");
  entry_->getArg(3)->setName("dims");
  for (unsigned i = 0; i < 4; ++i) entry_->addParamAttr(i, llvm::Attribute::NoCapture);
  llvm::BasicBlock* entry_block = llvm::BasicBlock::Create(ctx_, "entry", entry_);
  llvm::BasicBlock* first_block = llvm::BasicBlock::Create(ctx_, "body", entry_);
  pb_.SetInsertPoint(entry_block);
  b_.SetInsertPoint(first_block);

  const ir::Block& body = fn_.body();
  result_pointers_.assign(body.terminator()->num_operands(), nullptr);
  int max_inputs = -1;  // over ops run through kiln_rt_kernel_call; -1 = none
  ir::walk(body, [&](const ir::Op& op) {
    const ir::OpClass cls = ir::op_info(op.kind()).cls;
    if (op.kind() != ir::OpKind::kFusion && op.kind() != ir::OpKind::kConst &&
        cls != ir::OpClass::kTerminator && cls != ir::OpClass::kControl &&
        !ir::is_elementwise(op.kind()) &&
        (!op.parent() || !op.parent()->parent_op() ||
         op.parent()->parent_op()->kind() != ir::OpKind::kFusion)) {
      max_inputs = std::max(max_inputs, op.num_operands());
    }
  });
  if (max_inputs >= 0) {
    inputs_array_ = max_inputs == 0 ? static_cast<llvm::Value*>(llvm::ConstantPointerNull::get(ptr))
                                    : pb_.CreateAlloca(llvm::ArrayType::get(ptr, max_inputs),
                                                       nullptr, "inputs");
    auto* fn_type = llvm::FunctionType::get(b_.getInt32Ty(), {ptr, ptr, ptr}, false);
    kernel_call_ = module_.getOrInsertFunction("kiln_rt_kernel_call", fn_type);
    if (auto* decl = llvm::dyn_cast<llvm::Function>(kernel_call_.getCallee())) {
      decl->addFnAttr(llvm::Attribute::NoUnwind);
    }
  }
  for (const auto& op : body.ops()) KILN_RETURN_IF_ERROR(lower_op(*op));
  pb_.CreateBr(first_block);
  return absl::OkStatus();
}

}  // namespace

std::string kernel_call_symbol(int index) { return cat("kiln.kernel_call.", index); }

absl::StatusOr<std::unique_ptr<LoweredModule>> lower_function(const ir::Function& fn,
                                                              const std::string& entry_name) {
  auto out = std::make_unique<LoweredModule>();
  out->context = std::make_unique<llvm::LLVMContext>();
  out->module = std::make_unique<llvm::Module>(cat("kiln.", fn.name()), *out->context);
  out->entry_name = entry_name;
  out->arg_types = fn.argument_types();
  out->num_args = static_cast<int>(out->arg_types.size());
  if (const ir::Op* ret = fn.body().terminator(); ret && ret->kind() == ir::OpKind::kReturn) {
    for (const ir::Value* v : ret->operands()) out->result_types.push_back(v->type());
  }
  out->num_results = static_cast<int>(out->result_types.size());
  EntryLowering lowering(fn, *out);
  KILN_RETURN_IF_ERROR(lowering.lower());
  return out;
}

}  // namespace kiln::compiler
