// kiln — lowering of fusions and lone elementwise ops to one vectorizable loop nest.
//
// Every value in an elementwise group is indexed by the output index through NumPy's trailing
// alignment: a value of shape Sv at output index idx is element
//   [ Sv[j] == 1 ? 0 : idx[r - rv + j] ]_j
// of that value (broadcasts only expand size-1 dims, so this map is the same along every path
// through the region). Hence `broadcast` is the identity per element, and each buffer read
// (input or non-scalar constant) is a load at offset sum_d idx[d] * stride[d] with stride 0 on
// the dims it is broadcast along.
//
// Loop structure: dims of size 1 are dropped and adjacent dims are merged whenever every
// buffer's strides allow it (same-shape groups become one flat loop). Each remaining dim is a
// loop level; each value is computed at the outermost level where all of its inputs are known
// (values that depend on no index, e.g. rank-0 operands, are computed once before the loops).
// The innermost loop reads contiguous or loop-invariant data only and is left to LLVM's loop
// vectorizer. The loops are emitted bottom-tested (all trip counts are constants >= 2).
//
// Parallel loops: a loop of at least two chunks of kParallelGrainElements without an integer
// division check becomes `name.range(begin, end, buffers...)` over the outermost level, run
// through kiln_rt_parallel_for by a task of (begin, end, ctx) (emit_range_caller); `name` keeps
// the signature callers use. With unknown dims every loop gets the range function, and `name`
// compares the run-time element count with two chunks to either call the pool or run the
// range directly. A `transpose` of a loop input is read in place with
// permuted strides (only_transposed, transposed_strides).
//
// Unknown dims ('?'): sizes and strides are Extents, a constant times the run-time sizes of some
// output dims, which the function reads from its trailing `dims` argument in its entry block. An
// input's unknown dim stands for the output's dim at its position (the caller checks that they
// agree at run time), so merging compares Extents exactly as it compares constants. Loops with a
// run-time trip count are skipped when it is 0.
#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "compiler/lower.h"
#include "compiler/lower_elementwise_math.h"
#include "compiler/lower_loop_nest.h"
#include "ir/array_ops.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Module.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace loop_nest {

// The size of output dim `d`: its constant, or its run-time size.
Extent dim_extent(const Shape& out, int d) {
  return out[d] >= 0 ? Extent{out[d], {}} : Extent{1, {d}};
}

LoopNestEmitter::LoopNestEmitter(llvm::Module& module, const ElementwiseGroup& group)
    : module_(module),
      ctx_(module.getContext()),
      builder_(new llvm::IRBuilder<>(ctx_),
               [](llvm::IRBuilderBase* b) { delete static_cast<llvm::IRBuilder<>*>(b); }),
      b_(*builder_),
      group_(group) {}

LoopNestEmitter::~LoopNestEmitter() = default;

void LoopNestEmitter::set_level(int level) {
  b_.SetInsertPoint(level_blocks_[level + 1]->getTerminator());
}

absl::Status LoopNestEmitter::check_shapes() {
  const Shape& out = group_.shape;
  auto check = [&](const ir::Value* v) -> absl::Status {
    const Shape& s = v->type().shape;
    bool ok = s.rank() <= out.rank();
    for (int j = 0; ok && j < s.rank(); ++j) {
      const int64_t o = out[out.rank() - s.rank() + j];
      ok = s[j] == 1 || s[j] == o || (s[j] < 0 && o != 1);
    }
    if (!ok) {
      return absl::InvalidArgumentError(cat("elementwise value of type ", v->type().to_string(),
                                            " does not broadcast to ", out.to_string()));
    }
    return absl::OkStatus();
  };
  for (const ir::Value* v : group_.inputs) {
    if (!only_transposed(v)) KILN_RETURN_IF_ERROR(check(v));
  }
  for (const ir::Op* op : group_.ops) {
    if (op->kind() != ir::OpKind::kTranspose) continue;
    if (std::find(group_.inputs.begin(), group_.inputs.end(), op->operand(0)) ==
        group_.inputs.end()) {
      return absl::UnimplementedError(
          "'transpose' in an elementwise loop must read an input of the loop");
    }
    KILN_RETURN_IF_ERROR(transposed_strides(*op).status());
  }
  for (const ir::Op* op : group_.ops) {
    for (int i = 0; i < op->num_results(); ++i) KILN_RETURN_IF_ERROR(check(op->result(i)));
  }
  for (const ir::Value* v : group_.outputs) {
    if (!(v->type().shape == out)) {
      return absl::UnimplementedError(cat(
          "fusion results of different shapes: ", v->type().to_string(), " vs. ", out.to_string()));
    }
  }
  return absl::OkStatus();
}

