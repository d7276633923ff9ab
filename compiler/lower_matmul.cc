// kiln — lowering of 2-D float32 products: `fusion {kind = "matmul"}` (a matmul followed by an
// elementwise epilogue, see passes/fuse_matmul.cc) and small lone matmuls.
//
// Each becomes `define internal void @name(ptr noalias %c, ptr %a, ptr %b, ptr %e0, ...)`: C is
// the result ([M, N], row-major), A and B the matmul's operands as stored (transposes are read
// through strides), e0... the epilogue's other operands (region arguments #2...).
//
// Small products (at most kNativeMaxMadds multiply-adds) are computed by generated loops with
// constant trip counts that LLVM unrolls and vectorizes; the loop order keeps the innermost loop
// on contiguous data:
//   - i-k-j, C[i, :] += A(i, k) * B(k, :), when B's rows are contiguous (no transpose_b, or
//     K = 1) and N > 1 or the product is a short matrix-vector one (K < 2 vectors);
//   - k-i, C[:, 0] += A(:, k) * B(k, 0), when N = 1 and A's columns are contiguous;
//   - dot products, C[i, j] += dot(A(i, :), B(:, j)), when A's rows and B's columns are both
//     contiguous (no transpose_a; transpose_b or N = 1), emitted as explicit 8-lane vectors
//     with several accumulators (emit_vector_dots);
//   - i-j-k scalar dot products otherwise (a reduction LLVM may reassociate);
// using fmuladd (contracted to FMA where the target has it). The epilogue then runs over C in
// place as one elementwise loop (lower_elementwise.cc) while C is in cache.
//
// Larger products call kiln_rt_sgemm_epilogue (runtime/kernels/matmul.cc), which computes C in
// row panels (of up to kPanelBytes) with the runtime's float32 GEMM (runtime/kernels/gemm_f32.cc),
// split over the thread pool exactly
// as the eager matmul is, and calls a generated panel function on each panel right after it is
// computed: for each row, the epilogue over that row, in place. Rows are independent, so the result
// does not depend on the thread count. A lone large matmul stays a kernel call (lower.cc).
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "compiler/lower.h"
#include "ir/builder.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/Function.h"
#include "llvm/IR/IRBuilder.h"
#include "llvm/IR/Intrinsics.h"
#include "llvm/IR/Metadata.h"
#include "llvm/IR/Module.h"
#include "runtime/kernel_call.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::compiler {
namespace {

// Products up to this many multiply-adds run in generated loops; larger ones call sgemm.
// Measured on the chapter's and the 784-256-256-10 MLP's shapes (bench/mlp_bench.cc): below it
// the call, the GEMM's packing and its edge handling cost more than the loops (measured with
// OpenBLAS's sgemm, the GEMM used then).
constexpr int64_t kNativeMaxMadds = int64_t{1} << 16;

// Dot products of contiguous rows (the i-j-k order) are computed in vectors of this many lanes
// with up to this many accumulators (the FMA latency times its throughput on AVX2 hosts).
constexpr int64_t kDotWidth = 8;
constexpr int64_t kDotAccumulators = 4;

// Rows up to this many bytes of C form one panel of the sgemm path. Each panel's sgemm call
// packs all of op(B) again, so panels are large: measured on 1024^3 with bias + relu, panels of
// 192 rows (768 KiB, L2-resident) cost 10-30% more than one call per row block, whose
// epilogue pass over C is cheap beside the product.
constexpr int64_t kPanelBytes = int64_t{4} << 20;

// The parts of a 2-D float32 product with its epilogue.
struct Product {
  const ir::Op* matmul = nullptr;
  int64_t m = 0, k = 0, n = 0;
  bool ta = false, tb = false;
  // The epilogue (empty for a lone matmul): region arguments #2..., ops after the matmul, the
  // yielded value.
  std::vector<const ir::Value*> extra_inputs;
  std::vector<const ir::Op*> epilogue;
  const ir::Value* output = nullptr;
};

absl::StatusOr<Product> analyze(const ir::Op& op) {
  Product p;
  if (op.kind() == ir::OpKind::kFusion) {
    const ir::Block* region = op.region();
    const ir::Op* yield = region ? region->terminator() : nullptr;
    if (!yield || yield->kind() != ir::OpKind::kYield || yield->num_operands() != 1 ||
        op.num_results() != 1 || region->num_arguments() < 2 ||
        region->num_arguments() != op.num_operands() || region->ops().size() < 2) {
      return absl::InvalidArgumentError("malformed matmul fusion region");
    }
    const ir::Op* first = region->ops().front().get();
    if (first->kind() != ir::OpKind::kMatmul || first->num_operands() != 2 ||
        first->operand(0) != region->argument(0) || first->operand(1) != region->argument(1)) {
      return absl::InvalidArgumentError(
          "a matmul fusion region must start with the matmul of its arguments #0 and #1");
    }
    p.matmul = first;
    for (int i = 2; i < region->num_arguments(); ++i) p.extra_inputs.push_back(region->argument(i));
    for (const auto& inner : region->ops()) {
      if (inner.get() == first || inner.get() == yield) continue;
      if (!ir::is_elementwise(inner->kind()) && inner->kind() != ir::OpKind::kConst) {
        return absl::InvalidArgumentError(
            cat("'", inner->mnemonic(), "' in a matmul fusion epilogue is not elementwise"));
      }
      p.epilogue.push_back(inner.get());
    }
    p.output = yield->operand(0);
  } else {
    p.matmul = &op;
    p.output = op.result();
  }
  const ir::Op& mm = *p.matmul;
  const ir::Type& a = mm.operand(0)->type();
  const ir::Type& b = mm.operand(1)->type();
  const ir::Type& c = mm.result()->type();
  if (a.dtype != DType::kFloat32 || b.dtype != DType::kFloat32 || c.dtype != DType::kFloat32 ||
      a.shape.rank() != 2 || b.shape.rank() != 2 || c.shape.rank() != 2 ||
      !(p.output->type() == c)) {
    return absl::UnimplementedError(
        cat("a matmul fusion needs 2-D float32 operands and result, not ", a, " x ", b, " -> ",
            p.output->type()));
  }
  for (const ir::Value* v : p.extra_inputs) {
    const Shape& s = v->type().shape;
    const bool row = s.rank() == 0 || (s.rank() == 1 && (s[0] == 1 || s[0] == c.shape[1])) ||
                     (s.rank() == 2 && s[0] == 1 && (s[1] == 1 || s[1] == c.shape[1]));
    if (!row) {
      return absl::UnimplementedError(
          cat("a matmul fusion epilogue operand must be a scalar or a row "
              "of the result, not ",
              v->type(), " for a result ", c));
    }
  }
  p.ta = ir::attr_or<bool>(mm.attrs(), "transpose_a", false);
  p.tb = ir::attr_or<bool>(mm.attrs(), "transpose_b", false);
  p.m = c.shape[0];
  p.n = c.shape[1];
  p.k = p.ta ? a.shape[0] : a.shape[1];
  if (p.m <= 0 || p.n <= 0 || p.k <= 0) {
    return absl::UnimplementedError("a matmul fusion with an empty dimension is not compiled");
  }
  return p;
}

bool native(const Product& p) { return p.m * p.n * p.k <= kNativeMaxMadds; }

// for (iv = 0; iv < n; ++iv) body(iv), n >= 1, bottom-tested; leaves `b` after the loop.
// `keep` marks the loop as not to be unrolled (outer loops: unrolling them multiplies the code
// and the compile time for nothing).
void emit_loop(llvm::IRBuilder<>& b, int64_t n, const char* name, bool keep,
               const std::function<void(llvm::Value*)>& body) {
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::LLVMContext& ctx = fn->getContext();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* loop = llvm::BasicBlock::Create(ctx, name, fn);
  auto* exit = llvm::BasicBlock::Create(ctx, cat(name, ".end"), fn);
  b.CreateBr(loop);
  b.SetInsertPoint(loop);
  llvm::PHINode* iv = b.CreatePHI(b.getInt64Ty(), 2, cat(name, ".iv"));
  iv->addIncoming(b.getInt64(0), pre);
  body(iv);
  llvm::Value* next = b.CreateAdd(iv, b.getInt64(1), "", /*HasNUW=*/true, /*HasNSW=*/true);
  iv->addIncoming(next, b.GetInsertBlock());
  llvm::BranchInst* latch = b.CreateCondBr(b.CreateICmpULT(next, b.getInt64(n)), loop, exit);
  if (keep) {
    llvm::Metadata* no_unroll =
        llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.unroll.disable")});
    llvm::MDNode* id = llvm::MDNode::getDistinct(ctx, {nullptr, no_unroll});
    id->replaceOperandWith(0, id);
    latch->setMetadata(llvm::LLVMContext::MD_loop, id);
  }
  b.SetInsertPoint(exit);
}

// Makes an emitted elementwise function usable in place (output #0 = input #0). It is always
// inlined, so its loop sees one pointer where it had two and is vectorized without run-time
// overlap checks (which an in-place call would fail, falling back to the scalar loop).
void allow_in_place(llvm::Function* fn) {
  fn->addFnAttr(llvm::Attribute::AlwaysInline);
  for (unsigned i : {0u, 1u}) {
    fn->removeParamAttr(i, llvm::Attribute::NoAlias);
    fn->removeParamAttr(i, llvm::Attribute::WriteOnly);
    fn->removeParamAttr(i, llvm::Attribute::ReadOnly);
  }
}

class ProductEmitter {
 public:
  ProductEmitter(llvm::Module& module, const Product& p, std::string name)
      : module_(module), ctx_(module.getContext()), b_(ctx_), p_(p), name_(std::move(name)) {}

