// kiln — lowering of `fusion {kind = "reduce"}`: an elementwise prologue, one reduction
// (reduce_sum/mean/max/min of float32/float64 over a contiguous block of axes) and an
// elementwise epilogue on the reduced values, as one pass over the input without intermediate
// buffers.
//
// The reduction's input shape S is viewed as [P, R, Q]: P kept elements before the reduced
// axes, R reduced ones, Q kept elements after them (size-1 dims are ignored, so axes {0, 2} of
// [4, 1, 5] are contiguous). The output has M = P * Q elements, output m = p * Q + q. Prologue
// inputs are read at p * stride_p + r * stride_r + q * stride_q (each stride 0 where the input
// is broadcast), so the prologue is computed per element and fed straight into the accumulator.
//
// Q == 1 (all or trailing axes). Work is cut into tasks by shape alone: with P == 1 and
// R > kBlock the row is split into nb blocks of B elements (B a multiple of 64,
// nb <= kMaxBlocks), a task per block, each leaving its partial in a stack array that the
// caller then combines in block order; otherwise a task is a whole row, finished in the task. A
// task's inner loop is left to LLVM's loop vectorizer, the accumulator's add marked `reassoc`
// so that it keeps several vector accumulators; the order of additions is thus fixed by the
// compiled code and the shape, never by the thread count.
// Q > 1 (leading or middle axes, e.g. a bias gradient's sum over the batch). A task is one p
// and a block of at most kColumns columns q: per-column accumulators live in a stack array;
// for r = 0 .. R-1 in order, the inner loop over the block's columns (contiguous, vectorized,
// no reassociation needed) adds row r into them; a last loop over the columns finishes them.
// Each column is summed in the order of r whatever the split.
// Either way results are bitwise the same however many threads run the tasks
// (kiln_rt_parallel_for splits them when there are at least two chunks of
// kParallelGrainElements).
// Accumulators: float32 and float64 sums in double (as the eager kernels), max/min in the
// value's type with llvm.maximum/minimum (NaN propagates; -0 < +0).
#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "compiler/lower.h"
#include "compiler/lower_loop_nest.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace loop_nest {
namespace {

constexpr int64_t kBlock = 16384;     // elements of one task when a single row is split
constexpr int64_t kMaxBlocks = 4096;  // partials on the stack (32 KiB of doubles)
constexpr int64_t kColumns = 256;     // columns of one task when Q > 1 (2 KiB of accumulators)

bool is_native_reduce(ir::OpKind k) {
  return k == ir::OpKind::kReduceSum || k == ir::OpKind::kReduceMean ||
         k == ir::OpKind::kReduceMax || k == ir::OpKind::kReduceMin;
}

class ReduceEmitter : public LoopNestEmitter {
 public:
  ReduceEmitter(llvm::Module& module, const ElementwiseGroup& group)
      : LoopNestEmitter(module, group) {}

  absl::StatusOr<ElementwiseFunction> emit_reduce(const std::string& name);

 private:
  struct Input {
    int64_t stride_p = 0, stride_r = 0, stride_q = 0;
    bool prologue = false, epilogue = false;
  };

  absl::Status analyze();
  absl::Status flat_strides(const Shape& shape, Input& info) const;
  llvm::Type* acc_type();
  llvm::Value* acc_init();
  llvm::Value* combine(llvm::IRBuilderBase& b, llvm::Value* acc, llvm::Value* x);
  absl::Status emit_finish(llvm::BasicBlock* block, llvm::Value* acc, llvm::Value* m,
                           const std::vector<llvm::Value*>& ptrs);
  absl::Status emit_task(llvm::Function* task);
  absl::Status emit_column_task(llvm::Function* task);
  void load_prologue_inputs(const std::vector<llvm::Value*>& ptrs, llvm::Value* p, llvm::Value* r,
                            llvm::Value* q);
  absl::Status emit_prologue(llvm::Value** x);