// Row-major strides of a buffer of `shape` over the output dims (0 where it is broadcast).
std::vector<Extent> LoopNestEmitter::strides_over_output(const Shape& shape) const {
  const Shape& out = group_.shape;
  std::vector<Extent> strides(out.rank(), Extent{0, {}});
  Extent own{1, {}};
  for (int j = shape.rank() - 1; j >= 0; --j) {
    if (shape[j] == 1) continue;
    const int p = out.rank() - shape.rank() + j;
    strides[p] = own;
    own = own * dim_extent(out, p);
  }
  return strides;
}

// The run-time value of `e`, computed in the function's entry block.
llvm::Value* LoopNestEmitter::extent_value(const Extent& e) {
  if (e.dims.empty()) return b_.getInt64(e.c);
  llvm::IRBuilder<> eb(ctx_);
  if (llvm::Instruction* term = entry_block_->getTerminator()) {
    eb.SetInsertPoint(term);
  } else {
    eb.SetInsertPoint(entry_block_);
  }
  llvm::Value* v = nullptr;
  for (int d : e.dims) {
    if (!out_dims_[d]) {
      // Loaded before any other code of the entry block (so it dominates all uses).
      llvm::IRBuilder<> lb(entry_block_, entry_block_->begin());
      out_dims_[d] = lb.CreateLoad(b_.getInt64Ty(),
                                   lb.CreateConstInBoundsGEP1_64(b_.getInt64Ty(), dims_arg_, d),
                                   cat("dim", d));
    }
    v = v ? eb.CreateMul(v, out_dims_[d], "", true, true) : out_dims_[d];
  }
  return e.c == 1 ? v : eb.CreateMul(v, eb.getInt64(e.c), "", true, true);
}

// Merges output dims into loop levels: drops size-1 dims, then joins dim d to the previous
// level when every buffer (the inputs, the output) satisfies stride[prev] == stride[d] * size[d].
void LoopNestEmitter::plan_loops() {
  const Shape& out = group_.shape;
  std::vector<std::vector<Extent>> all;  // per-buffer strides over output dims
  all.push_back(strides_over_output(out));
  for (const ir::Value* v : group_.inputs) {
    if (!only_transposed(v)) all.push_back(strides_over_output(v->type().shape));
  }
  for (const ir::Op* op : group_.ops) {
    if (op->kind() == ir::OpKind::kTranspose) all.push_back(*transposed_strides(*op));
  }
  for (const ir::Op* op : group_.ops) {
    if (op->kind() == ir::OpKind::kConst && op->result()->type().shape.num_elements() != 1) {
      all.push_back(strides_over_output(op->result()->type().shape));
    }
  }
  dim_level_.assign(out.rank(), -1);
  std::vector<Extent> level_stride;  // per buffer: stride of the current last level
  for (int d = 0; d < out.rank(); ++d) {
    if (out[d] == 1) continue;
    const Extent size = dim_extent(out, d);
    bool merge = !loop_sizes_.empty();
    for (size_t k = 0; merge && k < all.size(); ++k) {
      merge = level_stride[k] == all[k][d] * size;
    }
    if (merge) {
      loop_sizes_.back() = loop_sizes_.back() * size;
    } else {
      loop_sizes_.push_back(size);
    }
    level_stride.resize(all.size());
    for (size_t k = 0; k < all.size(); ++k) level_stride[k] = all[k][d];
    dim_level_[d] = static_cast<int>(loop_sizes_.size()) - 1;
  }
}

// Registers a buffer of `shape` (broadcast to the output) and returns its index.
int LoopNestEmitter::add_buffer(llvm::Value* ptr, DType dtype, const Shape& shape) {
  return add_buffer_with_strides(ptr, dtype, strides_over_output(shape));
}

// True if `v` is read only through transposes of the group (so never with its own strides).
bool LoopNestEmitter::only_transposed(const ir::Value* v) const {
  bool used = false;
  for (const ir::Op* op : group_.ops) {
    for (const ir::Value* o : op->operands()) {
      if (o != v) continue;
      if (op->kind() != ir::OpKind::kTranspose) return false;
      used = true;
    }
  }
  for (const ir::Value* o : group_.outputs) {
    if (o == v) return false;
  }
  return used;
}

// Strides (elements, per output dim) at which transpose `op`, whose result has the loop's fully
// defined shape, reads its operand: output dim j walks operand dim perm[j].
absl::StatusOr<std::vector<Extent>> LoopNestEmitter::transposed_strides(const ir::Op& op) const {
  const Shape& in = op.operand(0)->type().shape;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ir::transpose_perm(op.attrs(), in.rank()));
  if (!(op.result()->type().shape == group_.shape) || !in.is_fully_defined()) {
    return absl::UnimplementedError(cat("'transpose' to ", op.result()->type().to_string(),
                                        " in an elementwise loop over ", group_.shape));
  }
  std::vector<int64_t> own = row_major_strides(in);
  std::vector<Extent> st(perm.size(), Extent{0, {}});
  for (size_t j = 0; j < perm.size(); ++j) {
    if (in[perm[j]] != 1) st[j] = Extent{own[perm[j]], {}};
  }
  return st;
}

