// kiln — simplify: algebraic identities as named rewrite rules (rewrite.h), applied to a fixed
// point. Every rule is exact: the result is bit-for-bit what the original computes, for every
// input including NaN, ±Inf and -0 (docs/passes.md gives the reason for each rule).
//
//   %1 = const -0.0 : f32[]
//   %2 = add %x, %1 : f32[4]        ==>   (uses of %2 use %x)
//   %3 = pow %x, %c2 : f32[4]       ==>   %3 = square %x : f32[4]
//
// Ops a rule leaves without users stay for dce. Lit test: tests/lit/passes/simplify.kir.
#include <cmath>
#include <cstring>
#include <numeric>

#include "ir/array_ops.h"
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace kiln::passes {
namespace {

using ir::OpKind;

bool same_type(const ir::Value* v, const ir::Op& op) { return v->type() == op.result()->type(); }

bool is_float_op(const ir::Op& op) { return is_floating(op.result()->type().dtype); }

// The value of the rank-0 or full-shaped constant operand `i`, if every element equals `want`
// (for floats also in the sign of zero).
bool operand_is(const ir::Op& op, int i, double want) {
  return constant_all(op.operand(i), [want](double v) {
    return v == want && std::signbit(v) == std::signbit(want);
  });
}

// x (op) c or c (op) x with c all `want` and x of the result type: returns x, else nullptr.
ir::Value* other_operand(const ir::Op& op, int const_index, double want) {
  ir::Value* x = op.operand(1 - const_index);
  if (!operand_is(op, const_index, want) || !same_type(x, op)) return nullptr;
  return x;
}

// Every value of `from` is exactly representable in `to`, and converting it from `to` gives
// what converting it from `from` gives (the kernel converts by value).
bool widens_exactly(DType from, DType to) {
  if (from == to) return true;
  switch (from) {
    case DType::kBool:
      return true;  // 0 and 1
    case DType::kFloat16:
    case DType::kBFloat16:
      return to == DType::kFloat32 || to == DType::kFloat64;
    case DType::kFloat32:
      return to == DType::kFloat64;
    case DType::kInt32:
      return to == DType::kInt64 || to == DType::kFloat64;
    default:
      return false;
  }
}

std::vector<Rule> arithmetic_rules() {
  std::vector<Rule> rules;
  // x * 1 and 1 * x: multiplying by one is exact for every value (NaN, ±Inf, -0 included).
  rules.push_back({"mul-by-one", {OpKind::kMul}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = other_operand(op, 1, 1.0);
                     if (!x) x = other_operand(op, 0, 1.0);
                     if (!x) return false;
                     rw.replace(x);
                     return true;
                   }});
  // x + 0 for integers; for floats only x + (-0.0) (x + 0.0 turns -0 into +0).
  rules.push_back({"add-zero", {OpKind::kAdd}, [](ir::Op& op, Rewriter& rw) {
                     const double zero = is_float_op(op) ? -0.0 : 0.0;
                     ir::Value* x = other_operand(op, 1, zero);
                     if (!x) x = other_operand(op, 0, zero);
                     if (!x) return false;
                     rw.replace(x);
                     return true;
                   }});
  // x - 0 (+0.0 for floats: x - 0.0 = x + (-0.0); x - (-0.0) is not the identity).
  rules.push_back({"sub-zero", {OpKind::kSub}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = other_operand(op, 1, 0.0);
                     if (!x) return false;
                     rw.replace(x);
                     return true;
                   }});
  // x / c -> x * (1/c) when every element of c is a power of two whose reciprocal is exactly
  // representable: both are the correctly rounded value of the same real number.
  rules.push_back(
      {"div-by-power-of-two", {OpKind::kDiv}, [](ir::Op& op, Rewriter& rw) {
         if (!is_float_op(op)) return false;
         const ir::Literal* c = constant_value(op.operand(1));
         if (!c) return false;
         ir::Literal inv(c->type());
         for (int64_t i = 0; i < c->num_elements(); ++i) {
           const double v = c->get(i);
           int exp = 0;
           if (!std::isfinite(v) || v == 0 || std::abs(std::frexp(v, &exp)) != 0.5) {
             return false;
           }
           inv.set(i, 1.0 / v);
           if (inv.get(i) * v != 1.0) return false;  // 1/c under- or overflows
         }
         rw.replace(rw.create(OpKind::kMul, {op.operand(0), rw.constant(std::move(inv))}));
         return true;
       }});
  // -(-x): negation flips the sign, twice is the identity (wrapping integers too).
  rules.push_back({"neg-neg", {OpKind::kNeg}, [](ir::Op& op, Rewriter& rw) {
                     ir::Op* inner = defined_by(op.operand(0), OpKind::kNeg);
                     if (!inner) return false;
                     rw.replace(inner->operand(0));
                     return true;
                   }});
  // pow(x, 1) = x for every x (C's pow: pow(NaN, 1) = NaN, pow(-0, 1) = -0).
  rules.push_back({"pow-one", {OpKind::kPow}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = other_operand(op, 1, 1.0);
                     if (!x) return false;
                     rw.replace(x);
                     return true;
                   }});
  // pow(x, 2) = square(x): both the correctly rounded x*x; pow(±0, 2) = +0, pow(±Inf, 2) = +Inf.
  rules.push_back({"pow-two", {OpKind::kPow}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = other_operand(op, 1, 2.0);
                     if (!x) return false;
                     rw.replace(rw.create(OpKind::kSquare, {x}));
                     return true;
                   }});
  // pow(x, -1) = 1 / x: pow(±0, -1) = ±Inf, pow(±Inf, -1) = ±0, like the division.
  rules.push_back({"pow-minus-one", {OpKind::kPow}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = other_operand(op, 1, -1.0);
                     if (!x) return false;
                     ir::Value* one = rw.constant(ir::Literal::scalar(x->type().dtype, 1.0));
                     rw.replace(rw.create(OpKind::kDiv, {one, x}));
                     return true;
                   }});
  return rules;
}

