// kiln — the IR text lexer, internal to the parser (ir/parser.cc): tokens with 1-based positions.
#pragma once

#include <string>
#include <string_view>

namespace kiln::ir::text {

enum class Tok {
  kEof,
  kError,      // an invalid token; Token::value holds the message
  kIdent,      // func, add, f32, true, inf, keepdims, loc ...
  kValue,      // %name or %name#index
  kFuncName,   // @name
  kBlockName,  // ^name
  kInteger,    // 3, -1
  kFloat,      // 0.5, 1e-07, -2.5, -inf (bare inf/nan are identifiers)
  kString,     // "loop"; Token::value holds the unescaped text
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLSquare,
  kRSquare,
  kComma,
  kColon,
  kEqual,
  kArrow,     // ->
  kQuestion,  // ? (an unknown dimension)
};

struct Token {
  Tok kind = Tok::kEof;
  std::string_view text;  // the spelling in the source
  int line = 0;           // already offset by ParseOptions::first_line
  int col = 0;            // 1-based, in bytes
  std::string value;      // name for kValue/kFuncName/kBlockName, string contents, error message
  int result_index = -1;  // kValue: the N of %name#N, else -1
};

// Splits IR text into tokens, skipping whitespace and // comments.
class Lexer {
 public:
  Lexer(std::string_view source, int first_line) : src_(source), line_(first_line) {}
  Token next();

 private:
  char peek(size_t ahead = 0) const {
    return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0';
  }
  void skip_space_and_comments();
  Token make(Tok kind, size_t start, int col) const;
  Token error(size_t start, int col, std::string message) const;
  Token lex_name(Tok kind, size_t start, int col);
  Token lex_number(size_t start, int col);
  Token lex_string(size_t start, int col);

  std::string_view src_;
  size_t pos_ = 0;
  int line_;
  size_t line_start_ = 0;
};

// The spelling of a token kind for diagnostics ("')'", "a value name").
std::string_view describe(Tok kind);

}  // namespace kiln::ir::text