// Registers a buffer read at strides `st` over the output dims; returns its index.
int LoopNestEmitter::add_buffer_with_strides(llvm::Value* ptr, DType dtype,
                                             const std::vector<Extent>& st) {
  Buffer buf;
  buf.ptr = ptr;
  buf.dtype = dtype;
  buf.strides.assign(loop_sizes_.size(), Extent{0, {}});
  // The stride of a level is the stride of its innermost output dim.
  for (int d = 0; d < group_.shape.rank(); ++d) {
    if (dim_level_[d] >= 0) buf.strides[dim_level_[d]] = st[d];
  }
  for (int l = 0; l < static_cast<int>(buf.strides.size()); ++l) {
    if (!buf.strides[l].is(0)) buf.level = l;
  }
  buf.offsets.assign(loop_sizes_.size(), nullptr);
  buffers_.push_back(std::move(buf));
  return static_cast<int>(buffers_.size()) - 1;
}

// entry:   (level -1 code) br H0
// H_l:     iv_l = phi [0, H_{l-1}], [iv_l + 1, latch_l]; (level l code); br H_{l+1}
// H_last:  ...; iv + 1; br (iv + 1 < n), H_last, X_{last-1}
// X_l:     iv_l + 1; br (iv_l + 1 < n_l), H_l, X_{l-1} / exit
void LoopNestEmitter::build_skeleton(llvm::Function* fn) {
  llvm::Type* i64 = b_.getInt64Ty();
  llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx_, "entry", fn);
  entry_block_ = entry;
  level_blocks_.push_back(entry);
  const int n = static_cast<int>(loop_sizes_.size());
  std::vector<llvm::BasicBlock*> headers, latches(n, nullptr);
  for (int l = 0; l < n; ++l) {
    headers.push_back(llvm::BasicBlock::Create(ctx_, cat("loop", l), fn));
    level_blocks_.push_back(headers.back());
  }
  for (int l = n - 2; l >= 0; --l) latches[l] = llvm::BasicBlock::Create(ctx_, cat("next", l), fn);
  llvm::BasicBlock* exit = llvm::BasicBlock::Create(ctx_, "exit", fn);
  b_.SetInsertPoint(exit);
  b_.CreateRetVoid();
  if (n == 0) {
    b_.SetInsertPoint(entry);
    b_.CreateBr(exit);
    return;
  }
  latches[n - 1] = headers[n - 1];
  b_.SetInsertPoint(entry);
  // Run-time trip counts (unknown dims) are computed here; a zero one skips the nest.
  std::vector<llvm::Value*> bounds;
  llvm::Value* empty = nullptr;
  for (int l = 0; l < n; ++l) {
    bounds.push_back(extent_value(loop_sizes_[l]));
    if (loop_sizes_[l].dims.empty()) continue;
    llvm::Value* zero = b_.CreateICmpEQ(bounds.back(), b_.getInt64(0));
    empty = empty ? b_.CreateOr(empty, zero) : zero;
  }
  if (empty) {
    b_.CreateCondBr(empty, exit, headers[0]);
  } else {
    b_.CreateBr(headers[0]);
  }
  for (int l = 0; l < n; ++l) {
    b_.SetInsertPoint(headers[l]);
    llvm::PHINode* iv = b_.CreatePHI(i64, 2, cat("i", l));
    ivs_.push_back(iv);
    iv->addIncoming(l == 0 && level0_begin_ ? level0_begin_ : b_.getInt64(0),
                    l == 0 ? entry : headers[l - 1]);
    if (l + 1 < n) b_.CreateBr(headers[l + 1]);
  }
  for (int l = n - 1; l >= 0; --l) {
    b_.SetInsertPoint(latches[l]);
    llvm::Value* next = b_.CreateAdd(ivs_[l], b_.getInt64(1), cat("i", l, ".next"), true, true);
    llvm::Value* more = b_.CreateICmpULT(next, l == 0 && level0_end_ ? level0_end_ : bounds[l]);
    b_.CreateCondBr(more, headers[l], l == 0 ? exit : latches[l - 1]);
    llvm::cast<llvm::PHINode>(ivs_[l])->addIncoming(next, latches[l]);
  }
}

