// kiln — the IR text lexer: names, numbers, strings and punctuation, with 1-based positions.
#include "ir/lexer.h"

#include "support/str.h"

namespace kiln::ir::text {
namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '.'; }
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view describe(Tok kind) {
  switch (kind) {
    case Tok::kEof:
      return "end of input";
    case Tok::kError:
      return "invalid token";
    case Tok::kIdent:
      return "an identifier";
    case Tok::kValue:
      return "a value name";
    case Tok::kFuncName:
      return "a function name";
    case Tok::kBlockName:
      return "a block name";
    case Tok::kInteger:
      return "an integer";
    case Tok::kFloat:
      return "a float";
    case Tok::kString:
      return "a string";
    case Tok::kLParen:
      return "'('";
    case Tok::kRParen:
      return "')'";
    case Tok::kLBrace:
      return "'{'";
    case Tok::kRBrace:
      return "'}'";
    case Tok::kLSquare:
      return "'['";
    case Tok::kRSquare:
      return "']'";
    case Tok::kComma:
      return "','";
    case Tok::kColon:
      return "':'";
    case Tok::kEqual:
      return "'='";
    case Tok::kArrow:
      return "'->'";
    case Tok::kQuestion:
      return "'?'";
  }
  return "?";
}

void Lexer::skip_space_and_comments() {
  while (pos_ < src_.size()) {
    const char c = src_[pos_];
    if (c == '\n') {
      ++pos_;
      ++line_;
      line_start_ = pos_;
    } else if (c == ' ' || c == '\t' || c == '\r') {
      ++pos_;
    } else if (c == '/' && peek(1) == '/') {
      while (pos_ < src_.size() && src_[pos_] != '\n') ++pos_;
    } else {
      return;
    }
  }
}

Token Lexer::make(Tok kind, size_t start, int col) const {
  Token t;
  t.kind = kind;
  t.text = src_.substr(start, pos_ - start);
  t.line = line_;
  t.col = col;
  return t;
}

Token Lexer::error(size_t start, int col, std::string message) const {
  Token t = make(Tok::kError, start, col);
  t.value = std::move(message);
  return t;
}

Token Lexer::next() {
  skip_space_and_comments();
  const size_t start = pos_;
  const int col = static_cast<int>(pos_ - line_start_) + 1;
  if (pos_ >= src_.size()) return make(Tok::kEof, start, col);
  const char c = src_[pos_];
  const auto single = [&](Tok kind) {
    ++pos_;
    return make(kind, start, col);
  };
  switch (c) {
    case '(':
      return single(Tok::kLParen);
    case ')':
      return single(Tok::kRParen);
    case '{':
      return single(Tok::kLBrace);
    case '}':
      return single(Tok::kRBrace);
    case '[':
      return single(Tok::kLSquare);
    case ']':
      return single(Tok::kRSquare);
    case ',':
      return single(Tok::kComma);
    case ':':
      return single(Tok::kColon);
    case '=':
      return single(Tok::kEqual);
    case '?':
      return single(Tok::kQuestion);
    case '%':
      return lex_name(Tok::kValue, start, col);
    case '@':
      return lex_name(Tok::kFuncName, start, col);
    case '^':
      return lex_name(Tok::kBlockName, start, col);
    case '"':
      return lex_string(start, col);
    default:
      break;
  }
  if (c == '-' && peek(1) == '>') {
    pos_ += 2;
    return make(Tok::kArrow, start, col);
  }
  if (is_digit(c) || (c == '-' && is_digit(peek(1)))) return lex_number(start, col);
  if (c == '-' && src_.substr(pos_ + 1, 3) == "inf" && !is_name_char(peek(4))) {
    pos_ += 4;
    return make(Tok::kFloat, start, col);
  }
  if (is_alpha(c)) {
    while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
    return make(Tok::kIdent, start, col);
  }
  ++pos_;
  return error(start, col, cat("unexpected character '", c, "'"));
}

// %name, @name, ^name: a sigil, then an identifier or digits; values may add #index.
Token Lexer::lex_name(Tok kind, size_t start, int col) {
  ++pos_;
  const size_t name_start = pos_;
  while (pos_ < src_.size() && is_name_char(src_[pos_])) ++pos_;
  const std::string_view name = src_.substr(name_start, pos_ - name_start);
  bool digits = !name.empty();
  for (char ch : name) digits &= is_digit(ch);
  if (name.empty() || (!digits && !is_alpha(name[0]))) {
    return error(start, col,
                 cat("invalid name '", src_.substr(start, pos_ - start),
                     "' (expected an identifier or a number after '", src_[start], "')"));
  }
  int index = -1;
  if (kind == Tok::kValue && peek() == '#') {
    ++pos_;
    if (!is_digit(peek())) return error(start, col, "expected a result number after '#'");
    index = 0;
    while (is_digit(peek())) {
      index = index * 10 + (src_[pos_++] - '0');
      if (index > 1'000'000) return error(start, col, "result number is too large");
    }
  }
  Token t = make(kind, start, col);
  t.value = std::string(name);
  t.result_index = index;
  return t;
}

// -?[0-9]+(.[0-9]*)?([eE][+-]?[0-9]+)?  — a float if it has a '.' or an exponent.
Token Lexer::lex_number(size_t start, int col) {
  bool is_float = false;
  if (peek() == '-') ++pos_;
  while (is_digit(peek())) ++pos_;
  if (peek() == '.') {
    is_float = true;
    ++pos_;
    while (is_digit(peek())) ++pos_;
  }
  if (peek() == 'e' || peek() == 'E') {
    const size_t sign = (peek(1) == '+' || peek(1) == '-') ? 1 : 0;
    if (is_digit(peek(1 + sign))) {
      is_float = true;
      pos_ += 1 + sign;
      while (is_digit(peek())) ++pos_;
    }
  }
  if (is_alpha(peek())) {
    while (is_name_char(peek())) ++pos_;
    return error(start, col, cat("invalid number '", src_.substr(start, pos_ - start), "'"));
  }
  return make(is_float ? Tok::kFloat : Tok::kInteger, start, col);
}

// "..." with escapes \" \\ \n \t and \HH (two hex digits).
Token Lexer::lex_string(size_t start, int col) {
  ++pos_;
  std::string value;
  while (true) {
    if (pos_ >= src_.size() || src_[pos_] == '\n') {
      return error(start, col, "unterminated string");
    }
    const char c = src_[pos_++];
    if (c == '"') break;
    if (c != '\\') {
      value += c;
      continue;
    }
    const char e = peek();
    if (e == '"' || e == '\\') {
      value += e;
      ++pos_;
    } else if (e == 'n') {
      value += '\n';
      ++pos_;
    } else if (e == 't') {
      value += '\t';
      ++pos_;
    } else if (hex_value(e) >= 0 && hex_value(peek(1)) >= 0) {
      value += static_cast<char>(hex_value(e) * 16 + hex_value(peek(1)));
      pos_ += 2;
    } else {
      return error(start, col, "invalid escape sequence in string");
    }
  }
  Token t = make(Tok::kString, start, col);
  t.value = std::move(value);
  return t;
}

}  // namespace kiln::ir::text