  const ir::Op* reduce_ = nullptr;
  std::vector<const ir::Op*> prologue_, epilogue_;
  std::vector<Input> input_info_;
  std::vector<bool> reduced_dim_;
  DType dtype_ = DType::kFloat32;
  // The [P, R, Q] view, M = P * Q outputs; Q == 1: nb blocks of block elements per row;
  // Q > 1: nqb blocks of qb columns per p.
  int64_t p_ = 1, r_ = 1, q_ = 1, m_ = 1, nb_ = 1, block_ = 1, qb_ = 1, nqb_ = 1;
};

// The strides (elements) at which an input of `shape`, broadcast to the reduction's input,
// is read along P, R and Q: within each of the three groups of dims, the input must be either
// broadcast along all of them or dense over all of them.
absl::Status ReduceEmitter::flat_strides(const Shape& shape, Input& info) const {
  const Shape& s = reduce_->operand(0)->type().shape;
  bool ok = shape.is_fully_defined() && shape.rank() <= s.rank();
  std::vector<int64_t> st(s.rank(), 0), own = row_major_strides(shape);
  for (int j = 0; ok && j < shape.rank(); ++j) {
    const int d = s.rank() - shape.rank() + j;
    ok = shape[j] == 1 || shape[j] == s[d];
    if (shape[j] != 1) st[d] = own[j];
  }
  // group_of[d]: 0 = P, 1 = R, 2 = Q (dims of size 1 belong to none).
  std::vector<int> group_of(s.rank(), -1);
  bool seen_reduced = false;
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] == 1) continue;
    seen_reduced = seen_reduced || reduced_dim_[d];
    group_of[d] = reduced_dim_[d] ? 1 : seen_reduced ? 2 : 0;
  }
  int64_t out[3] = {0, 0, 0};
  for (int g = 0; ok && g < 3; ++g) {
    int last = -1;
    bool any = false;
    for (int d = 0; d < s.rank(); ++d) {
      if (group_of[d] != g) continue;
      if (last >= 0 && st[last] != st[d] * s[d]) ok = false;
      if (st[d] != 0) any = true;
      last = d;
    }
    if (ok && any) out[g] = st[last];
  }
  if (!ok) {
    return absl::UnimplementedError(cat("reduce fusion: an input of shape ", shape,
                                        " cannot be read along the reduction of ", s));
  }
  info.stride_p = out[0];
  info.stride_r = out[1];
  info.stride_q = out[2];
  return absl::OkStatus();
}