  absl::StatusOr<llvm::Function*> emit() {
    std::vector<llvm::Type*> params(3 + p_.extra_inputs.size(), b_.getPtrTy());
    auto* fn_type = llvm::FunctionType::get(b_.getVoidTy(), params, false);
    fn_ = llvm::Function::Create(fn_type, llvm::GlobalValue::InternalLinkage, name_, module_);
    fn_->addFnAttr(llvm::Attribute::NoUnwind);
    fn_->addParamAttr(0, llvm::Attribute::NoAlias);
    for (unsigned i = 0; i < params.size(); ++i) {
      fn_->addParamAttr(i, llvm::Attribute::NoCapture);
      if (i > 0) fn_->addParamAttr(i, llvm::Attribute::ReadOnly);
    }
    b_.SetInsertPoint(llvm::BasicBlock::Create(ctx_, "entry", fn_));
    if (native(p_)) {
      find_leading_bias();
      emit_initial_c();
      emit_native_product();
      if (!p_.epilogue.empty()) KILN_RETURN_IF_ERROR(emit_whole_epilogue());
    } else {
      KILN_RETURN_IF_ERROR(emit_sgemm_call());
    }
    b_.CreateRetVoid();
    return fn_;
  }

 private:
  llvm::Value* element(llvm::Value* base, llvm::Value* index) {
    return b_.CreateInBoundsGEP(b_.getFloatTy(), base, index);
  }
  llvm::Value* index2(llvm::Value* row, int64_t row_stride, llvm::Value* col) {
    return b_.CreateAdd(b_.CreateMul(row, b_.getInt64(row_stride), "", true, true), col, "", true,
                        true);
  }
  // Addresses of A(i, kk), B(kk, j), C(i, j) of the product op(A) op(B).
  llvm::Value* a_at(llvm::Value* i, llvm::Value* kk) {
    return element(fn_->getArg(1), p_.ta ? index2(kk, p_.m, i) : index2(i, p_.k, kk));
  }
  llvm::Value* b_at(llvm::Value* kk, llvm::Value* j) {
    return element(fn_->getArg(2), p_.tb ? index2(j, p_.k, kk) : index2(kk, p_.n, j));
  }
  llvm::Value* c_at(llvm::Value* i, llvm::Value* j) {
    return element(fn_->getArg(0), index2(i, p_.n, j));
  }
  llvm::Value* load(llvm::Value* ptr) { return b_.CreateLoad(b_.getFloatTy(), ptr); }
  // x * y + acc of floats or float vectors.
  llvm::Value* fmuladd(llvm::Value* x, llvm::Value* y, llvm::Value* acc, bool reassociate) {
    llvm::Function* f =
        llvm::Intrinsic::getDeclaration(&module_, llvm::Intrinsic::fmuladd, {x->getType()});
    auto* call = b_.CreateCall(f, {x, y, acc});
    if (reassociate) {
      llvm::FastMathFlags flags;
      flags.setAllowReassoc();
      flags.setAllowContract();
      call->setFastMathFlags(flags);
    }
    return call;
  }

