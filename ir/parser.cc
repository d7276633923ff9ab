// kiln — the IR text parser: recursive descent over ir/lexer.h tokens (docs/ir-format.md).
#include "ir/parser.h"

#include <unordered_map>

#include "ir/builder.h"
#include "ir/token_parser.h"
#include "ir/verifier.h"
#include "support/status.h"
#include "support/str.h"

namespace kiln::ir {
namespace {

using text::Tok;
using text::Token;

std::string_view message_of(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

std::string type_list(const std::vector<Type>& types) {
  std::string out = "(";
  for (size_t i = 0; i < types.size(); ++i) out += cat(i ? ", " : "", types[i]);
  return out + ")";
}

// What precedes an op's mnemonic: `%name = ` or `%name:N = `, or nothing.
struct ResultNames {
  Token tok;      // the %name token (kind kEof if there are none)
  int count = 0;  // how many results the names cover
};

class Parser : public text::TokenParser {
 public:
  using TokenParser::TokenParser;

  absl::StatusOr<std::unique_ptr<Module>> parse_module() {
    auto module = std::make_unique<Module>();
    while (!at(Tok::kEof)) KILN_RETURN_IF_ERROR(parse_function(*module));
    return module;
  }

 private:
  // The block being parsed and what its terminator must produce.
  struct BlockContext {
    Block* block;
    const Op*
        fusion;  // the op owning this region (fusion, cond, while, custom_grad); null in a body
    // Declared results of the function or fusion; null for cond/while regions, whose yields the
    // verifier checks, and for a custom_grad region, whose yield parse_custom_grad checks.
    const std::vector<Type>* result_types;
  };

  static std::string region_name(const Op& op) { return cat(op.mnemonic(), " region"); }

  // ---- scopes: a function body is one scope, each fusion region another ----

  using Binding = std::vector<Value*>;  // a block argument, or all results of one op

  absl::Status check_new_name(const Token& t) const {
    if (scopes_.back().count(t.value)) {
      return error(t, cat("redefinition of value '%", t.value, "'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<Value*> parse_value_use() {
    if (!at(Tok::kValue)) return unexpected("a value ('%name')");
    const Token t = tok_;
    advance();
    auto it = scopes_.back().find(t.value);
    if (it == scopes_.back().end()) {
      for (size_t i = 0; i + 1 < scopes_.size(); ++i) {
        if (scopes_[i].count(t.value)) {
          return error(t, cat("'%", t.value, "' is defined outside the ",
                              region_stack_.empty() ? std::string("fusion region")
                                                    : region_name(*region_stack_.back()),
                              "; regions are isolated from above"));
        }
      }
      return error(t, cat("use of undefined value '%", t.value, "'"));
    }
    const Binding& b = it->second;
    if (t.result_index < 0) {
      if (b.size() != 1) {
        return error(t, cat("'%", t.value, "' has ", b.size(), " results; name one as '%", t.value,
                            "#0' ... '%", t.value, "#", b.size() - 1, "'"));
      }
      return b[0];
    }
    if (t.result_index >= static_cast<int>(b.size())) {
      return error(
          t, cat("'", t.text, "' does not exist: '%", t.value, "' has ", b.size(), " result(s)"));
    }
    return b[t.result_index];
  }

  absl::StatusOr<std::vector<Value*>> parse_operands() {
    std::vector<Value*> operands;
    if (!at(Tok::kValue)) return operands;
    do {
      KILN_ASSIGN_OR_RETURN(Value * v, parse_value_use());
      operands.push_back(v);
    } while (consume_if(Tok::kComma));
    return operands;
  }

  // ---- functions, blocks and ops ----

  absl::Status parse_function(Module& module) {
    if (!at_keyword("func")) return unexpected("'func'");
    advance();
    if (!at(Tok::kFuncName)) return unexpected("a function name ('@name')");
    const Token name = tok_;
    advance();
    if (module.lookup(name.value)) {
      return error(name, cat("redefinition of function '@", name.value, "'"));
    }
    Function& fn = module.add_function(name.value);
    scopes_.assign(1, {});
    KILN_RETURN_IF_ERROR(expect(Tok::kLParen, "after the function name"));
    KILN_RETURN_IF_ERROR(parse_arguments(fn.body(), nullptr));
    KILN_RETURN_IF_ERROR(expect(Tok::kArrow, "before the function's result types"));
    KILN_ASSIGN_OR_RETURN(std::vector<Type> results, parse_type_list(true, nullptr));
    KILN_RETURN_IF_ERROR(expect(Tok::kLBrace, "to open the function body"));
    return parse_block({&fn.body(), nullptr, &results});
  }

  // `%a: t, %b: t)` — the list after '(' through ')'; `toks` receives each name's token.
  absl::Status parse_arguments(Block& block, std::vector<Token>* toks) {
    if (consume_if(Tok::kRParen)) return absl::OkStatus();
    do {
      if (!at(Tok::kValue) || tok_.result_index >= 0) {
        return unexpected("an argument ('%name: type')");
      }
      const Token name = tok_;
      KILN_RETURN_IF_ERROR(check_new_name(name));
      advance();
      KILN_RETURN_IF_ERROR(expect(Tok::kColon, "after the argument name"));
      KILN_ASSIGN_OR_RETURN(Type type, parse_type());
      scopes_.back()[name.value] = {block.add_argument(std::move(type), name.value)};
      if (toks) toks->push_back(name);
    } while (consume_if(Tok::kComma));
    return expect(Tok::kRParen, "at the end of the arguments");
  }

  // The ops of a block through its closing '}'.
  absl::Status parse_block(const BlockContext& ctx) {
    while (!ctx.block->terminator()) {
      if (at(Tok::kRBrace)) {
        return error(tok_, ctx.fusion
                               ? cat("missing 'yield' at the end of the ", region_name(*ctx.fusion))
                               : std::string("missing 'return' at the end of the function body"));
      }
      KILN_RETURN_IF_ERROR(parse_op(ctx));
    }
    return expect(Tok::kRBrace, "after the terminator (it must be the block's last op)");
  }

  absl::Status parse_op(const BlockContext& ctx) {
    ResultNames results;
    if (at(Tok::kValue)) {
      results.tok = tok_;
      results.count = 1;
      if (tok_.result_index >= 0) return error(tok_, "a result name cannot have a '#' index");
      KILN_RETURN_IF_ERROR(check_new_name(tok_));
      advance();
      if (consume_if(Tok::kColon)) {
        if (!at(Tok::kInteger)) return unexpected("the number of results");
        KILN_ASSIGN_OR_RETURN(int64_t n, integer(tok_));
        if (n < 1 || n > 1'000'000) return error(tok_, cat("invalid number of results ", n));
        results.count = static_cast<int>(n);
        advance();
      }
      KILN_RETURN_IF_ERROR(expect(Tok::kEqual, "after the result name"));
    }
    if (!at(Tok::kIdent)) return unexpected("an op");
    const Token op_tok = tok_;
    auto kind = op_from_mnemonic(op_tok.text);
    if (!kind) return error(op_tok, cat("unknown op '", op_tok.text, "'"));
    advance();
    Op* op = nullptr;
    if (*kind == OpKind::kCustomGrad) {
      KILN_ASSIGN_OR_RETURN(op, parse_custom_grad(ctx, op_tok, results));
      if (op->num_results() > 0) scopes_.back()[results.tok.value] = results_of(*op);
      return absl::OkStatus();
    }
    switch (op_info(*kind).cls) {
      case OpClass::kConstant: {
        KILN_ASSIGN_OR_RETURN(op, parse_const(ctx, op_tok, results));
        break;
      }
      case OpClass::kFusion: {
        KILN_ASSIGN_OR_RETURN(op, parse_fusion(ctx, op_tok, results));
        break;
      }
      case OpClass::kControl: {
        KILN_ASSIGN_OR_RETURN(op, parse_control(ctx, *kind, op_tok, results));
        break;
      }
      case OpClass::kTerminator: {
        KILN_ASSIGN_OR_RETURN(op, parse_terminator(ctx, *kind, op_tok, results));
        break;
      }
      default: {
        KILN_ASSIGN_OR_RETURN(op, parse_inferred(ctx, *kind, op_tok, results));
        break;
      }
    }
    if (op->num_results() > 0) scopes_.back()[results.tok.value] = results_of(*op);
    return absl::OkStatus();
  }

  static Binding results_of(const Op& op) {
    Binding b;
    for (int i = 0; i < op.num_results(); ++i) b.push_back(op.result(i));
    return b;
  }

  absl::Status check_result_count(const ResultNames& results, const Token& op_tok, int n) const {
    if (results.count == n) return absl::OkStatus();
    const Token& where = results.count ? results.tok : op_tok;
    return error(where, cat("'", op_tok.text, "' defines ", n, " result(s) but ", results.count,
                            " are named"));
  }

  // Ops whose result type the op table infers: the written type must match.
  absl::StatusOr<Op*> parse_inferred(const BlockContext& ctx, OpKind kind, const Token& op_tok,
                                     const ResultNames& results) {
    if (has_multiple_results(kind)) return parse_inferred_multi(ctx, kind, op_tok, results);
    KILN_RETURN_IF_ERROR(check_result_count(results, op_tok, 1));
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the result type"));
    const Token type_tok = tok_;
    KILN_ASSIGN_OR_RETURN(Type type, parse_type());
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));

    const int arity = op_info(kind).arity;
    if (arity >= 0 && static_cast<int>(operands.size()) != arity) {
      return error(op_tok, cat("'", op_tok.text, "' expects ", arity, " operand(s) but has ",
                               operands.size()));
    }
    std::vector<Type> types;
    for (const Value* v : operands) types.push_back(v->type());
    // The IR's stricter elementwise rule first: its message names the offending operand.
    if (auto s = verify_elementwise_operands(kind, types); !s.ok()) {
      return error(op_tok, message_of(s));
    }
    auto inferred = infer_type(kind, types, attrs);
    if (!inferred.ok()) return error(op_tok, message_of(inferred.status()));
    if (!(*inferred == type)) {
      return error(type_tok, cat("'", op_tok.text, "': result type ", type,
                                 " does not match inferred type ", *inferred));
    }
    return Builder(ctx.block).create_op(kind, std::move(operands), {std::move(type)},
                                        std::move(attrs), std::move(loc));
  }

  // Ops with a list of results (split, top_k): `%r:N = op ... : (t0, ..., tN-1)`.
  absl::StatusOr<Op*> parse_inferred_multi(const BlockContext& ctx, OpKind kind,
                                           const Token& op_tok, const ResultNames& results) {
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the result types"));
    const Token type_tok = tok_;
    KILN_ASSIGN_OR_RETURN(std::vector<Type> written, parse_type_list(true, nullptr));
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));
    const int arity = op_info(kind).arity;
    if (arity >= 0 && static_cast<int>(operands.size()) != arity) {
      return error(op_tok, cat("'", op_tok.text, "' expects ", arity, " operand(s) but has ",
                               operands.size()));
    }
    std::vector<Type> types;
    for (const Value* v : operands) types.push_back(v->type());
    auto inferred = infer_types(kind, types, attrs);
    if (!inferred.ok()) return error(op_tok, message_of(inferred.status()));
    KILN_RETURN_IF_ERROR(check_result_count(results, op_tok, static_cast<int>(inferred->size())));
    if (written != *inferred) {
      return error(type_tok, cat("'", op_tok.text, "': result types ", type_list(written),
                                 " do not match inferred types ", type_list(*inferred)));
    }
    return Builder(ctx.block).create_op(kind, std::move(operands), std::move(written),
                                        std::move(attrs), std::move(loc));
  }

  // `const <element> : t` or `const [e0, e1, ...] : t`, elements flat in row-major order.
  absl::StatusOr<Op*> parse_const(const BlockContext& ctx, const Token& op_tok,
                                  const ResultNames& results) {
    KILN_RETURN_IF_ERROR(check_result_count(results, op_tok, 1));
    const Token literal_tok = tok_;
    std::vector<Token> elements;
    const auto take_element = [&]() -> absl::Status {
      if (!at_literal_element()) {
        return unexpected("a literal element (a number, true, false, inf or nan)");
      }
      elements.push_back(tok_);
      advance();
      return absl::OkStatus();
    };
    if (consume_if(Tok::kLSquare)) {
      if (!at(Tok::kRSquare)) {
        do {
          KILN_RETURN_IF_ERROR(take_element());
        } while (consume_if(Tok::kComma));
      }
      KILN_RETURN_IF_ERROR(expect(Tok::kRSquare, "at the end of the literal"));
    } else {
      KILN_RETURN_IF_ERROR(take_element());
    }
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the constant's type"));
    const Token type_tok = tok_;
    KILN_ASSIGN_OR_RETURN(Type type, parse_type());
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));