absl::Status ReduceEmitter::analyze() {
  for (const ir::Op* op : group_.ops) {
    if (is_native_reduce(op->kind())) {
      if (reduce_) return absl::InvalidArgumentError("reduce fusion with more than one reduction");
      reduce_ = op;
    } else if (op->kind() != ir::OpKind::kConst && !ir::is_elementwise(op->kind())) {
      return absl::UnimplementedError(
          cat("'", op->mnemonic(), "' cannot be lowered inside a reduce fusion"));
    } else if ((op->kind() == ir::OpKind::kDiv || op->kind() == ir::OpKind::kMod ||
                op->kind() == ir::OpKind::kFloorDiv) &&
               is_integer(op->operand(0)->type().dtype)) {
      return absl::UnimplementedError(
          cat("reduce fusion: integer '", op->mnemonic(), "' is not compiled in a reduce fusion"));
    }
  }
  if (!reduce_) return absl::InvalidArgumentError("reduce fusion without a reduction");
  if (group_.outputs.size() != 1) {
    return absl::UnimplementedError("reduce fusion with more than one result");
  }
  const ir::Type& in = reduce_->operand(0)->type();
  dtype_ = in.dtype;
  if ((dtype_ != DType::kFloat32 && dtype_ != DType::kFloat64) ||
      reduce_->result()->type().dtype != dtype_) {
    return absl::UnimplementedError(cat("reduce fusion: '", reduce_->mnemonic(), "' of ",
                                        dtype_name(dtype_), " is not compiled"));
  }
  const Shape& s = in.shape;
  if (!s.is_fully_defined() || !reduce_->result()->type().shape.is_fully_defined()) {
    return absl::UnimplementedError(
        cat("reduce fusion: '", reduce_->mnemonic(), "' over unknown dims is not compiled"));
  }
  auto axes = ir::reduction_axes(reduce_->mnemonic(), reduce_->attrs(), s.rank());
  if (!axes.ok()) return axes.status();
  reduced_dim_.assign(s.rank(), false);
  for (int64_t a : *axes) reduced_dim_[a] = true;
  int group = 0;  // 0: before the reduced dims (P), 1: reduced (R), 2: after them (Q)
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] == 1) continue;
    if (reduced_dim_[d]) {
      if (group == 2) {
        return absl::UnimplementedError(
            cat("reduce fusion: '", reduce_->mnemonic(), "' over axes that are not contiguous"));
      }
      group = 1;
      r_ *= s[d];
    } else {
      (group == 0 ? p_ : q_) *= s[d];
      if (group == 1) group = 2;
    }
  }
  m_ = p_ * q_;
  if (r_ < 1) {
    return absl::UnimplementedError(
        cat("reduce fusion: '", reduce_->mnemonic(), "' over zero elements"));
  }
  // Prologue: the ops the reduction's operand is computed from; epilogue: every other non-const
  // op (those depending on the reduction, and scalar work only they use, e.g. a loss term
  // added to a mean). A scalar prologue op is computed in the epilogue too, so the epilogue
  // may use it (it has only scalar operands: recomputing it is a few instructions).
  absl::flat_hash_map<const ir::Value*, bool> after;
  after[reduce_->result()] = true;
  absl::flat_hash_set<const ir::Op*> feeds_reduce;
  for (auto it = group_.ops.rbegin(); it != group_.ops.rend(); ++it) {
    const ir::Op* op = *it;
    bool feeds = op->result() == reduce_->operand(0);
    for (const ir::Op* user : group_.ops) {
      if (!feeds_reduce.contains(user) && user != reduce_) continue;
      for (const ir::Value* v : user->operands()) feeds = feeds || v == op->result();
    }
    if (feeds && op != reduce_) feeds_reduce.insert(op);
  }
  for (const ir::Op* op : group_.ops) {
    if (op == reduce_ || op->kind() == ir::OpKind::kConst) continue;
    bool dep = false;
    for (const ir::Value* v : op->operands()) dep = dep || after.contains(v);
    if (dep) after[op->result()] = true;
    if (feeds_reduce.contains(op)) {
      prologue_.push_back(op);
      if (op->result()->type().shape.num_elements() == 1) epilogue_.push_back(op);
    } else {
      epilogue_.push_back(op);
    }
  }
  if (!after.contains(group_.outputs[0])) {
    return absl::InvalidArgumentError(
        "reduce fusion yields a value that does not use its reduction");
  }
  const int64_t out_elements = reduce_->result()->type().shape.num_elements();
  for (const ir::Op* op : group_.ops) {
    if (op->kind() == ir::OpKind::kConst && op->result()->type().shape.num_elements() != 1) {
      return absl::UnimplementedError("reduce fusion: a non-scalar constant in the region");
    }
    for (int i = 0; i < op->num_results(); ++i) {
      const int64_t n = op->result(i)->type().shape.num_elements();
      const bool is_epi = std::find(epilogue_.begin(), epilogue_.end(), op) != epilogue_.end();
      if (is_epi && n != out_elements && n != 1) {
        return absl::UnimplementedError(
            cat("reduce fusion: epilogue value of type ", op->result(i)->type().to_string()));
      }
    }
  }
  // How each input is read.
  input_info_.resize(group_.inputs.size());
  for (size_t k = 0; k < group_.inputs.size(); ++k) {
    const ir::Value* arg = group_.inputs[k];
    Input& info = input_info_[k];
    auto uses = [&](const std::vector<const ir::Op*>& ops) {
      for (const ir::Op* op : ops) {
        for (const ir::Value* v : op->operands()) {
          if (v == arg) return true;
        }
      }
      return false;
    };
    info.prologue = uses(prologue_) || reduce_->operand(0) == arg;
    info.epilogue = uses(epilogue_);
    if (info.prologue) KILN_RETURN_IF_ERROR(flat_strides(arg->type().shape, info));
    const int64_t n = arg->type().shape.num_elements();
    if (info.epilogue && n != 1 && n != out_elements) {
      return absl::UnimplementedError(
          cat("reduce fusion: epilogue input of type ", arg->type().to_string()));
    }
  }
  if (q_ > 1) {
    qb_ = std::min(q_, kColumns);
    nqb_ = (q_ + qb_ - 1) / qb_;
  } else if (m_ == 1 && r_ > kBlock) {
    nb_ = (r_ + kBlock - 1) / kBlock;
    block_ = kBlock;
    if (nb_ > kMaxBlocks) {
      block_ = ((r_ + kMaxBlocks - 1) / kMaxBlocks + 63) / 64 * 64;
      nb_ = (r_ + block_ - 1) / block_;
    }
  } else {
    nb_ = 1;
    block_ = r_;
  }
  return absl::OkStatus();
}