  // A first epilogue op `add(product, broadcast(row))` (either order) with `row` a region
  // argument of shape [N] or [1, N] is folded into the product: C starts as the bias rows
  // instead of zeros (as a BLAS call with beta = 1 would), and the rest of the epilogue, free of
  // the row broadcast, runs as one flat loop. Only the rounding differs: the bias is added
  // first rather than last.
  void find_leading_bias() {
    const ir::Op* add = nullptr;
    for (const ir::Op* op : p_.epilogue) {
      if (op->kind() == ir::OpKind::kConst) continue;
      if (op->kind() == ir::OpKind::kBroadcast) continue;
      add = op;
      break;
    }
    if (!add || add->kind() != ir::OpKind::kAdd || add->num_operands() != 2) return;
    const ir::Value* product = p_.matmul->result();
    const ir::Value* other = add->operand(0) == product ? add->operand(1) : add->operand(0);
    if (other == product || (add->operand(0) != product && add->operand(1) != product)) return;
    const ir::Op* bc = other->defining_op();
    if (!bc || bc->kind() != ir::OpKind::kBroadcast) return;
    const ir::Value* row = bc->operand(0);
    const Shape& s = row->type().shape;
    const bool is_row =
        (s.rank() == 1 && s[0] == p_.n) || (s.rank() == 2 && s[0] == 1 && s[1] == p_.n);
    if (!is_row) return;
    for (size_t i = 0; i < p_.extra_inputs.size(); ++i) {
      if (p_.extra_inputs[i] == row) bias_arg_ = static_cast<int>(3 + i);
    }
    if (bias_arg_ < 0) return;
    bias_add_ = add;
  }

