// kiln — the IR parser's lower half (internal): token cursor, located errors, and the non-op
// syntax.
//
// ir/parser.cc derives from TokenParser and adds functions, blocks, ops and value scopes. This
// half reads types (`f32[2,?]`), type lists, attribute dictionaries, literal elements and
// `loc(...)` suffixes. Every error is InvalidArgument "[file:]line:col: error: message".
#pragma once

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "ir/function.h"
#include "ir/lexer.h"
#include "ir/parser.h"

namespace kiln::ir::text {

class TokenParser {
 public:
  TokenParser(std::string_view source, const ParseOptions& options)
      : lexer_(source, options.first_line), options_(options) {
    advance();
  }

 protected:
  // ---- the token cursor ----
  void advance() { tok_ = lexer_.next(); }
  bool at(Tok kind) const { return tok_.kind == kind; }
  bool at_keyword(std::string_view word) const { return at(Tok::kIdent) && tok_.text == word; }
  bool consume_if(Tok kind) {
    if (!at(kind)) return false;
    advance();
    return true;
  }

  // ---- diagnostics ----
  absl::Status error(const Token& t, std::string_view message) const;
  // "expected <what>, found '<token>'" at the current token (or the lexer's own message).
  absl::Status unexpected(std::string_view what) const;
  // Consumes a `kind` token or fails with "expected <kind> <where>, found ...".
  absl::Status expect(Tok kind, std::string_view where);
  Location location(const Token& t) const { return Location{options_.filename, t.line, t.col}; }

  // ---- values that are not ops ----
  absl::StatusOr<int64_t> integer(const Token& t) const;
  absl::StatusOr<Type> parse_type();
  // `(t0, t1, ...)`, or a bare `t` if `allow_bare`; `toks` (if set) receives each type's token.
  absl::StatusOr<std::vector<Type>> parse_type_list(bool allow_bare, std::vector<Token>* toks);
  // `{key = value, ...}` if the next token is '{', else no attributes.
  absl::StatusOr<Attrs> parse_optional_attrs();
  // ` loc("file":line:col)` or ` loc(line:col)` (what `--print-loc` prints) into `loc`.
  absl::Status parse_optional_loc(Location& loc);
  // True at a token that can be a literal element: a number, true, false, inf or nan.
  bool at_literal_element() const;
  // Stores literal element `t` as element `i` of `lit` (of lit's dtype).
  absl::Status set_element(const Token& t, Literal& lit, int64_t i) const;

  Lexer lexer_;
  const ParseOptions& options_;
  Token tok_;

 private:
  absl::StatusOr<Attribute> parse_attr_value();
};

}  // namespace kiln::ir::text