llvm::Type* ReduceEmitter::acc_type() {
  const ir::OpKind k = reduce_->kind();
  if (k == ir::OpKind::kReduceSum || k == ir::OpKind::kReduceMean) return b_.getDoubleTy();
  return dtype_ == DType::kFloat64 ? b_.getDoubleTy() : b_.getFloatTy();
}

llvm::Value* ReduceEmitter::acc_init() {
  switch (reduce_->kind()) {
    case ir::OpKind::kReduceMax:
      return llvm::ConstantFP::getInfinity(acc_type(), /*Negative=*/true);
    case ir::OpKind::kReduceMin:
      return llvm::ConstantFP::getInfinity(acc_type(), /*Negative=*/false);
    default:
      return llvm::ConstantFP::get(acc_type(), 0.0);
  }
}

// acc (op) x, x already of the accumulator's type. Sums in a task's loop are marked reassoc by
// the caller; everything else keeps IEEE order.
llvm::Value* ReduceEmitter::combine(llvm::IRBuilderBase& b, llvm::Value* acc, llvm::Value* x) {
  switch (reduce_->kind()) {
    case ir::OpKind::kReduceMax:
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::maximum, acc, x);
    case ir::OpKind::kReduceMin:
      return b.CreateBinaryIntrinsic(llvm::Intrinsic::minimum, acc, x);
    default:
      return b.CreateFAdd(acc, x);
  }
}

// Finishes accumulator `acc` of output element `m` (mean's divide, conversion to the dtype),
// runs the epilogue and stores the result, all before `block`'s terminator. ptrs: [out, in...].
absl::Status ReduceEmitter::emit_finish(llvm::BasicBlock* block, llvm::Value* acc, llvm::Value* m,
                                        const std::vector<llvm::Value*>& ptrs) {
  b_.SetInsertPoint(block->getTerminator());
  llvm::Value* v = acc;
  if (reduce_->kind() == ir::OpKind::kReduceMean) {
    v = b_.CreateFDiv(v, llvm::ConstantFP::get(b_.getDoubleTy(), static_cast<double>(r_)));
  }
  llvm::Type* elem = dtype_ == DType::kFloat64 ? b_.getDoubleTy() : b_.getFloatTy();
  if (v->getType() != elem) v = b_.CreateFPTrunc(v, elem);
  values_.clear();
  level_blocks_.assign(1, block);
  values_[reduce_->result()] = {v, -1};
  for (size_t k = 0; k < group_.inputs.size(); ++k) {
    if (!input_info_[k].epilogue) continue;
    const ir::Value* arg = group_.inputs[k];
    const DType dt = arg->type().dtype;
    llvm::Value* off = arg->type().shape.num_elements() == 1 ? b_.getInt64(0) : m;
    llvm::Value* x =
        b_.CreateLoad(memory_type(dt), b_.CreateInBoundsGEP(memory_type(dt), ptrs[1 + k], off));
    values_[arg] = {from_memory(x, dt), -1};
  }
  for (const ir::Op* op : group_.ops) {
    const bool is_epi = std::find(epilogue_.begin(), epilogue_.end(), op) != epilogue_.end();
    if (op->kind() == ir::OpKind::kConst || is_epi) KILN_RETURN_IF_ERROR(emit_op(*op));
  }
  const ir::Value* out = group_.outputs[0];
  b_.SetInsertPoint(block->getTerminator());
  const DType odt = out->type().dtype;
  const int64_t n = out->type().shape.num_elements();
  b_.CreateStore(to_memory(values_.at(out).value, odt),
                 b_.CreateInBoundsGEP(memory_type(odt), ptrs[0], n == 1 ? b_.getInt64(0) : m));
  return absl::OkStatus();
}