llvm::Value* LoopNestEmitter::offset(Buffer& buf, int level) {
  if (level < 0) return b_.getInt64(0);
  if (buf.offsets[level]) return buf.offsets[level];
  llvm::Value* outer = offset(buf, level - 1);
  llvm::Value* off = outer;
  if (!buf.strides[level].is(0)) {
    llvm::Value* stride = buf.strides[level].is(1) ? nullptr : extent_value(buf.strides[level]);
    set_level(level);
    llvm::Value* step =
        stride == nullptr ? ivs_[level] : b_.CreateMul(ivs_[level], stride, "", true, true);
    off = llvm::isa<llvm::ConstantInt>(outer) && llvm::cast<llvm::ConstantInt>(outer)->isZero()
              ? step
              : b_.CreateAdd(outer, step, "", true, true);
  }
  buf.offsets[level] = off;
  return off;
}

llvm::Type* LoopNestEmitter::memory_type(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return b_.getFloatTy();
    case DType::kFloat64:
      return b_.getDoubleTy();
    case DType::kFloat16:
      return b_.getHalfTy();
    case DType::kBFloat16:
      return b_.getInt16Ty();  // converted by bit manipulation (see bf16_to_float)
    case DType::kInt32:
      return b_.getInt32Ty();
    case DType::kInt64:
      return b_.getInt64Ty();
    case DType::kBool:
      return b_.getInt8Ty();
  }
  return b_.getInt8Ty();
}

// Loaded memory value -> the value computations use: bool as i1, float16 and bfloat16 as float.
llvm::Value* LoopNestEmitter::from_memory(llvm::Value* x, DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return b_.CreateICmpNE(x, b_.getInt8(0));
    case DType::kFloat16:
      return b_.CreateFPExt(x, b_.getFloatTy());
    case DType::kBFloat16:
      return b_.CreateBitCast(b_.CreateShl(b_.CreateZExt(x, b_.getInt32Ty()), 16), b_.getFloatTy());
    default:
      return x;
  }
}

// float -> bfloat16 bits, rounded to nearest even (nan stays a quiet nan), as kiln::BFloat16.
llvm::Value* LoopNestEmitter::float_to_bf16_bits(llvm::Value* x) {
  llvm::Value* bits = b_.CreateBitCast(x, b_.getInt32Ty());
  llvm::Value* lsb = b_.CreateAnd(b_.CreateLShr(bits, 16), b_.getInt32(1));
  llvm::Value* rounded =
      b_.CreateLShr(b_.CreateAdd(bits, b_.CreateAdd(lsb, b_.getInt32(0x7fff))), 16);
  llvm::Value* quiet = b_.CreateOr(b_.CreateLShr(bits, 16), b_.getInt32(0x40));
  llvm::Value* nan = b_.CreateFCmpUNO(x, x);
  return b_.CreateTrunc(b_.CreateSelect(nan, quiet, rounded), b_.getInt16Ty());
}

// Computed value -> memory value of `dtype`.
llvm::Value* LoopNestEmitter::to_memory(llvm::Value* x, DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return b_.CreateZExt(x, b_.getInt8Ty());
    case DType::kFloat16:
      return b_.CreateFPTrunc(x, b_.getHalfTy());
    case DType::kBFloat16:
      return float_to_bf16_bits(x);
    default:
      return x;
  }
}

// A float16/bfloat16 result is rounded to its dtype after every op (as the eager kernels,
// which compute in float32 and store 16 bits); other dtypes are computed exactly as stored.
llvm::Value* LoopNestEmitter::round_to(llvm::Value* x, DType dtype) {
  if (!is_half(dtype)) return x;
  return from_memory(to_memory(x, dtype), dtype);
}

// Pointer to the buffer's element for the current iteration of `level`.
llvm::Value* LoopNestEmitter::element_ptr(Buffer& buf, int level) {
  llvm::Value* off = offset(buf, level);
  set_level(level);
  return b_.CreateInBoundsGEP(memory_type(buf.dtype), buf.ptr, off);
}

