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
//
// Unknown dims: P, R, Q and the inputs' strides are Extents (a constant times some of the
// reduction input's dims); the function then takes a trailing `dims` pointer, the run-time dims
// of input `dims_input` (one of the reduction input's shape), which the tasks get through ctx.
// Whether Q > 1 and whether a single row is split are decided at compile time (Q = 1 and P = 1
// known); block counts, task counts and the parallel split are computed at run time. An empty
// reduction (R = 0) leaves each output the accumulator's initial value, finished: 0 for a sum,
// NaN for a mean, -inf/+inf for max/min, as the eager kernels.
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
    Extent stride_p{0, {}}, stride_r{0, {}}, stride_q{0, {}};
    llvm::Value *vp = nullptr, *vr = nullptr, *vq = nullptr;  // their values in the task
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
  std::vector<llvm::Value*> load_task_context(llvm::Function* task);
  Extent dim_extent(int d) const;
  void begin_function(llvm::Value* dims);
  llvm::Value* size(const Extent& e);
  llvm::Value* ceil_div(llvm::Value* a, llvm::Value* b);
  void compute_sizes();

  const ir::Op* reduce_ = nullptr;
  std::vector<const ir::Op*> prologue_, epilogue_;
  std::vector<Input> input_info_;
  std::vector<bool> reduced_dim_;
  DType dtype_ = DType::kFloat32;
  // The [P, R, Q] view as Extents over the reduction's input dims (constants unless a dim is
  // unknown); split_: Q == 1 and P == 1 with a row of more than kBlock elements (or of an
  // unknown count): blocks of a row, combined in block order; qb_: columns of a task (Q > 1).
  Extent p_{1, {}}, r_{1, {}}, q_{1, {}};
  bool split_ = false;
  int64_t qb_ = 1;
  int dims_input_ = -1;  // the input whose run-time dims are the reduction's input's
  // Per function being emitted: its dims pointer, loaded dims, and the sizes' values.
  llvm::Value* dims_ = nullptr;
  std::vector<llvm::Value*> dim_values_;
  llvm::Value *vp_ = nullptr, *vr_ = nullptr, *vq_ = nullptr, *nb_ = nullptr, *block_ = nullptr,
              *nqb_ = nullptr;
};