// Loads the prologue's inputs for the element (p, r, q) of the [P, R, Q] view (a null index is
// not looped over): each at the innermost level (block) of the indices it depends on, p and r
// at level 0 and q at level 1 (loop-invariant ones at level -1).
void ReduceEmitter::load_prologue_inputs(const std::vector<llvm::Value*>& ptrs, llvm::Value* p,
                                         llvm::Value* r, llvm::Value* q) {
  values_.clear();
  for (size_t k = 0; k < group_.inputs.size(); ++k) {
    const Input& info = input_info_[k];
    if (!info.prologue) continue;
    const ir::Value* arg = group_.inputs[k];
    const DType dt = arg->type().dtype;
    int level = -1;
    llvm::Value* off = nullptr;
    const std::pair<llvm::Value*, int64_t> terms[3] = {
        {p, info.stride_p}, {r, info.stride_r}, {q, info.stride_q}};
    for (int j = 0; j < 3; ++j) {
      if (!terms[j].first || terms[j].second == 0) continue;
      level = std::max(level, j == 2 ? 1 : 0);
    }
    set_level(level);
    for (const auto& [index, stride] : terms) {
      if (!index || stride == 0) continue;
      llvm::Value* t =
          stride == 1 ? index : b_.CreateMul(index, b_.getInt64(stride), "", true, true);
      off = off ? b_.CreateAdd(off, t, "", true, true) : t;
    }
    if (!off) off = b_.getInt64(0);
    llvm::Value* x =
        b_.CreateLoad(memory_type(dt), b_.CreateInBoundsGEP(memory_type(dt), ptrs[1 + k], off));
    values_[arg] = {from_memory(x, dt), level};
  }
}

// Emits the constants and prologue ops (after load_prologue_inputs); *x = the reduction's
// operand converted to the accumulator's type, in the innermost block.
absl::Status ReduceEmitter::emit_prologue(llvm::Value** x) {
  for (const ir::Op* op : group_.ops) {
    const bool is_pro = std::find(prologue_.begin(), prologue_.end(), op) != prologue_.end();
    if (op->kind() == ir::OpKind::kConst || is_pro) KILN_RETURN_IF_ERROR(emit_op(*op));
  }
  auto it = values_.find(reduce_->operand(0));
  if (it == values_.end()) {
    return absl::InvalidArgumentError("reduce fusion: the reduction's operand is not defined");
  }
  b_.SetInsertPoint(level_blocks_.back()->getTerminator());
  *x = it->second.value;
  if ((*x)->getType() != acc_type()) *x = b_.CreateFPExt(*x, acc_type());
  return absl::OkStatus();
}