  // C = 0, or every row of C = the folded bias.
  void emit_initial_c() {
    if (bias_add_ == nullptr) {
      b_.CreateMemSet(fn_->getArg(0), b_.getInt8(0), p_.m * p_.n * 4, llvm::MaybeAlign(4));
      return;
    }
    llvm::Value* bias = fn_->getArg(bias_arg_);
    emit_loop(b_, p_.m, "bias.i", true, [&](llvm::Value* i) {
      b_.CreateMemCpy(c_at(i, b_.getInt64(0)), llvm::MaybeAlign(4), bias, llvm::MaybeAlign(4),
                      p_.n * 4);
    });
  }

  void emit_native_product() {
    const bool rows_contiguous = !p_.tb || p_.k == 1;
    const bool columns_contiguous = p_.ta || p_.k == 1;
    // Vector dots need a few vectors of k; a short dot with N = 1 stays i-k-j (a short chain
    // per row, kept rolled): as a reassociable scalar dot LLVM would vectorize across rows with
    // gathers, doubling the compile time of a small training step for no gain.
    const bool vector_dots = !p_.ta && (p_.tb || p_.n == 1) && p_.k >= 2 * kDotWidth;
    if (rows_contiguous && (p_.n > 1 || (!columns_contiguous && !vector_dots))) {
      // i-k-j
      emit_loop(b_, p_.m, "mm.i", true, [&](llvm::Value* i) {
        emit_loop(b_, p_.k, "mm.k", true, [&](llvm::Value* kk) {
          llvm::Value* av = load(a_at(i, kk));
          emit_loop(b_, p_.n, "mm.j", false, [&](llvm::Value* j) {
            llvm::Value* c = c_at(i, j);
            b_.CreateStore(fmuladd(av, load(b_at(kk, j)), load(c), false), c);
          });
        });
      });
    } else if (p_.n == 1 && columns_contiguous) {
      // k-i: C[:, 0] += A(:, kk) * B(kk, 0)
      emit_loop(b_, p_.k, "mm.k", true, [&](llvm::Value* kk) {
        llvm::Value* bv = load(b_at(kk, b_.getInt64(0)));
        emit_loop(b_, p_.m, "mm.i", false, [&](llvm::Value* i) {
          llvm::Value* c = c_at(i, b_.getInt64(0));
          b_.CreateStore(fmuladd(load(a_at(i, kk)), bv, load(c), false), c);
        });
      });
    } else if (vector_dots) {
      emit_vector_dots();
    } else {
      // i-j-k: dot products, accumulated in a register from C's initial value.
      emit_loop(b_, p_.m, "mm.i", true, [&](llvm::Value* i) {
        emit_loop(b_, p_.n, "mm.j", true, [&](llvm::Value* j) {
          llvm::Value* initial = load(c_at(i, j));
          llvm::BasicBlock* pre = b_.GetInsertBlock();
          llvm::PHINode* acc = nullptr;
          llvm::Value* sum = nullptr;
          emit_loop(b_, p_.k, "mm.k", false, [&](llvm::Value* kk) {
            acc = b_.CreatePHI(b_.getFloatTy(), 2, "acc");
            acc->addIncoming(initial, pre);
            sum = fmuladd(load(a_at(i, kk)), load(b_at(kk, j)), acc, true);
            acc->addIncoming(sum, b_.GetInsertBlock());
          });
          b_.CreateStore(sum, c_at(i, j));
        });
      });
    }
  }