absl::StatusOr<llvm::Value*> LoopNestEmitter::compute(const ir::Op& op,
                                                      const std::vector<llvm::Value*>& a) {
  using ir::OpKind;
  const DType dt = op.operand(0)->type().dtype;
  const bool fp = is_floating(dt);
  const auto int_const = [&](int64_t v) {
    return llvm::ConstantInt::get(a.back()->getType(), v, /*IsSigned=*/true);
  };
  switch (op.kind()) {
    case OpKind::kBroadcast:
      return a[0];
    case OpKind::kNeg:
      return fp ? b_.CreateFNeg(a[0]) : b_.CreateNeg(a[0]);
    case OpKind::kAbs:
      return fp ? b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a[0])
                : b_.CreateBinaryIntrinsic(llvm::Intrinsic::abs, a[0], b_.getFalse());
    case OpKind::kSquare:
      return fp ? b_.CreateFMul(a[0], a[0]) : b_.CreateMul(a[0], a[0]);
    case OpKind::kExp:
    case OpKind::kLog:
      if (dt == DType::kFloat64) return emit_libm_f64(b_, op.kind(), a);
      return op.kind() == OpKind::kExp ? emit_exp_f32(b_, a[0]) : emit_log_f32(b_, a[0]);
    case OpKind::kAdd:
      return fp ? b_.CreateFAdd(a[0], a[1]) : b_.CreateAdd(a[0], a[1]);
    case OpKind::kSub:
      return fp ? b_.CreateFSub(a[0], a[1]) : b_.CreateSub(a[0], a[1]);
    case OpKind::kMul:
      return fp ? b_.CreateFMul(a[0], a[1]) : b_.CreateMul(a[0], a[1]);
    case OpKind::kDiv: {
      if (fp) return b_.CreateFDiv(a[0], a[1]);
      // Integer division truncates toward zero and INT_MIN / -1 wraps, as in the eager kernel.
      // A zero divisor sets the error flag (the entry then fails with the kernel's message); the
      // divisor is made safe first, since a trap is not an option.
      llvm::Value* zero = b_.CreateICmpEQ(a[1], int_const(0));
      llvm::Value* flag = b_.CreateLoad(b_.getInt8Ty(), div_flag_);
      b_.CreateStore(b_.CreateOr(flag, b_.CreateZExt(zero, b_.getInt8Ty())), div_flag_);
      llvm::Value* minus1 = b_.CreateICmpEQ(a[1], int_const(-1));
      llvm::Value* d = b_.CreateSelect(b_.CreateOr(zero, minus1), int_const(1), a[1]);
      llvm::Value* q = b_.CreateSDiv(a[0], d);
      q = b_.CreateSelect(minus1, b_.CreateNeg(a[0]), q);
      return b_.CreateSelect(zero, int_const(0), q);
    }
    case OpKind::kLess:
      return fp ? b_.CreateFCmpOLT(a[0], a[1]) : b_.CreateICmpSLT(a[0], a[1]);
    case OpKind::kGreater:
      return fp ? b_.CreateFCmpOGT(a[0], a[1]) : b_.CreateICmpSGT(a[0], a[1]);
    case OpKind::kSelect:
      return b_.CreateSelect(a[0], a[1], a[2]);
    default:
      return emit_math_op(b_, op, a, div_flag_);
  }
}