// Q > 1: void task(i64 begin, i64 end, ptr ctx), ctx = [out, in..., unused]; task t is p =
// t / nqb and the columns [qb * (t % nqb), min(Q, qb * (t % nqb + 1))).
absl::Status ReduceEmitter::emit_column_task(llvm::Function* task) {
  llvm::Type* i64 = b_.getInt64Ty();
  llvm::Type* ptr = b_.getPtrTy();
  llvm::Type* at = acc_type();
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", task);
  auto* task_bb = llvm::BasicBlock::Create(ctx_, "task", task);
  auto* init = llvm::BasicBlock::Create(ctx_, "init", task);
  auto* row = llvm::BasicBlock::Create(ctx_, "row", task);
  auto* cols = llvm::BasicBlock::Create(ctx_, "cols", task);
  auto* row_done = llvm::BasicBlock::Create(ctx_, "row.done", task);
  auto* fin = llvm::BasicBlock::Create(ctx_, "finish", task);
  auto* latch = llvm::BasicBlock::Create(ctx_, "task.done", task);
  auto* exit = llvm::BasicBlock::Create(ctx_, "exit", task);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();

  b_.SetInsertPoint(entry);
  llvm::Value* accs = b_.CreateAlloca(llvm::ArrayType::get(at, qb_), nullptr, "accs");
  const size_t n_in = group_.inputs.size();
  std::vector<llvm::Value*> ptrs;
  for (size_t k = 0; k < n_in + 1; ++k) {
    ptrs.push_back(
        b_.CreateLoad(ptr, b_.CreateConstInBoundsGEP1_64(ptr, task->getArg(2), k), cat("p", k)));
  }
  b_.CreateBr(task_bb);

  // Task t: p, the column range [qlo, qhi), n = qhi - qlo >= 1.
  b_.SetInsertPoint(task_bb);
  llvm::PHINode* t = b_.CreatePHI(i64, 2, "t");
  t->addIncoming(task->getArg(0), entry);
  llvm::Value* p = b_.CreateUDiv(t, b_.getInt64(nqb_), "p");
  llvm::Value* qlo =
      b_.CreateMul(b_.CreateURem(t, b_.getInt64(nqb_)), b_.getInt64(qb_), "qlo", true, true);
  llvm::Value* qend = b_.CreateAdd(qlo, b_.getInt64(qb_), "", true, true);
  llvm::Value* qhi =
      b_.CreateSelect(b_.CreateICmpULT(qend, b_.getInt64(q_)), qend, b_.getInt64(q_), "qhi");
  llvm::Value* n = b_.CreateSub(qhi, qlo, "n", true, true);
  b_.CreateBr(init);

  // accs[0, n) = the accumulator's initial value.
  b_.SetInsertPoint(init);
  llvm::PHINode* c0 = b_.CreatePHI(i64, 2, "c");
  c0->addIncoming(b_.getInt64(0), task_bb);
  b_.CreateStore(acc_init(), b_.CreateInBoundsGEP(at, accs, c0));
  llvm::Value* c0_next = b_.CreateAdd(c0, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(c0_next, n), init, row);
  c0->addIncoming(c0_next, init);

  // for r in [0, R): for c in [0, n): accs[c] (op)= x(p, r, qlo + c).
  b_.SetInsertPoint(row);
  llvm::PHINode* r = b_.CreatePHI(i64, 2, "r");
  r->addIncoming(b_.getInt64(0), init);
  b_.CreateBr(cols);
  b_.SetInsertPoint(cols);
  llvm::PHINode* c = b_.CreatePHI(i64, 2, "c");
  c->addIncoming(b_.getInt64(0), row);
  llvm::Value* c_next = b_.CreateAdd(c, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(c_next, n), cols, row_done);
  c->addIncoming(c_next, cols);
  b_.SetInsertPoint(row_done);
  llvm::Value* r_next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(r_next, b_.getInt64(r_)), row, fin);
  r->addIncoming(r_next, row_done);

  level_blocks_ = {entry, row, cols};
  b_.SetInsertPoint(cols->getTerminator());
  llvm::Value* q = b_.CreateAdd(qlo, c, "q", true, true);
  load_prologue_inputs(ptrs, p, r, q);
  llvm::Value* x = nullptr;
  KILN_RETURN_IF_ERROR(emit_prologue(&x));
  b_.SetInsertPoint(cols->getTerminator());
  llvm::Value* slot = b_.CreateInBoundsGEP(at, accs, c);
  b_.CreateStore(combine(b_, b_.CreateLoad(at, slot), x), slot);

  // for c in [0, n): finish output p * Q + qlo + c.
  b_.SetInsertPoint(fin);
  llvm::PHINode* f = b_.CreatePHI(i64, 2, "f");
  f->addIncoming(b_.getInt64(0), row_done);
  llvm::Value* f_next = b_.CreateAdd(f, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(f_next, n), fin, latch);
  f->addIncoming(f_next, fin);
  b_.SetInsertPoint(fin->getTerminator());
  llvm::Value* total = b_.CreateLoad(at, b_.CreateInBoundsGEP(at, accs, f));
  llvm::Value* m = b_.CreateAdd(b_.CreateMul(p, b_.getInt64(q_), "", true, true),
                                b_.CreateAdd(qlo, f, "", true, true), "m", true, true);

  b_.SetInsertPoint(latch);
  llvm::Value* t_next = b_.CreateAdd(t, b_.getInt64(1), "t.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(t_next, task->getArg(1)), task_bb, exit);
  t->addIncoming(t_next, latch);
  std::vector<llvm::Value*> out_ptrs(ptrs.begin(), ptrs.begin() + n_in + 1);
  return emit_finish(fin, total, m, out_ptrs);
}