  // C[i, j] = C[i, j] + dot(A(i, :), B(:, j)) with both contiguous in k: k is cut into vectors
  // of kDotWidth lanes accumulated in up to kDotAccumulators independent registers (so the FMA
  // latency is not a chain through every k), which are then summed pairwise, reduced across
  // lanes, and the k % kDotWidth remaining products added one by one. The order of operations
  // depends only on k.
  void emit_vector_dots() {
    llvm::Type* f32 = b_.getFloatTy();
    auto* vec = llvm::FixedVectorType::get(f32, kDotWidth);
    const int64_t vectors = p_.k / kDotWidth;
    const int64_t accs = std::min<int64_t>(kDotAccumulators, vectors);
    const int64_t rounds = vectors / accs;
    llvm::FastMathFlags reassoc;
    reassoc.setAllowReassoc();
    auto load_vec = [&](llvm::Value* ptr) {
      return b_.CreateAlignedLoad(vec, ptr, llvm::Align(4));
    };
    emit_loop(b_, p_.m, "dot.i", true, [&](llvm::Value* i) {
      emit_loop(b_, p_.n, "dot.j", true, [&](llvm::Value* j) {
        llvm::Value* a_row = a_at(i, b_.getInt64(0));
        llvm::Value* b_col = b_at(b_.getInt64(0), j);
        auto a_vec = [&](llvm::Value* kk) { return load_vec(element(a_row, kk)); };
        auto b_vec = [&](llvm::Value* kk) { return load_vec(element(b_col, kk)); };
        // Rounds of `accs` vectors each, in a loop carrying the accumulators.
        std::vector<llvm::Value*> acc(accs, llvm::Constant::getNullValue(vec));
        llvm::BasicBlock* pre = b_.GetInsertBlock();
        std::vector<llvm::PHINode*> phis;
        std::vector<llvm::Value*> next(accs);
        emit_loop(b_, rounds, "dot.r", true, [&](llvm::Value* r) {
          for (int64_t u = 0; u < accs; ++u) {
            llvm::PHINode* phi = b_.CreatePHI(vec, 2, "dot.acc");
            phi->addIncoming(acc[u], pre);
            phis.push_back(phi);
          }
          llvm::Value* base = b_.CreateMul(r, b_.getInt64(accs * kDotWidth), "", true, true);
          for (int64_t u = 0; u < accs; ++u) {
            llvm::Value* kk = b_.CreateAdd(base, b_.getInt64(u * kDotWidth), "", true, true);
            next[u] = fmuladd(a_vec(kk), b_vec(kk), phis[u], false);
          }
          for (int64_t u = 0; u < accs; ++u) phis[u]->addIncoming(next[u], b_.GetInsertBlock());
        });
        acc = next;
        // Vectors left after the rounds go to the first accumulators.
        for (int64_t v = rounds * accs; v < vectors; ++v) {
          const int64_t u = v - rounds * accs;
          acc[u] = fmuladd(a_vec(b_.getInt64(v * kDotWidth)), b_vec(b_.getInt64(v * kDotWidth)),
                           acc[u], false);
        }
        for (int64_t live = accs; live > 1;) {
          const int64_t half = (live + 1) / 2;
          for (int64_t u = 0; u < live / 2; ++u) acc[u] = b_.CreateFAdd(acc[u], acc[u + half]);
          live = half;
        }
        llvm::Value* sum = b_.CreateFAddReduce(llvm::ConstantFP::getNegativeZero(f32), acc[0]);
        llvm::cast<llvm::Instruction>(sum)->setFastMathFlags(reassoc);
        sum = b_.CreateFAdd(load(c_at(i, j)), sum);
        for (int64_t kk = vectors * kDotWidth; kk < p_.k; ++kk) {
          sum = fmuladd(load(element(a_row, b_.getInt64(kk))),
                        load(element(b_col, b_.getInt64(kk))), sum, false);
        }
        b_.CreateStore(sum, c_at(i, j));
      });
    });
  }