// The strides (elements) at which an input of `shape`, broadcast to the reduction's input,
// is read along P, R and Q: within each of the three groups of dims, the input must be either
// broadcast along all of them or dense over all of them.
absl::Status ReduceEmitter::flat_strides(const Shape& shape, Input& info) const {
  const Shape& s = reduce_->operand(0)->type().shape;
  bool ok = shape.rank() <= s.rank();
  // Row-major strides of the input over the reduction's dims (an unknown dim of the input is
  // the reduction input's dim at its position: the shapes broadcast).
  std::vector<Extent> st(s.rank(), Extent{0, {}});
  Extent own{1, {}};
  for (int j = shape.rank() - 1; ok && j >= 0; --j) {
    const int d = s.rank() - shape.rank() + j;
    ok = shape[j] == 1 || shape[j] == s[d];
    if (shape[j] == 1) continue;
    st[d] = own;
    own = own * dim_extent(d);
  }
  // group_of[d]: 0 = P, 1 = R, 2 = Q (dims of size 1 belong to none).
  std::vector<int> group_of(s.rank(), -1);
  bool seen_reduced = false;
  for (int d = 0; d < s.rank(); ++d) {
    if (s[d] == 1) continue;
    seen_reduced = seen_reduced || reduced_dim_[d];
    group_of[d] = reduced_dim_[d] ? 1 : seen_reduced ? 2 : 0;
  }
  Extent out[3] = {Extent{0, {}}, Extent{0, {}}, Extent{0, {}}};
  for (int g = 0; ok && g < 3; ++g) {
    int last = -1;
    for (int d = 0; d < s.rank(); ++d) {
      if (group_of[d] != g) continue;
      if (last >= 0 && !(st[last] == st[d] * dim_extent(d))) ok = false;
      last = d;
    }
    if (ok && last >= 0) out[g] = st[last];
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
  if (!s.is_fully_defined()) {
    // The run-time dims come from an input of the reduction's input shape.
    for (size_t k = 0; k < group_.inputs.size() && dims_input_ < 0; ++k) {
      if (group_.inputs[k]->type().shape == s) dims_input_ = static_cast<int>(k);
    }
    if (dims_input_ < 0) {
      return absl::UnimplementedError(cat("reduce fusion: '", reduce_->mnemonic(), "' over ", s,
                                          " with no input of that shape"));
    }
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
      r_ = r_ * dim_extent(d);
    } else {
      if (group == 1) group = 2;
      (group == 0 ? p_ : q_) = (group == 0 ? p_ : q_) * dim_extent(d);
    }
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
  const Shape& out_shape = reduce_->result()->type().shape;
  const int64_t out_elements = out_shape.num_elements();
  // A value the epilogue reads at the output's index: of one element, or as many as the output.
  auto output_sized = [&](const Shape& shape) {
    return shape.num_elements() == 1 || shape == out_shape ||
           (out_elements >= 0 && shape.num_elements() == out_elements);
  };
  for (const ir::Op* op : group_.ops) {
    if (op->kind() == ir::OpKind::kConst && op->result()->type().shape.num_elements() != 1) {
      return absl::UnimplementedError("reduce fusion: a non-scalar constant in the region");
    }
    for (int i = 0; i < op->num_results(); ++i) {
      const bool is_epi = std::find(epilogue_.begin(), epilogue_.end(), op) != epilogue_.end();
      if (is_epi && !output_sized(op->result(i)->type().shape)) {
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
    if (info.epilogue && !output_sized(arg->type().shape)) {
      return absl::UnimplementedError(
          cat("reduce fusion: epilogue input of type ", arg->type().to_string()));
    }
  }
  if (!q_.is(1)) {
    qb_ = q_.dims.empty() ? std::clamp<int64_t>(q_.c, 1, kColumns) : kColumns;
  } else {
    split_ = p_.is(1) && (!r_.dims.empty() || r_.c > kBlock);
  }
  return absl::OkStatus();
}

// The size of the reduction input's dim `d`: its constant, or its run-time size.
Extent ReduceEmitter::dim_extent(int d) const {
  const Shape& s = reduce_->operand(0)->type().shape;
  return s[d] >= 0 ? Extent{s[d], {}} : Extent{1, {d}};
}

// Starts a function whose entry block is the insertion point; `dims` = its pointer to the
// reduction input's int64 dims (null for fully defined shapes).
void ReduceEmitter::begin_function(llvm::Value* dims) {
  dims_ = dims;
  dim_values_.assign(reduce_->operand(0)->type().shape.rank(), nullptr);
}

// The value of `e` at the insertion point (dims loaded once per function: call it first in the
// entry block).
llvm::Value* ReduceEmitter::size(const Extent& e) {
  llvm::Value* v = b_.getInt64(e.c);
  for (int d : e.dims) {
    if (!dim_values_[d]) {
      dim_values_[d] = b_.CreateLoad(
          b_.getInt64Ty(), b_.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), dims_, d), cat("dim", d));
    }
    v = b_.CreateMul(v, dim_values_[d], "", true, true);
  }
  return v;
}

llvm::Value* ReduceEmitter::ceil_div(llvm::Value* a, llvm::Value* b) {
  return b_.CreateUDiv(b_.CreateAdd(a, b_.CreateSub(b, b_.getInt64(1))), b);
}

// P, R, Q and the task layout as values at the insertion point (an entry block): constants for
// fully defined shapes. Blocks of a split row: kBlock elements, or more so that there are at
// most kMaxBlocks of them (a multiple of 64).
void ReduceEmitter::compute_sizes() {
  vp_ = size(p_);
  vr_ = size(r_);
  vq_ = size(q_);
  if (!q_.is(1)) nqb_ = ceil_div(vq_, b_.getInt64(qb_));
  if (split_) {
    llvm::Value* few = b_.CreateICmpULE(vr_, b_.getInt64(kBlock * kMaxBlocks));
    llvm::Value* big = b_.CreateMul(
        b_.CreateUDiv(b_.CreateAdd(ceil_div(vr_, b_.getInt64(kMaxBlocks)), b_.getInt64(63)),
                      b_.getInt64(64)),
        b_.getInt64(64));
    block_ = b_.CreateSelect(few, b_.getInt64(kBlock), big, "block");
    nb_ = ceil_div(vr_, block_);
  }
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
    v = b_.CreateFDiv(v, b_.CreateUIToFP(vr_, b_.getDoubleTy()));
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
    struct Term {
      llvm::Value* index;
      const Extent& stride;
      llvm::Value* value;
    };
    const Term terms[3] = {
        {p, info.stride_p, info.vp}, {r, info.stride_r, info.vr}, {q, info.stride_q, info.vq}};
    for (int j = 0; j < 3; ++j) {
      if (!terms[j].index || terms[j].stride.is(0)) continue;
      level = std::max(level, j == 2 ? 1 : 0);
    }
    set_level(level);
    for (const Term& term : terms) {
      if (!term.index || term.stride.is(0)) continue;
      llvm::Value* t =
          term.stride.is(1) ? term.index : b_.CreateMul(term.index, term.value, "", true, true);
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

// In a task's entry block: loads [out, in..., partials] from ctx = [out, in..., partials, dims],
// then the sizes and the inputs' strides.
std::vector<llvm::Value*> ReduceEmitter::load_task_context(llvm::Function* task) {
  llvm::Type* ptr = b_.getPtrTy();
  const size_t n_in = group_.inputs.size();
  std::vector<llvm::Value*> ptrs;
  for (size_t k = 0; k < n_in + 3; ++k) {
    ptrs.push_back(
        b_.CreateLoad(ptr, b_.CreateConstInBoundsGEP1_64(ptr, task->getArg(2), k), cat("p", k)));
  }
  begin_function(ptrs.back());
  ptrs.pop_back();
  compute_sizes();
  for (Input& info : input_info_) {
    info.vp = size(info.stride_p);
    info.vr = size(info.stride_r);
    info.vq = size(info.stride_q);
  }
  return ptrs;
}

// Q > 1: void task(i64 begin, i64 end, ptr ctx); task t is p = t / nqb and the columns
// [qb * (t % nqb), min(Q, qb * (t % nqb + 1))).
absl::Status ReduceEmitter::emit_column_task(llvm::Function* task) {
  llvm::Type* i64 = b_.getInt64Ty();
  llvm::Type* at = acc_type();
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", task);
  auto* task_bb = llvm::BasicBlock::Create(ctx_, "task", task);
  auto* init = llvm::BasicBlock::Create(ctx_, "init", task);
  auto* rows = llvm::BasicBlock::Create(ctx_, "rows", task);
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
  const std::vector<llvm::Value*> ptrs = load_task_context(task);
  b_.CreateCondBr(b_.CreateICmpULT(task->getArg(0), task->getArg(1)), task_bb, exit);

  // Task t: p, the column range [qlo, qhi), n = qhi - qlo >= 1.
  b_.SetInsertPoint(task_bb);
  llvm::PHINode* t = b_.CreatePHI(i64, 2, "t");
  t->addIncoming(task->getArg(0), entry);
  llvm::Value* p = b_.CreateUDiv(t, nqb_, "p");
  llvm::Value* qlo = b_.CreateMul(b_.CreateURem(t, nqb_), b_.getInt64(qb_), "qlo", true, true);
  llvm::Value* qend = b_.CreateAdd(qlo, b_.getInt64(qb_), "", true, true);
  llvm::Value* qhi = b_.CreateSelect(b_.CreateICmpULT(qend, vq_), qend, vq_, "qhi");
  llvm::Value* n = b_.CreateSub(qhi, qlo, "n", true, true);
  b_.CreateBr(init);

  // accs[0, n) = the accumulator's initial value.
  b_.SetInsertPoint(init);
  llvm::PHINode* c0 = b_.CreatePHI(i64, 2, "c");
  c0->addIncoming(b_.getInt64(0), task_bb);
  b_.CreateStore(acc_init(), b_.CreateInBoundsGEP(at, accs, c0));
  llvm::Value* c0_next = b_.CreateAdd(c0, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(c0_next, n), init, rows);
  c0->addIncoming(c0_next, init);
  // An empty reduction (R = 0 at run time) leaves the initial values.
  b_.SetInsertPoint(rows);
  b_.CreateCondBr(b_.CreateICmpEQ(vr_, b_.getInt64(0)), fin, row);

  // for r in [0, R): for c in [0, n): accs[c] (op)= x(p, r, qlo + c).
  b_.SetInsertPoint(row);
  llvm::PHINode* r = b_.CreatePHI(i64, 2, "r");
  r->addIncoming(b_.getInt64(0), rows);
  b_.CreateBr(cols);
  b_.SetInsertPoint(cols);
  llvm::PHINode* c = b_.CreatePHI(i64, 2, "c");
  c->addIncoming(b_.getInt64(0), row);
  llvm::Value* c_next = b_.CreateAdd(c, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(c_next, n), cols, row_done);
  c->addIncoming(c_next, cols);
  b_.SetInsertPoint(row_done);
  llvm::Value* r_next = b_.CreateAdd(r, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(r_next, vr_), row, fin);
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
  llvm::PHINode* f = b_.CreatePHI(i64, 3, "f");
  f->addIncoming(b_.getInt64(0), row_done);
  f->addIncoming(b_.getInt64(0), rows);
  llvm::Value* f_next = b_.CreateAdd(f, b_.getInt64(1), "", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(f_next, n), fin, latch);
  f->addIncoming(f_next, fin);
  b_.SetInsertPoint(fin->getTerminator());
  llvm::Value* total = b_.CreateLoad(at, b_.CreateInBoundsGEP(at, accs, f));
  llvm::Value* m = b_.CreateAdd(b_.CreateMul(p, vq_, "", true, true),
                                b_.CreateAdd(qlo, f, "", true, true), "m", true, true);

  b_.SetInsertPoint(latch);
  llvm::Value* t_next = b_.CreateAdd(t, b_.getInt64(1), "t.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(t_next, task->getArg(1)), task_bb, exit);
  t->addIncoming(t_next, latch);
  std::vector<llvm::Value*> out_ptrs(ptrs.begin(), ptrs.begin() + n_in + 1);
  return emit_finish(fin, total, m, out_ptrs);
}

// Q == 1: void task(i64 begin, i64 end, ptr ctx): task t is row t, or block t of the single
// row (split_), whose partial goes to partials[t].
absl::Status ReduceEmitter::emit_task(llvm::Function* task) {
  llvm::Type* i64 = b_.getInt64Ty();
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", task);
  auto* task_bb = llvm::BasicBlock::Create(ctx_, "task", task);
  auto* inner = llvm::BasicBlock::Create(ctx_, "inner", task);
  auto* latch = llvm::BasicBlock::Create(ctx_, "task.done", task);
  auto* exit = llvm::BasicBlock::Create(ctx_, "exit", task);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();

  b_.SetInsertPoint(entry);
  const size_t n_in = group_.inputs.size();
  const std::vector<llvm::Value*> ptrs = load_task_context(task);
  b_.CreateCondBr(b_.CreateICmpULT(task->getArg(0), task->getArg(1)), task_bb, exit);

  b_.SetInsertPoint(task_bb);
  llvm::PHINode* t = b_.CreatePHI(i64, 2, "t");
  t->addIncoming(task->getArg(0), entry);
  llvm::Value* m = split_ ? static_cast<llvm::Value*>(b_.getInt64(0)) : t;
  llvm::Value* lo = split_ ? b_.CreateMul(t, block_, "lo", true, true)
                           : static_cast<llvm::Value*>(b_.getInt64(0));
  llvm::Value* hi = vr_;
  if (split_) {
    llvm::Value* end = b_.CreateAdd(lo, block_, "", true, true);
    hi = b_.CreateSelect(b_.CreateICmpULT(end, hi), end, hi, "hi");
  }
  // An empty row (R = 0 at run time) leaves the initial value.
  b_.CreateCondBr(b_.CreateICmpULT(lo, hi), inner, latch);

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
  llvm::PHINode* total = b_.CreatePHI(acc_type(), 2, "partial");
  total->addIncoming(acc_next, inner);
  total->addIncoming(acc_init(), task_bb);
  llvm::Value* t_next = b_.CreateAdd(t, b_.getInt64(1), "t.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(t_next, task->getArg(1)), task_bb, exit);
  t->addIncoming(t_next, latch);
  if (split_) {
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
  result.takes_dims = dims_input_ >= 0;
  result.dims_input = dims_input_;
  const size_t n_in = group_.inputs.size();
  llvm::Type* ptr = b_.getPtrTy();
  llvm::Type* i64 = b_.getInt64Ty();
  std::vector<llvm::Type*> params(1 + n_in + (result.takes_dims ? 1 : 0), ptr);
  auto* outer = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                       llvm::GlobalValue::InternalLinkage, name, module_);
  outer->addFnAttr(llvm::Attribute::NoUnwind);
  for (unsigned k = 0; k < params.size(); ++k) {
    outer->addParamAttr(k, llvm::Attribute::NoAlias);
    outer->addParamAttr(k, k == 0 ? llvm::Attribute::WriteOnly : llvm::Attribute::ReadOnly);
  }
  result.function = outer;
  auto* entry = llvm::BasicBlock::Create(ctx_, "entry", outer);
  auto* task =
      llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), {i64, i64, ptr}, false),
                             llvm::GlobalValue::InternalLinkage, cat(name, ".task"), module_);
  task->addFnAttr(llvm::Attribute::NoUnwind);
  KILN_RETURN_IF_ERROR(q_.is(1) ? emit_task(task) : emit_column_task(task));

  b_.SetInsertPoint(entry);
  llvm::Value* dims = llvm::ConstantPointerNull::get(b_.getPtrTy());
  if (result.takes_dims) dims = outer->getArg(static_cast<unsigned>(n_in + 1));
  begin_function(dims);
  compute_sizes();
  llvm::Value* partials = llvm::ConstantPointerNull::get(b_.getPtrTy());
  if (split_) {
    const auto* nb = llvm::dyn_cast<llvm::ConstantInt>(nb_);
    const int64_t slots = nb ? std::max<int64_t>(nb->getSExtValue(), 1) : kMaxBlocks;
    partials = b_.CreateAlloca(llvm::ArrayType::get(acc_type(), slots), nullptr, "partials");
  }
  llvm::Value* ctx = b_.CreateAlloca(llvm::ArrayType::get(ptr, n_in + 3), nullptr, "ctx");
  for (unsigned k = 0; k <= n_in; ++k) {
    b_.CreateStore(outer->getArg(k), b_.CreateConstInBoundsGEP1_64(ptr, ctx, k));
  }
  b_.CreateStore(partials, b_.CreateConstInBoundsGEP1_64(ptr, ctx, n_in + 1));
  b_.CreateStore(dims, b_.CreateConstInBoundsGEP1_64(ptr, ctx, n_in + 2));
  // Tasks and their elements; the pool splits them when there are at least two chunks of
  // kParallelGrainElements (decided at run time when a dim is unknown).
  llvm::Value* tasks = !q_.is(1) ? b_.CreateMul(vp_, nqb_, "tasks", true, true)
                       : split_  ? nb_
                                 : vp_;
  llvm::Value* per_task = !q_.is(1) ? b_.CreateMul(vr_, b_.getInt64(qb_), "", true, true)
                          : split_  ? block_
                                    : vr_;
  llvm::Value* elements =
      b_.CreateMul(b_.CreateMul(vp_, vr_, "", true, true), vq_, "elements", true, true);
  llvm::Value* parallel =
      b_.CreateAnd(b_.CreateICmpUGE(elements, b_.getInt64(2 * kParallelGrainElements)),
                   b_.CreateICmpUGE(tasks, b_.getInt64(2)));
  auto emit_parallel = [&] {
    llvm::Value* per =
        b_.CreateSelect(b_.CreateICmpEQ(per_task, b_.getInt64(0)), b_.getInt64(1), per_task);
    llvm::Value* grain = ceil_div(b_.getInt64(kParallelGrainElements), per);
    b_.CreateCall(parallel_for_callee(module_), {task, ctx, tasks, grain, b_.getInt64(1)});
  };
  auto emit_direct = [&] { b_.CreateCall(task, {b_.getInt64(0), tasks, ctx}); };
  if (auto* c = llvm::dyn_cast<llvm::ConstantInt>(parallel)) {
    c->isOne() ? emit_parallel() : emit_direct();
  } else {
    auto* pool = llvm::BasicBlock::Create(ctx_, "pool", outer);
    auto* direct = llvm::BasicBlock::Create(ctx_, "direct", outer);
    auto* ran = llvm::BasicBlock::Create(ctx_, "ran", outer);
    b_.CreateCondBr(parallel, pool, direct);
    b_.SetInsertPoint(pool);
    emit_parallel();
    b_.CreateBr(ran);
    b_.SetInsertPoint(direct);
    emit_direct();
    b_.CreateBr(ran);
    b_.SetInsertPoint(ran);
  }
  if (!split_) {
    b_.CreateRetVoid();
    return result;
  }
  // Partials combined in block order, one after the other (none when R = 0 at run time).
  llvm::BasicBlock* before = b_.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx_, "combine", outer);
  auto* done = llvm::BasicBlock::Create(ctx_, "combined", outer);
  b_.CreateCondBr(b_.CreateICmpEQ(nb_, b_.getInt64(0)), done, loop);
  b_.SetInsertPoint(loop);
  llvm::PHINode* j = b_.CreatePHI(i64, 2, "j");
  llvm::PHINode* s = b_.CreatePHI(acc_type(), 2, "s");
  j->addIncoming(b_.getInt64(0), before);
  s->addIncoming(acc_init(), before);
  llvm::Value* s_next =
      combine(b_, s, b_.CreateLoad(acc_type(), b_.CreateInBoundsGEP(acc_type(), partials, j)));
  llvm::Value* j_next = b_.CreateAdd(j, b_.getInt64(1), "j.next", true, true);
  b_.CreateCondBr(b_.CreateICmpULT(j_next, nb_), loop, done);
  j->addIncoming(j_next, loop);
  s->addIncoming(s_next, loop);
  b_.SetInsertPoint(done);
  llvm::PHINode* sum = b_.CreatePHI(acc_type(), 2, "combined");
  sum->addIncoming(acc_init(), before);
  sum->addIncoming(s_next, loop);
  b_.CreateRetVoid();
  std::vector<llvm::Value*> ptrs;
  for (unsigned k = 0; k <= n_in; ++k) ptrs.push_back(outer->getArg(k));
  KILN_RETURN_IF_ERROR(emit_finish(done, sum, b_.getInt64(0), ptrs));
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