// void task(i64 begin, i64 end, ptr ctx), ctx = [out, in..., partials]: tasks [begin, end).
absl::Status ReduceEmitter::emit_task(llvm::Function* task) {
  llvm::Type* i64 = b_.getInt64Ty();
  llvm::Type* ptr = b_.getPtrTy();
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", task);
  auto* task_bb = llvm::BasicBlock::Create(ctx_, "task", task);
  auto* inner = llvm::BasicBlock::Create(ctx_, "inner", task);
  auto* latch = llvm::BasicBlock::Create(ctx_, "task.done", task);
  auto* exit = llvm::BasicBlock::Create(ctx_, "exit", task);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();

  b_.SetInsertPoint(entry);
  const size_t n_in = group_.inputs.size();
  std::vector<llvm::Value*> ptrs;
  for (size_t k = 0; k < n_in + 2; ++k) {
    ptrs.push_back(
        b_.CreateLoad(ptr, b_.CreateConstInBoundsGEP1_64(ptr, task->getArg(2), k), cat("p", k)));
  }
  b_.CreateBr(task_bb);

  b_.SetInsertPoint(task_bb);
  llvm::PHINode* t = b_.CreatePHI(i64, 2, "t");
  t->addIncoming(task->getArg(0), entry);
  llvm::Value* m = nb_ > 1 ? static_cast<llvm::Value*>(b_.getInt64(0)) : t;
  llvm::Value* lo = nb_ > 1 ? b_.CreateMul(t, b_.getInt64(block_), "lo", true, true)
                            : static_cast<llvm::Value*>(b_.getInt64(0));
  llvm::Value* hi = b_.getInt64(r_);
  if (nb_ > 1) {
    llvm::Value* end = b_.CreateAdd(lo, b_.getInt64(block_), "", true, true);
    hi = b_.CreateSelect(b_.CreateICmpULT(end, hi), end, hi, "hi");
  }
  b_.CreateBr(inner);

  b_.SetInsertPoint(inner);
  llvm::PHINode* i = b_.CreatePHI(i64, 2, "i");
  i->addIncoming(lo, task_bb);
  llvm::PHINode* acc = b_.CreatePHI(acc_type(), 2, "acc");
  acc->addIncoming(acc_init(), task_bb);
  llvm::Value* i_next = b_.CreateAdd(i, b_.getInt64(1), "i.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(i_next, hi), inner, latch);
  i->addIncoming(i_next, inner);

  // The prologue: level -1 = the entry block (loop invariant), level 0 = the inner loop.
  level_blocks_ = {entry, inner};
  load_prologue_inputs(ptrs, m, i, nullptr);
  llvm::Value* x = nullptr;
  KILN_RETURN_IF_ERROR(emit_prologue(&x));
  b_.SetInsertPoint(inner->getTerminator());
  llvm::Value* acc_next = combine(b_, acc, x);
  if (auto* inst = llvm::dyn_cast<llvm::Instruction>(acc_next);
      inst && inst->getOpcode() == llvm::Instruction::FAdd) {
    llvm::FastMathFlags fmf;
    fmf.setAllowReassoc();
    inst->setFastMathFlags(fmf);
  }
  acc->addIncoming(acc_next, inner);

  // After the row or block: keep the partial, or finish the output element.
  b_.SetInsertPoint(latch);
  llvm::PHINode* total = b_.CreatePHI(acc_type(), 1, "partial");
  total->addIncoming(acc_next, inner);
  llvm::Value* t_next = b_.CreateAdd(t, b_.getInt64(1), "t.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(t_next, task->getArg(1)), task_bb, exit);
  t->addIncoming(t_next, latch);
  if (nb_ > 1) {
    b_.SetInsertPoint(latch->getTerminator());
    b_.CreateStore(total, b_.CreateInBoundsGEP(acc_type(), ptrs[n_in + 1], t));
    return absl::OkStatus();
  }
  std::vector<llvm::Value*> out_ptrs(ptrs.begin(), ptrs.begin() + n_in + 1);
  return emit_finish(latch, total, m, out_ptrs);
}

absl::StatusOr<ElementwiseFunction> ReduceEmitter::emit_reduce(const std::string& name) {
  KILN_RETURN_IF_ERROR(analyze());
  ElementwiseFunction result;
  const size_t n_in = group_.inputs.size();
  llvm::Type* ptr = b_.getPtrTy();
  std::vector<llvm::Type*> params(1 + n_in, ptr);
  auto* outer = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                       llvm::GlobalValue::InternalLinkage, name, module_);
  outer->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned k = 0; k < params.size(); ++k) {
    outer->addParamAttr(k, llvm::Attribute::NoAlias);
    outer->addParamAttr(k, k == 0 ? llvm::Attribute::WriteOnly : llvm::Attribute::ReadOnly);
  }
  result.function = outer;
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", outer);
  if (m_ == 0) {
    b_.SetInsertPoint(entry);
    b_.CreateRetVoid();
    return result;
  }
  auto* task = llvm::Function::Create(
      llvm::FunctionType::get(b_.getVoidTy(), {b_.getInt64Ty(), b_.getInt64Ty(), ptr}, false),
      llvm::GlobalValue::InternalLinkage, cat(name, ".task"), module_);
  task->addFnAttr(llvm::Attribute::NoUnwind);
  KILN_RETURN_IF_ERROR(q_ > 1 ? emit_column_task(task) : emit_task(task));

  b_.SetInsertPoint(entry);
  llvm::Value* partials = llvm::ConstantPointerNull::get(b_.getPtrTy());
  if (nb_ > 1)
    partials = b_.CreateAlloca(llvm::ArrayType::get(acc_type(), nb_), nullptr, "partials");
  llvm::Value* ctx = b_.CreateAlloca(llvm::ArrayType::get(ptr, n_in + 2), nullptr, "ctx");
  for (unsigned k = 0; k <= n_in; ++k) {
    b_.CreateStore(outer->getArg(k), b_.CreateConstInBoundsGEP1_64(ptr, ctx, k));
  }
  b_.CreateStore(partials, b_.CreateConstInBoundsGEP1_64(ptr, ctx, n_in + 1));
  const int64_t tasks = q_ > 1 ? p_ * nqb_ : nb_ > 1 ? nb_ : m_;
  const int64_t per_task = q_ > 1 ? qb_ * r_ : nb_ > 1 ? block_ : r_;
  if (m_ * r_ >= 2 * kParallelGrainElements && tasks >= 2) {
    const int64_t grain = std::max<int64_t>(1, (kParallelGrainElements + per_task - 1) / per_task);
    b_.CreateCall(parallel_for_callee(module_),
                  {task, ctx, b_.getInt64(tasks), b_.getInt64(grain), b_.getInt64(1)});
  } else {
    b_.CreateCall(task, {b_.getInt64(0), b_.getInt64(tasks), ctx});
  }
  if (nb_ == 1) {
    b_.CreateRetVoid();
    return result;
  }
  // Partials combined in block order, one after the other.
  auto* loop = llvm::BasicBlock::Create(ctx_, "combine", outer);
  auto* done = llvm::BasicBlock::Create(ctx_, "combined", outer);
  llvm::Value* first = b_.CreateLoad(acc_type(), partials);
  b_.CreateBr(loop);
  b_.SetInsertPoint(loop);
  llvm::PHINode* j = b_.CreatePHI(b_.getInt64Ty(), 2, "j");
  llvm::PHINode* s = b_.CreatePHI(acc_type(), 2, "s");
  j->addIncoming(b_.getInt64(1), entry);
  s->addIncoming(first, entry);
  llvm::Value* s_next =
      combine(b_, s, b_.CreateLoad(acc_type(), b_.CreateInBoundsGEP(acc_type(), partials, j)));
  llvm::Value* j_next = b_.CreateAdd(j, b_.getInt64(1), "j.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(j_next, b_.getInt64(nb_)), loop, done);
  j->addIncoming(j_next, loop);
  s->addIncoming(s_next, loop);
  b_.SetInsertPoint(done);
  b_.CreateRetVoid();
  std::vector<llvm::Value*> ptrs;
  for (unsigned k = 0; k <= n_in; ++k) ptrs.push_back(outer->getArg(k));
  KILN_RETURN_IF_ERROR(emit_finish(done, s_next, b_.getInt64(0), ptrs));
  return result;
}

}  // namespace
}  // namespace loop_nest

absl::StatusOr<ElementwiseFunction> emit_reduce_function(llvm::Module& module,
                                                         const ElementwiseGroup& group,
                                                         const std::string& name) {
  loop_nest::ReduceEmitter emitter(module, group);
  return emitter.emit_reduce(name);
}

}  // namespace kiln::compiler