absl::Status LoopNestEmitter::emit_op(const ir::Op& op) {
  if (op.num_results() != 1) {
    return absl::InvalidArgumentError(cat("'", op.mnemonic(), "' in a fusion must have 1 result"));
  }
  const ir::Value* result = op.result();
  if (op.kind() == ir::OpKind::kConst) {
    if (!op.literal() || !(op.literal()->type() == result->type())) {
      return absl::InvalidArgumentError("const without a literal of its type");
    }
    const ir::Literal& lit = *op.literal();
    if (lit.num_elements() == 1) {
      llvm::Value* c = nullptr;
      switch (lit.type().dtype) {
        case DType::kFloat32:
        case DType::kFloat16:  // exact as float, the type they are computed in
        case DType::kBFloat16:
          c = llvm::ConstantFP::get(b_.getFloatTy(), static_cast<float>(lit.get(0)));
          break;
        case DType::kFloat64:
          c = llvm::ConstantFP::get(b_.getDoubleTy(), lit.get(0));
          break;
        case DType::kInt32:
          c = b_.getInt32(static_cast<int32_t>(lit.get_int64(0)));
          break;
        case DType::kInt64:
          c = b_.getInt64(lit.get_int64(0));
          break;
        case DType::kBool:
          c = b_.getInt1(lit.get(0) != 0);
          break;
      }
      values_[result] = {c, -1};
      return absl::OkStatus();
    }
    // A non-scalar constant is read like an input, from a private global.
    auto* data = llvm::ConstantDataArray::getRaw(
        llvm::StringRef(static_cast<const char*>(lit.data()), lit.size_bytes()), lit.size_bytes(),
        b_.getInt8Ty());
    auto* gv = new llvm::GlobalVariable(module_, data->getType(), /*isConstant=*/true,
                                        llvm::GlobalValue::PrivateLinkage, data, "kiln.const");
    gv->setAlignment(llvm::Align(64));
    gv->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    const int k = add_buffer(gv, lit.type().dtype, lit.type().shape);
    Buffer& buf = buffers_[k];
    llvm::Value* v = b_.CreateLoad(memory_type(buf.dtype), element_ptr(buf, buf.level));
    values_[result] = {from_memory(v, buf.dtype), buf.level};
    return absl::OkStatus();
  }
  if (op.kind() == ir::OpKind::kTranspose && range_fn_) {
    // A strided read of the loop's input (check_shapes made sure it is one).
    const auto it = std::find(group_.inputs.begin(), group_.inputs.end(), op.operand(0));
    if (it == group_.inputs.end()) {
      return absl::UnimplementedError(
          "'transpose' in an elementwise loop must read an input of the loop");
    }
    const unsigned arg =
        first_buffer_arg_ + static_cast<unsigned>(group_.outputs.size() +
                                                  static_cast<size_t>(it - group_.inputs.begin()));
    KILN_ASSIGN_OR_RETURN(std::vector<Extent> st, transposed_strides(op));
    const DType dt = op.operand(0)->type().dtype;
    const int k = add_buffer_with_strides(range_fn_->getArg(arg), dt, st);
    Buffer& buf = buffers_[k];
    llvm::Value* x = b_.CreateLoad(memory_type(dt), element_ptr(buf, buf.level));
    values_[result] = {from_memory(x, dt), buf.level};
    return absl::OkStatus();
  }
  const ir::OpClass cls = ir::op_info(op.kind()).cls;
  const bool elementwise = ir::is_elementwise(op.kind());
  if (!elementwise) {
    return absl::UnimplementedError(
        cat("'", op.mnemonic(), "' cannot be lowered inside an elementwise loop"));
  }
  if (op.num_operands() != ir::op_info(op.kind()).arity) {
    return absl::InvalidArgumentError(cat("'", op.mnemonic(), "': wrong number of operands"));
  }
  std::vector<llvm::Value*> args;
  int level = -1;
  for (const ir::Value* v : op.operands()) {
    auto it = values_.find(v);
    if (it == values_.end()) {
      return absl::InvalidArgumentError(
          cat("'", op.mnemonic(), "': operand is not defined in the elementwise group"));
    }
    args.push_back(it->second.value);
    level = std::max(level, it->second.level);
  }
  // Dtype checks the lowering relies on (the verifier guarantees them for valid IR).
  const DType dt = op.operand(0)->type().dtype;
  const int arity = op.num_operands();
  const bool float_only = cls == ir::OpClass::kUnaryFloat;
  const bool numeric =
      cls == ir::OpClass::kUnary || cls == ir::OpClass::kBinary || cls == ir::OpClass::kCompare;
  const bool is_select = cls == ir::OpClass::kSelect;
  const DType value_dt = is_select ? op.operand(1)->type().dtype : dt;
  const bool bool_out =
      cls == ir::OpClass::kCompare || cls == ir::OpClass::kEquality || cls == ir::OpClass::kLogical;
  const DType result_dt = bool_out                    ? DType::kBool
                          : cls == ir::OpClass::kCast ? result->type().dtype
                                                      : value_dt;
  bool ok = result->type().dtype == result_dt;
  ok = ok && !(cls == ir::OpClass::kLogical && dt != DType::kBool);
  ok = ok && !(float_only && !is_floating(dt)) && !(numeric && dt == DType::kBool);
  ok = ok && !(is_select && dt != DType::kBool);
  for (int i = is_select ? 1 : 0; ok && i < arity; ++i) {
    ok = op.operand(i)->type().dtype == value_dt;
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        cat("'", op.mnemonic(), "': unsupported operand or result types"));
  }
  set_level(level);
  KILN_ASSIGN_OR_RETURN(llvm::Value * v, compute(op, args));
  values_[result] = {round_to(v, result->type().dtype), level};
  return absl::OkStatus();
}

llvm::FunctionCallee parallel_for_callee(llvm::Module& module) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* ptr = llvm::PointerType::getUnqual(ctx);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  auto* type =
      llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, ptr, i64, i64, i64}, false);
  llvm::FunctionCallee callee = module.getOrInsertFunction("kiln_rt_parallel_for", type);
  if (auto* decl = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
    decl->addFnAttr(llvm::Attribute::NoUnwind);
  }
  return callee;
}