  // The epilogue group over `shape`: input #0 is the product (`product`), then the extra
  // inputs; `ops`/`output` as given.
  absl::StatusOr<llvm::Function*> emit_epilogue_function(const ir::Value* product,
                                                         const std::vector<const ir::Value*>& extra,
                                                         const std::vector<const ir::Op*>& ops,
                                                         const ir::Value* output, Shape shape,
                                                         const std::string& name) {
    ElementwiseGroup group;
    group.inputs.push_back(product);
    for (const ir::Value* v : extra) group.inputs.push_back(v);
    group.ops = ops;
    group.outputs.push_back(output);
    group.shape = std::move(shape);
    KILN_ASSIGN_OR_RETURN(ElementwiseFunction f, emit_elementwise_function(module_, group, name));
    if (f.checks_division) {
      return absl::InternalError("a float32 matmul epilogue checks integer division");
    }
    allow_in_place(f.function);
    return f.function;
  }

  absl::Status emit_whole_epilogue() {
    const ir::Value* product = p_.matmul->result();
    std::vector<const ir::Op*> ops = p_.epilogue;
    if (bias_add_ != nullptr) {
      // C holds the add's result; the broadcast and the add leave the loop (a broadcast read
      // by other ops stays, computed from its argument).
      product = bias_add_->result();
      const ir::Value* broadcast = bias_add_->operand(0) == p_.matmul->result()
                                       ? bias_add_->operand(1)
                                       : bias_add_->operand(0);
      bool broadcast_used = false;
      for (const ir::Op* op : ops) {
        if (op == bias_add_) continue;
        for (const ir::Value* v : op->operands()) broadcast_used |= v == broadcast;
      }
      std::vector<const ir::Op*> rest;
      for (const ir::Op* op : ops) {
        if (op == bias_add_ || (!broadcast_used && op->result() == broadcast)) continue;
        rest.push_back(op);
      }
      ops = std::move(rest);
      if (product == p_.output) return absl::OkStatus();  // the bias was the whole epilogue
    }
    // Only the operands the loop reads: an unused row (the folded bias) would keep the loop
    // from being flattened.
    std::vector<const ir::Value*> extra;
    std::vector<llvm::Value*> args = {fn_->getArg(0), fn_->getArg(0)};
    for (size_t i = 0; i < p_.extra_inputs.size(); ++i) {
      const ir::Value* v = p_.extra_inputs[i];
      bool used = v == p_.output;
      for (const ir::Op* op : ops) {
        for (const ir::Value* u : op->operands()) used |= u == v;
      }
      if (!used) continue;
      extra.push_back(v);
      args.push_back(fn_->getArg(static_cast<unsigned>(3 + i)));
    }
    KILN_ASSIGN_OR_RETURN(llvm::Function * epi,
                          emit_epilogue_function(product, extra, ops, p_.output, Shape{p_.m, p_.n},
                                                 cat(name_, ".epilogue")));
    b_.CreateCall(epi, args);
    return absl::OkStatus();
  }