std::vector<Rule> shape_rules(int64_t splat_limit) {
  std::vector<Rule> rules;
  // A transpose whose permutation is the identity.
  rules.push_back({"transpose-identity", {OpKind::kTranspose}, [](ir::Op& op, Rewriter& rw) {
                     ir::Value* x = op.operand(0);
                     auto perm = ir::transpose_perm(op.attrs(), x->type().shape.rank());
                     if (!perm.ok()) return false;
                     for (size_t i = 0; i < perm->size(); ++i) {
                       if ((*perm)[i] != static_cast<int64_t>(i)) return false;
                     }
                     rw.replace(x);
                     return true;
                   }});
  // transpose(transpose(x, p), q) = transpose(x, r) with r[i] = p[q[i]].
  rules.push_back({"transpose-transpose", {OpKind::kTranspose}, [](ir::Op& op, Rewriter& rw) {
                     ir::Op* inner = defined_by(op.operand(0), OpKind::kTranspose);
                     if (!inner) return false;
                     const int rank = op.operand(0)->type().shape.rank();
                     auto p = ir::transpose_perm(inner->attrs(), rank);
                     auto q = ir::transpose_perm(op.attrs(), rank);
                     if (!p.ok() || !q.ok()) return false;
                     std::vector<int64_t> r(rank);
                     for (int i = 0; i < rank; ++i) r[i] = (*p)[(*q)[i]];
                     rw.set_operand(0, inner->operand(0));
                     op.attrs()["perm"] = r;
                     return true;
                   }});
  // A reshape of a reshape, expand_dims or squeeze: only the element order matters, which none
  // of them changes, so the outer reshape can read the original.
  rules.push_back({"reshape-chain", {OpKind::kReshape}, [](ir::Op& op, Rewriter& rw) {
                     ir::Op* inner = op.operand(0)->defining_op();
                     if (!inner || (inner->kind() != OpKind::kReshape &&
                                    inner->kind() != OpKind::kExpandDims &&
                                    inner->kind() != OpKind::kSqueeze)) {
                       return false;
                     }
                     rw.set_operand(0, inner->operand(0));
                     return true;
                   }});
  // A reshape to the shape its operand already has.
  rules.push_back({"reshape-same-shape", {OpKind::kReshape}, [](ir::Op& op, Rewriter& rw) {
                     if (!same_type(op.operand(0), op)) return false;
                     rw.replace(op.operand(0));
                     return true;
                   }});
  // A broadcast to the shape its operand already has.
  rules.push_back({"broadcast-same-shape", {OpKind::kBroadcast}, [](ir::Op& op, Rewriter& rw) {
                     if (!same_type(op.operand(0), op)) return false;
                     rw.replace(op.operand(0));
                     return true;
                   }});
  // A broadcast of a scalar constant to a small shape becomes a constant (larger ones stay
  // broadcasts: fuse computes them in the loop without materializing them).
  rules.push_back(
      {"broadcast-scalar-const", {OpKind::kBroadcast}, [splat_limit](ir::Op& op, Rewriter& rw) {
         const ir::Literal* c = constant_value(op.operand(0));
         const ir::Type& t = op.result()->type();
         if (!c || c->type().shape.rank() != 0 || !t.shape.is_fully_defined() ||
             t.shape.num_elements() > splat_limit) {
           return false;
         }
         ir::Literal splat(t);
         for (int64_t i = 0; i < splat.num_elements(); ++i) {
           std::memcpy(static_cast<char*>(splat.data()) + i * c->size_bytes(), c->data(),
                       c->size_bytes());
         }
         rw.replace(rw.constant(std::move(splat)));
         return true;
       }});
  // An elementwise operand that is a broadcast of a rank-0 value reads the value itself (the
  // one implicit broadcast of the IR), as long as another operand keeps the result's shape.
  rules.push_back({"elementwise-scalar-broadcast", {}, [](ir::Op& op, Rewriter& rw) {
                     switch (ir::op_info(op.kind()).cls) {
                       case ir::OpClass::kBinary:
                       case ir::OpClass::kCompare:
                       case ir::OpClass::kEquality:
                       case ir::OpClass::kLogical:
                       case ir::OpClass::kSelect:
                         break;
                       default:
                         return false;
                     }
                     const Shape& shape = op.result()->type().shape;
                     for (int i = 0; i < op.num_operands(); ++i) {
                       ir::Op* b = defined_by(op.operand(i), OpKind::kBroadcast);
                       if (!b || b->operand(0)->type().shape.rank() != 0) continue;
                       for (int j = 0; j < op.num_operands(); ++j) {
                         if (j != i && op.operand(j)->type().shape == shape) {
                           rw.set_operand(i, b->operand(0));
                           return true;
                         }
                       }
                     }
                     return false;
                   }});
  return rules;
}