// The body of `outer` (the group's function) for a parallel loop: hands a task
// `void name.task(i64 begin, i64 end, ptr ctx)`, ctx being the array of outer's buffer pointers,
// to kiln_rt_parallel_for over the outermost level; the task calls `range` on its chunk.
// With unknown dims the sizes come from outer's `dims` argument, and a loop below two chunks
// calls `range` on the whole level directly (no runtime call).
void LoopNestEmitter::emit_range_caller(llvm::Function* outer, llvm::Function* range) {
  const unsigned n_args = outer->arg_size();
  llvm::BasicBlock* entry = llvm::BasicBlock::Create(ctx_, "entry", outer);
  llvm::IRBuilder<> ob(entry);
  llvm::Type* ptr = ob.getPtrTy();
  llvm::Type* i64 = ob.getInt64Ty();
  auto* task = llvm::Function::Create(
      llvm::FunctionType::get(ob.getVoidTy(), {i64, i64, ptr}, false),
      llvm::GlobalValue::InternalLinkage, cat(outer->getName(), ".task"), module_);
  task->addFnAttr(llvm::Attribute::NoUnwind);
  // Sizes in outer: constants, or products of the run-time dims.
  std::vector<llvm::Value*> dims(group_.shape.rank(), nullptr);
  auto size_of = [&](const Extent& e) -> llvm::Value* {
    llvm::Value* v = ob.getInt64(e.c);
    for (int d : e.dims) {
      if (!dims[d]) {
        dims[d] = ob.CreateLoad(
            i64, ob.CreateConstInBoundsGEP1_64(i64, outer->getArg(n_args - 1), d), cat("dim", d));
      }
      v = ob.CreateMul(v, dims[d], "", true, true);
    }
    return v;
  };
  llvm::Value* n0 = size_of(loop_sizes_[0]);
  Extent inner_extent{1, {}};
  for (size_t l = 1; l < loop_sizes_.size(); ++l) inner_extent = inner_extent * loop_sizes_[l];
  llvm::Value* inner = size_of(inner_extent);
  llvm::Value* ctx = ob.CreateAlloca(llvm::ArrayType::get(ptr, n_args), nullptr, "ctx");
  for (unsigned i = 0; i < n_args; ++i) {
    ob.CreateStore(outer->getArg(i), ob.CreateConstInBoundsGEP1_64(ptr, ctx, i));
  }
  // grain = ceil(kParallelGrainElements / inner) level-0 iterations (inner >= 1 here: a loop
  // with an empty inner level does no work and calls range directly).
  if (!inner_extent.dims.empty() || !loop_sizes_[0].dims.empty()) {
    llvm::Value* total = ob.CreateMul(n0, inner, "total", true, true);
    llvm::Value* big = ob.CreateICmpSGE(total, ob.getInt64(2 * kParallelGrainElements));
    auto* direct = llvm::BasicBlock::Create(ctx_, "direct", outer);
    auto* pool = llvm::BasicBlock::Create(ctx_, "pool", outer);
    ob.CreateCondBr(big, pool, direct);
    ob.SetInsertPoint(direct);
    std::vector<llvm::Value*> args{ob.getInt64(0), n0};
    for (unsigned i = 0; i < n_args; ++i) args.push_back(outer->getArg(i));
    ob.CreateCall(range, args);
    ob.CreateRetVoid();
    ob.SetInsertPoint(pool);
  }
  llvm::Value* grain =
      ob.CreateUDiv(ob.CreateAdd(ob.getInt64(kParallelGrainElements - 1), inner), inner, "grain");
  // Chunks start at multiples of 16 elements (64 bytes of float32) when the loop is flat.
  llvm::Value* align = loop_sizes_.size() == 1 ? ob.getInt64(16) : ob.getInt64(1);
  ob.CreateCall(parallel_for_callee(module_), {task, ctx, n0, grain, align});
  ob.CreateRetVoid();

  llvm::IRBuilder<> tb(llvm::BasicBlock::Create(ctx_, "entry", task));
  std::vector<llvm::Value*> args{task->getArg(0), task->getArg(1)};
  for (unsigned i = 0; i < n_args; ++i) {
    args.push_back(
        tb.CreateLoad(ptr, tb.CreateConstInBoundsGEP1_64(ptr, task->getArg(2), i), cat("p", i)));
  }
  tb.CreateCall(range, args);
  tb.CreateRetVoid();
}