  // The epilogue over one row: the region's ops cloned with [M, N] types as [1, N].
  absl::StatusOr<llvm::Function*> emit_row_epilogue() {
    const Shape full{p_.m, p_.n}, row{1, p_.n};
    ir::Function scratch(cat(name_, ".row"));
    ir::Block& body = scratch.body();
    ir::Builder builder(&body);
    absl::flat_hash_map<const ir::Value*, ir::Value*> mapped;
    auto row_type = [&](const ir::Type& t) { return t.shape == full ? ir::Type{t.dtype, row} : t; };
    ir::Value* product = body.add_argument(ir::Type{DType::kFloat32, row});
    mapped[p_.matmul->result()] = product;
    std::vector<const ir::Value*> extra;
    for (const ir::Value* v : p_.extra_inputs) {
      ir::Value* arg = body.add_argument(v->type());
      mapped[v] = arg;
      extra.push_back(arg);
    }
    std::vector<const ir::Op*> ops;
    for (const ir::Op* op : p_.epilogue) {
      ir::Op* clone = nullptr;
      if (op->kind() == ir::OpKind::kConst) {
        clone = builder.constant(*op->literal(), op->loc())->defining_op();
      } else {
        std::vector<ir::Value*> operands;
        for (const ir::Value* v : op->operands()) {
          auto it = mapped.find(v);
          if (it == mapped.end()) return absl::InvalidArgumentError("malformed matmul epilogue");
          operands.push_back(it->second);
        }
        ir::Attrs attrs = op->attrs();
        if (op->kind() == ir::OpKind::kBroadcast) attrs["shape"] = row.dims();
        clone = builder.create_op(op->kind(), std::move(operands), {row_type(op->result()->type())},
                                  std::move(attrs), op->loc());
      }
      mapped[op->result()] = clone->result();
      ops.push_back(clone);
    }
    return emit_epilogue_function(product, extra, ops, mapped.at(p_.output), row,
                                  cat(name_, ".row_epilogue"));
  }

  // void panel(ptr c, i64 r0, i64 r1, ptr operands): the row epilogue on rows [r0, r1).
  absl::StatusOr<llvm::Function*> emit_panel_function() {
    KILN_ASSIGN_OR_RETURN(llvm::Function * row_fn, emit_row_epilogue());
    llvm::Type* ptr = b_.getPtrTy();
    auto* type = llvm::FunctionType::get(b_.getVoidTy(),
                                         {ptr, b_.getInt64Ty(), b_.getInt64Ty(), ptr}, false);
    auto* panel = llvm::Function::Create(type, llvm::GlobalValue::InternalLinkage,
                                         cat(name_, ".panel"), module_);
    panel->addFnAttr(llvm::Attribute::NoUnwind);
    llvm::IRBuilder<> pb(llvm::BasicBlock::Create(ctx_, "entry", panel));
    std::vector<llvm::Value*> extra;
    for (size_t i = 0; i < p_.extra_inputs.size(); ++i) {
      extra.push_back(pb.CreateLoad(ptr, pb.CreateConstInBoundsGEP1_64(ptr, panel->getArg(3), i)));
    }
    auto* loop = llvm::BasicBlock::Create(ctx_, "row", panel);
    auto* done = llvm::BasicBlock::Create(ctx_, "done", panel);
    llvm::BasicBlock* pre = pb.GetInsertBlock();
    pb.CreateCondBr(pb.CreateICmpSLT(panel->getArg(1), panel->getArg(2)), loop, done);
    pb.SetInsertPoint(loop);
    llvm::PHINode* r = pb.CreatePHI(b_.getInt64Ty(), 2, "r");
    r->addIncoming(panel->getArg(1), pre);
    llvm::Value* row_ptr = pb.CreateInBoundsGEP(pb.getFloatTy(), panel->getArg(0),
                                                pb.CreateMul(r, pb.getInt64(p_.n), "", true, true));
    std::vector<llvm::Value*> args = {row_ptr, row_ptr};
    args.insert(args.end(), extra.begin(), extra.end());
    pb.CreateCall(row_fn, args);
    llvm::Value* next = pb.CreateAdd(r, pb.getInt64(1), "", true, true);
    r->addIncoming(next, loop);
    pb.CreateCondBr(pb.CreateICmpSLT(next, panel->getArg(2)), loop, done);
    pb.SetInsertPoint(done);
    pb.CreateRetVoid();
    return panel;
  }