std::vector<Rule> cast_select_rules() {
  std::vector<Rule> rules;
  // A cast to the dtype its operand already has.
  rules.push_back({"cast-same-dtype", {OpKind::kCast}, [](ir::Op& op, Rewriter& rw) {
                     if (!same_type(op.operand(0), op)) return false;
                     rw.replace(op.operand(0));
                     return true;
                   }});
  // cast(cast(x, T1), T2) = cast(x, T2) when the inner cast keeps every value of x exactly
  // (f32 -> f64, i32 -> i64, bool -> anything ...): the outer cast then converts x's own value.
  // With T2 = x's dtype, cast-same-dtype removes the rest. (i32 -> f32 -> i32 is not exact.)
  rules.push_back({"cast-widening-chain", {OpKind::kCast}, [](ir::Op& op, Rewriter& rw) {
                     ir::Op* inner = defined_by(op.operand(0), OpKind::kCast);
                     if (!inner) return false;
                     ir::Value* x = inner->operand(0);
                     if (!widens_exactly(x->type().dtype, inner->result()->type().dtype)) {
                       return false;
                     }
                     rw.set_operand(0, x);
                     return true;
                   }});
  // select(c, a, b) with c constant and all true (all false) is a (b).
  rules.push_back({"select-constant-predicate", {OpKind::kSelect}, [](ir::Op& op, Rewriter& rw) {
                     const ir::Literal* c = constant_value(op.operand(0));
                     if (!c || c->num_elements() == 0) return false;
                     for (int branch : {1, 2}) {
                       const double want = branch == 1 ? 1.0 : 0.0;
                       if (constant_all(op.operand(0), [want](double v) { return v == want; }) &&
                           same_type(op.operand(branch), op)) {
                         rw.replace(op.operand(branch));
                         return true;
                       }
                     }
                     return false;
                   }});
  // select(c, a, a) is a.
  rules.push_back({"select-same-branches", {OpKind::kSelect}, [](ir::Op& op, Rewriter& rw) {
                     if (op.operand(1) != op.operand(2) || !same_type(op.operand(1), op)) {
                       return false;
                     }
                     rw.replace(op.operand(1));
                     return true;
                   }});
  return rules;
}

class SimplifyPass : public FunctionPass {
 public:
  SimplifyPass() : driver_(simplify_rules()) {}
  std::string_view name() const override { return "simplify"; }
  absl::StatusOr<bool> run_on_function(ir::Function& fn) override { return driver_.run(fn.body()); }
  std::vector<std::pair<std::string, int64_t>> statistics() const override {
    return driver_.statistics();
  }

 private:
  RewriteDriver driver_;
};

}  // namespace

std::vector<Rule> simplify_rules() {
  std::vector<Rule> rules = arithmetic_rules();
  for (Rule& r : shape_rules(kSimplifySplatLimit)) rules.push_back(std::move(r));
  for (Rule& r : cast_select_rules()) rules.push_back(std::move(r));
  return rules;
}

std::unique_ptr<Pass> create_simplify_pass() { return std::make_unique<SimplifyPass>(); }

}  // namespace kiln::passes