absl::StatusOr<ElementwiseFunction> LoopNestEmitter::emit(const std::string& name) {
  KILN_RETURN_IF_ERROR(check_shapes());
  plan_loops();
  ElementwiseFunction result;
  for (const ir::Op* op : group_.ops) {
    if ((op->kind() == ir::OpKind::kDiv || op->kind() == ir::OpKind::kMod ||
         op->kind() == ir::OpKind::kFloorDiv) &&
        op->num_operands() == 2 && is_integer(op->operand(0)->type().dtype)) {
      result.checks_division = true;
    }
  }
  result.takes_dims = !group_.shape.is_fully_defined();
  const size_t n_buffers = group_.outputs.size() + group_.inputs.size();
  std::vector<llvm::Type*> params(
      n_buffers + (result.checks_division ? 1 : 0) + (result.takes_dims ? 1 : 0), b_.getPtrTy());
  // Big loops without a division check run in parallel chunks of the outermost level: the loop
  // function then takes (begin, end) first, and the group's function hands it to the pool
  // (emit_range_caller). The choice depends only on the shape. With unknown dims the choice is made
  // at run time (emit_range_caller).
  const bool parallel =
      !result.checks_division && !loop_sizes_.empty() &&
      (result.takes_dims || group_.shape.num_elements() >= 2 * kParallelGrainElements);
  first_buffer_arg_ = parallel ? 2 : 0;
  std::vector<llvm::Type*> fn_params = params;
  if (parallel) fn_params.insert(fn_params.begin(), 2, b_.getInt64Ty());
  auto* fn_type = llvm::FunctionType::get(b_.getVoidTy(), fn_params, false);
  auto* fn = llvm::Function::Create(fn_type, llvm::GlobalValue::InternalLinkage,
                                    parallel ? cat(name, ".range") : name, module_);
  llvm::Function* outer = fn;
  if (parallel) {
    outer = llvm::Function::Create(llvm::FunctionType::get(b_.getVoidTy(), params, false),
                                   llvm::GlobalValue::InternalLinkage, name, module_);
  }
  for (llvm::Function* f : {outer, fn}) {
    f->addFnAttr(llvm::Attribute::NoUnwind);
    f->addFnAttr(llvm::Attribute::WillReturn);
    const unsigned first = f == fn ? first_buffer_arg_ : 0;
    for (unsigned i = 0; i < params.size(); ++i) {
      // Outputs never alias inputs or each other; inputs are only read, so they may alias each
      // other (the same buffer passed twice) without breaking `noalias`.
      // An input held in an output's buffer (in place) is read through the output's pointer;
      // its own pointer goes unused, so `noalias` still holds.
      f->addParamAttr(first + i, llvm::Attribute::NoAlias);
      f->addParamAttr(first + i, llvm::Attribute::NoCapture);
      const bool read_in_place =
          std::find(group_.input_in_output.begin(), group_.input_in_output.end(),
                    static_cast<int>(i)) != group_.input_in_output.end();
      if (i < n_buffers && !(i < group_.outputs.size() && read_in_place)) {
        f->addParamAttr(first + i, i < group_.outputs.size() ? llvm::Attribute::WriteOnly
                                                             : llvm::Attribute::ReadOnly);
      }
    }
  }
  result.function = outer;
  range_fn_ = fn;
  if (parallel) {
    level0_begin_ = fn->getArg(0);
    level0_end_ = fn->getArg(1);
  }
  if (result.checks_division) {
    div_flag_ = fn->getArg(first_buffer_arg_ + static_cast<unsigned>(n_buffers));
  }
  if (result.takes_dims) {
    dims_arg_ = fn->getArg(first_buffer_arg_ + static_cast<unsigned>(params.size() - 1));
    fn->addParamAttr(first_buffer_arg_ + static_cast<unsigned>(params.size() - 1),
                     llvm::Attribute::ReadOnly);
    out_dims_.assign(group_.shape.rank(), nullptr);
  }
  build_skeleton(fn);
  if (parallel) emit_range_caller(outer, fn);
  if (group_.shape.num_elements() == 0) return result;

  const size_t n_out = group_.outputs.size();
  for (size_t i = 0; i < group_.inputs.size(); ++i) {
    const ir::Value* v = group_.inputs[i];
    if (values_.contains(v)) continue;  // the same value passed twice: read it once
    if (only_transposed(v)) continue;   // read by its transposes, see emit_op
    const int alias = i < group_.input_in_output.size() ? group_.input_in_output[i] : -1;
    const unsigned param = alias >= 0 ? static_cast<unsigned>(alias) : n_out + i;
    const int k =
        add_buffer(fn->getArg(first_buffer_arg_ + param), v->type().dtype, v->type().shape);
    Buffer& buf = buffers_[k];
    llvm::Value* x = b_.CreateLoad(memory_type(buf.dtype), element_ptr(buf, buf.level));
    values_[v] = {from_memory(x, buf.dtype), buf.level};
  }
  for (const ir::Op* op : group_.ops) KILN_RETURN_IF_ERROR(emit_op(*op));

  const int innermost = static_cast<int>(loop_sizes_.size()) - 1;
  for (size_t i = 0; i < n_out; ++i) {
    const ir::Value* v = group_.outputs[i];
    auto it = values_.find(v);
    if (it == values_.end()) {
      return absl::InvalidArgumentError("fusion yields a value it does not define");
    }
    const int k = add_buffer(fn->getArg(first_buffer_arg_ + static_cast<unsigned>(i)),
                             v->type().dtype, v->type().shape);
    llvm::Value* ptr = element_ptr(buffers_[k], innermost);
    b_.CreateStore(to_memory(it->second.value, v->type().dtype), ptr);
  }
  return result;
}

}  // namespace loop_nest

absl::StatusOr<ElementwiseFunction> emit_elementwise_function(llvm::Module& module,
                                                              const ElementwiseGroup& group,
                                                              const std::string& name) {
  loop_nest::LoopNestEmitter emitter(module, group);
  return emitter.emit(name);
}

}  // namespace kiln::compiler