    if (!type.shape.is_fully_defined()) {
      return error(type_tok, cat("'const' needs a fully defined type, got ", type));
    }
    const int64_t n = type.shape.num_elements();
    if (static_cast<int64_t>(elements.size()) != n) {
      return error(literal_tok, cat("'const': type ", type, " has ", n, " element(s) but ",
                                    elements.size(), " are given"));
    }
    Literal literal(type);
    for (int64_t i = 0; i < n; ++i) {
      KILN_RETURN_IF_ERROR(set_element(elements[i], literal, i));
    }
    Op* op = Builder(ctx.block).create_op(OpKind::kConst, {}, {std::move(type)}, std::move(attrs),
                                          std::move(loc));
    op->set_literal(std::move(literal));
    return op;
  }

  // `return %a, %b : t0, t1` / `yield ...`; the types must match the declared results.
  absl::StatusOr<Op*> parse_terminator(const BlockContext& ctx, OpKind kind, const Token& op_tok,
                                       const ResultNames& results) {
    KILN_RETURN_IF_ERROR(check_result_count(results, op_tok, 0));
    if (kind == OpKind::kReturn && ctx.fusion) {
      return error(op_tok, cat("'return' is only valid in a function body; a ",
                               region_name(*ctx.fusion), " ends with 'yield'"));
    }
    if (kind == OpKind::kYield && !ctx.fusion) {
      return error(op_tok,
                   "'yield' is only valid in a fusion region; a function body ends "
                   "with 'return'");
    }
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    std::vector<Type> types;
    if (!operands.empty()) {
      KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the operand types"));
      for (size_t i = 0; i < operands.size(); ++i) {
        if (i > 0) KILN_RETURN_IF_ERROR(expect(Tok::kComma, "between operand types"));
        const Token type_tok = tok_;
        KILN_ASSIGN_OR_RETURN(Type type, parse_type());
        if (!(type == operands[i]->type())) {
          return error(type_tok, cat("'", op_tok.text, "': operand #", i, " is ",
                                     operands[i]->type(), " but its type is written as ", type));
        }
        types.push_back(std::move(type));
      }
    }
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));
    if (ctx.result_types && types != *ctx.result_types) {
      return error(op_tok, cat("'", op_tok.text, "': operand types ", type_list(types),
                               " do not match the ", ctx.fusion ? "fusion's" : "function's",
                               " result types ", type_list(*ctx.result_types)));
    }
    return Builder(ctx.block).create_op(kind, std::move(operands), {}, std::move(attrs),
                                        std::move(loc));
  }

  // `fusion (%a, %b) {attrs} : (ta, tb) -> results { ^bb0(%x: ta, %y: tb): ops }`
  absl::StatusOr<Op*> parse_fusion(const BlockContext& ctx, const Token& op_tok,
                                   const ResultNames& results) {
    KILN_RETURN_IF_ERROR(expect(Tok::kLParen, "before the fusion's operands"));
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_RETURN_IF_ERROR(expect(Tok::kRParen, "after the fusion's operands"));
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the fusion's type"));
    const Token types_tok = tok_;
    std::vector<Token> type_toks;
    KILN_ASSIGN_OR_RETURN(std::vector<Type> operand_types, parse_type_list(false, &type_toks));
    if (operand_types.size() != operands.size()) {
      return error(types_tok, cat("'fusion' has ", operands.size(), " operand(s) but ",
                                  operand_types.size(), " operand type(s)"));
    }
    for (size_t i = 0; i < operands.size(); ++i) {
      if (!(operand_types[i] == operands[i]->type())) {
        return error(type_toks[i], cat("'fusion': operand #", i, " is ", operands[i]->type(),
                                       " but its type is written as ", operand_types[i]));
      }
    }
    KILN_RETURN_IF_ERROR(expect(Tok::kArrow, "before the fusion's result types"));
    KILN_ASSIGN_OR_RETURN(std::vector<Type> result_types, parse_type_list(true, nullptr));
    KILN_RETURN_IF_ERROR(
        check_result_count(results, op_tok, static_cast<int>(result_types.size())));
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));
    KILN_RETURN_IF_ERROR(expect(Tok::kLBrace, "to open the fusion region"));

    Op* op = Builder(ctx.block).create_op(OpKind::kFusion, operands, result_types, std::move(attrs),
                                          std::move(loc));
    Block& region = op->create_region();
    scopes_.emplace_back();
    const Token header = tok_;
    std::vector<Token> arg_toks;
    KILN_RETURN_IF_ERROR(parse_region_header(region, &arg_toks));
    if (region.num_arguments() != static_cast<int>(operands.size())) {
      return error(header, cat("the fusion region has ", region.num_arguments(),
                               " argument(s) but the fusion has ", operands.size(), " operand(s)"));
    }
    for (size_t i = 0; i < operands.size(); ++i) {
      const Type& t = region.argument(static_cast<int>(i))->type();
      if (!(t == operands[i]->type())) {
        return error(arg_toks[i], cat("region argument #", i, " is ", t, " but fusion operand #", i,
                                      " is ", operands[i]->type()));
      }
    }
    region_stack_.push_back(op);
    KILN_RETURN_IF_ERROR(parse_block({&region, op, &result_types}));
    region_stack_.pop_back();
    scopes_.pop_back();
    return op;
  }

  // `cond %p, %a... {attrs} : (bool[], ta...) -> results { ^bb0(...): ... } else { ... }`
  // `while %v... {attrs} : (tv...) -> results { ^bb0(...): ... } do { ^bb0(...): ... }`
  // Region argument and yield types are checked by the verifier (which reports them at the op).
  absl::StatusOr<Op*> parse_control(const BlockContext& ctx, OpKind kind, const Token& op_tok,
                                    const ResultNames& results) {
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, cat("before the '", op_tok.text, "' types")));
    const Token types_tok = tok_;
    std::vector<Token> type_toks;
    KILN_ASSIGN_OR_RETURN(std::vector<Type> operand_types, parse_type_list(false, &type_toks));
    if (operand_types.size() != operands.size()) {
      return error(types_tok, cat("'", op_tok.text, "' has ", operands.size(), " operand(s) but ",
                                  operand_types.size(), " operand type(s)"));
    }
    for (size_t i = 0; i < operands.size(); ++i) {
      if (!(operand_types[i] == operands[i]->type())) {
        return error(type_toks[i],
                     cat("'", op_tok.text, "': operand #", i, " is ", operands[i]->type(),
                         " but its type is written as ", operand_types[i]));
      }
    }
    KILN_RETURN_IF_ERROR(expect(Tok::kArrow, cat("before the '", op_tok.text, "' result types")));
    KILN_ASSIGN_OR_RETURN(std::vector<Type> result_types, parse_type_list(true, nullptr));
    KILN_RETURN_IF_ERROR(
        check_result_count(results, op_tok, static_cast<int>(result_types.size())));
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));
    Op* op = Builder(ctx.block).create_op(kind, operands, result_types, std::move(attrs),
                                          std::move(loc));
    const std::string_view second = kind == OpKind::kWhile ? "do" : "else";
    for (int r = 0; r < 2; ++r) {
      if (r == 1) {
        if (!at_keyword(second)) return unexpected(cat("'", second, "' and the second region"));
        advance();
      }
      KILN_RETURN_IF_ERROR(expect(Tok::kLBrace, cat("to open a '", op_tok.text, "' region")));
      Block& region = op->add_region();
      scopes_.emplace_back();
      KILN_RETURN_IF_ERROR(parse_region_header(region, nullptr));
      region_stack_.push_back(op);
      KILN_RETURN_IF_ERROR(parse_block({&region, op, nullptr}));
      region_stack_.pop_back();
      scopes_.pop_back();
    }
    return op;
  }

  // `custom_grad %fwd, %x... : t { ^bb0(%dy: t, %y: t, %x: tx, ...): ops; yield %dx... }`:
  // region arguments are the cotangent of the result, then one per operand; the yield gives
  // one cotangent per differentiable input (operands #1..#k).
  absl::StatusOr<Op*> parse_custom_grad(const BlockContext& ctx, const Token& op_tok,
                                        const ResultNames& results) {
    KILN_RETURN_IF_ERROR(check_result_count(results, op_tok, 1));
    KILN_ASSIGN_OR_RETURN(std::vector<Value*> operands, parse_operands());
    KILN_ASSIGN_OR_RETURN(Attrs attrs, parse_optional_attrs());
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "before the result type"));
    const Token type_tok = tok_;
    KILN_ASSIGN_OR_RETURN(Type type, parse_type());
    Location loc = location(op_tok);
    KILN_RETURN_IF_ERROR(parse_optional_loc(loc));
    if (operands.empty()) {
      return error(op_tok, "'custom_grad' needs the forward value as its first operand");
    }
    if (!(type == operands[0]->type())) {
      return error(type_tok, cat("'custom_grad': result type ", type,
                                 " does not match the forward value's type ", operands[0]->type()));
    }
    KILN_RETURN_IF_ERROR(expect(Tok::kLBrace, "to open the custom_grad region"));
    Op* op = Builder(ctx.block).create_op(OpKind::kCustomGrad, operands, {type}, std::move(attrs),
                                          std::move(loc));
    Block& region = op->create_region();
    scopes_.emplace_back();
    const Token header = tok_;
    std::vector<Token> arg_toks;
    KILN_RETURN_IF_ERROR(parse_region_header(region, &arg_toks));
    if (region.num_arguments() != static_cast<int>(operands.size()) + 1) {
      return error(header, cat("the custom_grad region has ", region.num_arguments(),
                               " argument(s) but needs ", operands.size() + 1,
                               ": the cotangent, then one per operand"));
    }
    for (int i = 0; i < region.num_arguments(); ++i) {
      const Type& t = region.argument(i)->type();
      const Type& want = i == 0 ? type : operands[i - 1]->type();
      if (!(t == want)) {
        return error(arg_toks[i], cat("region argument #", i, " is ", t, " but ",
                                      i == 0 ? std::string("the cotangent (the result type)")
                                             : cat("custom_grad operand #", i - 1),
                                      " is ", want));
      }
    }
    region_stack_.push_back(op);
    KILN_RETURN_IF_ERROR(parse_block({&region, op, nullptr}));
    region_stack_.pop_back();
    scopes_.pop_back();
    const Op& yield = *region.terminator();
    if (yield.num_operands() >= static_cast<int>(operands.size())) {
      return error(at_loc(yield.loc()),
                   cat("'yield': the custom_grad region yields ", yield.num_operands(),
                       " cotangent(s) but the op has only ", operands.size() - 1,
                       " operand(s) after the forward value"));
    }
    for (int i = 0; i < yield.num_operands(); ++i) {
      if (!(yield.operand(i)->type() == operands[i + 1]->type())) {
        return error(at_loc(yield.loc()),
                     cat("'yield': cotangent #", i, " is ", yield.operand(i)->type(),
                         " but custom_grad operand #", i + 1, " is ", operands[i + 1]->type()));
      }
    }
    return op;
  }

  // `^bb0(%a: t, ...):` opening a region: its arguments go into `region` and the current scope
  // (their tokens into `arg_toks` if given).
  absl::Status parse_region_header(Block& region, std::vector<Token>* arg_toks) {
    if (!at(Tok::kBlockName)) return unexpected("the region header '^bb0(...):'");
    advance();
    KILN_RETURN_IF_ERROR(expect(Tok::kLParen, "after the block name"));
    KILN_RETURN_IF_ERROR(parse_arguments(region, arg_toks));
    return expect(Tok::kColon, "after the region's arguments");
  }

  static Token at_loc(const Location& loc) {
    Token t;
    t.line = loc.line;
    t.col = loc.col;
    return t;
  }

  std::vector<std::unordered_map<std::string, Binding>> scopes_;
  std::vector<const Op*> region_stack_;  // the ops whose regions are being parsed
};

}  // namespace

absl::StatusOr<std::unique_ptr<Module>> parse_module(std::string_view text,
                                                     const ParseOptions& options) {
  return Parser(text, options).parse_module();
}

}  // namespace kiln::ir