  absl::Status emit_sgemm_call() {
    llvm::Type* ptr = b_.getPtrTy();
    llvm::Value* panel = llvm::ConstantPointerNull::get(b_.getPtrTy());
    llvm::Value* operands = llvm::ConstantPointerNull::get(b_.getPtrTy());
    if (!p_.epilogue.empty()) {
      KILN_ASSIGN_OR_RETURN(llvm::Function * panel_fn, emit_panel_function());
      panel = panel_fn;
      if (!p_.extra_inputs.empty()) {
        operands = b_.CreateAlloca(llvm::ArrayType::get(ptr, p_.extra_inputs.size()), nullptr,
                                   "epilogue.operands");
        for (size_t i = 0; i < p_.extra_inputs.size(); ++i) {
          b_.CreateStore(fn_->getArg(3 + i), b_.CreateConstInBoundsGEP1_64(ptr, operands, i));
        }
      }
    }
    llvm::Type* i64 = b_.getInt64Ty();
    auto* type = llvm::FunctionType::get(
        b_.getVoidTy(), {ptr, ptr, ptr, i64, i64, i64, b_.getInt32Ty(), i64, ptr, ptr}, false);
    llvm::FunctionCallee callee = module_.getOrInsertFunction("kiln_rt_sgemm_epilogue", type);
    if (auto* decl = llvm::dyn_cast<llvm::Function>(callee.getCallee())) {
      decl->addFnAttr(llvm::Attribute::NoUnwind);
    }
    const int32_t flags = (p_.ta ? kiln_rt_kTransposeA : 0) | (p_.tb ? kiln_rt_kTransposeB : 0);
    const int64_t panel_rows = std::max<int64_t>(1, kPanelBytes / (p_.n * 4));
    b_.CreateCall(callee, {fn_->getArg(1), fn_->getArg(2), fn_->getArg(0), b_.getInt64(p_.m),
                           b_.getInt64(p_.k), b_.getInt64(p_.n), b_.getInt32(flags),
                           b_.getInt64(panel_rows), panel, operands});
    return absl::OkStatus();
  }

  llvm::Module& module_;
  llvm::LLVMContext& ctx_;
  llvm::IRBuilder<> b_;
  const Product& p_;
  std::string name_;
  llvm::Function* fn_ = nullptr;
  // The folded bias add (find_leading_bias) and the argument number of its row.
  const ir::Op* bias_add_ = nullptr;
  int bias_arg_ = -1;
};

}  // namespace

bool lowers_as_matmul(const ir::Op& op) {
  if (op.kind() == ir::OpKind::kFusion) {
    return ir::attr_or<std::string>(op.attrs(), "kind", "loop") == "matmul";
  }
  if (op.kind() != ir::OpKind::kMatmul) return false;
  absl::StatusOr<Product> p = analyze(op);
  return p.ok() && native(*p);
}

absl::StatusOr<llvm::Function*> emit_matmul_function(llvm::Module& module, const ir::Op& op,
                                                     const std::string& name) {
  KILN_ASSIGN_OR_RETURN(Product p, analyze(op));
  ProductEmitter emitter(module, p, name);
  return emitter.emit();
}

}  // namespace kiln::compiler
