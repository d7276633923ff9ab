// kiln — the IR parser's lower half: located errors, types, attributes, literals, locations.
#include "ir/token_parser.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include "support/status.h"
#include "support/str.h"

namespace kiln::ir::text {

absl::Status TokenParser::error(const Token& t, std::string_view message) const {
  const std::string file = options_.filename.empty() ? "" : cat(options_.filename, ":");
  return absl::InvalidArgumentError(cat(file, t.line, ":", t.col, ": error: ", message));
}

absl::Status TokenParser::unexpected(std::string_view what) const {
  if (at(Tok::kError)) return error(tok_, tok_.value);
  const std::string found = at(Tok::kEof) ? "end of input" : cat("'", tok_.text, "'");
  return error(tok_, cat("expected ", what, ", found ", found));
}

absl::Status TokenParser::expect(Tok kind, std::string_view where) {
  if (consume_if(kind)) return absl::OkStatus();
  return unexpected(cat(describe(kind), " ", where));
}

absl::StatusOr<int64_t> TokenParser::integer(const Token& t) const {
  int64_t v = 0;
  auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
  if (r.ec != std::errc() || r.ptr != t.text.data() + t.text.size()) {
    return error(t, cat("integer ", t.text, " is out of range"));
  }
  return v;
}

bool TokenParser::at_literal_element() const {
  if (at(Tok::kInteger) || at(Tok::kFloat)) return true;
  return at(Tok::kIdent) &&
         (tok_.text == "true" || tok_.text == "false" || tok_.text == "inf" || tok_.text == "nan");
}

absl::StatusOr<Type> TokenParser::parse_type() {
  if (!at(Tok::kIdent)) return unexpected("a type (like f32[2,3])");
  const Token t = tok_;
  auto dtype = dtype_from_ir_name(t.text);
  if (!dtype) {
    return error(t, cat("unknown element type '", t.text,
                        "' (expected f16, bf16, f32, f64, i32, i64 or bool)"));
  }
  advance();
  KILN_RETURN_IF_ERROR(expect(Tok::kLSquare, "after the element type"));
  std::vector<int64_t> dims;
  if (!at(Tok::kRSquare)) {
    do {
      if (consume_if(Tok::kQuestion)) {
        dims.push_back(Shape::kUnknownDim);
        continue;
      }
      if (!at(Tok::kInteger)) return unexpected("a dimension (an integer or '?')");
      KILN_ASSIGN_OR_RETURN(int64_t d, integer(tok_));
      if (d < 0) return error(tok_, cat("invalid dimension ", d, " (use '?' for unknown)"));
      dims.push_back(d);
      advance();
    } while (consume_if(Tok::kComma));
  }
  KILN_RETURN_IF_ERROR(expect(Tok::kRSquare, "at the end of the shape"));
  return Type{*dtype, Shape(std::move(dims))};
}

absl::StatusOr<std::vector<Type>> TokenParser::parse_type_list(bool allow_bare,
                                                               std::vector<Token>* toks) {
  std::vector<Type> types;
  if (allow_bare && !at(Tok::kLParen)) {
    if (toks) toks->push_back(tok_);
    KILN_ASSIGN_OR_RETURN(Type t, parse_type());
    types.push_back(std::move(t));
    return types;
  }
  KILN_RETURN_IF_ERROR(expect(Tok::kLParen, "to start a type list"));
  if (consume_if(Tok::kRParen)) return types;
  do {
    if (toks) toks->push_back(tok_);
    KILN_ASSIGN_OR_RETURN(Type t, parse_type());
    types.push_back(std::move(t));
  } while (consume_if(Tok::kComma));
  KILN_RETURN_IF_ERROR(expect(Tok::kRParen, "at the end of the type list"));
  return types;
}

absl::StatusOr<Attribute> TokenParser::parse_attr_value() {
  const Token t = tok_;
  switch (t.kind) {
    case Tok::kInteger: {
      KILN_ASSIGN_OR_RETURN(int64_t v, integer(t));
      advance();
      return Attribute(v);
    }
    case Tok::kFloat: {
      double v = 0;
      auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
      if (r.ec != std::errc()) return error(t, cat("float ", t.text, " is out of range"));
      advance();
      return Attribute(v);
    }
    case Tok::kString:
      advance();
      return Attribute(t.value);
    case Tok::kLSquare: {
      advance();
      std::vector<int64_t> list;
      if (!at(Tok::kRSquare)) {
        do {
          if (!at(Tok::kInteger)) return unexpected("an integer (attribute lists hold integers)");
          KILN_ASSIGN_OR_RETURN(int64_t v, integer(tok_));
          list.push_back(v);
          advance();
        } while (consume_if(Tok::kComma));
      }
      KILN_RETURN_IF_ERROR(expect(Tok::kRSquare, "at the end of the list"));
      return Attribute(std::move(list));
    }
    default:
      break;
  }
  if (t.kind == Tok::kIdent) {
    if (t.text == "true" || t.text == "false") {
      advance();
      return Attribute(t.text == "true");
    }
    if (t.text == "inf" || t.text == "nan") {
      advance();
      return Attribute(t.text == "inf" ? HUGE_VAL : std::nan(""));
    }
  }
  return unexpected("an attribute value");
}

absl::StatusOr<Attrs> TokenParser::parse_optional_attrs() {
  Attrs attrs;
  if (!consume_if(Tok::kLBrace)) return attrs;
  if (consume_if(Tok::kRBrace)) return attrs;
  do {
    if (!at(Tok::kIdent)) return unexpected("an attribute name");
    const Token key = tok_;
    advance();
    KILN_RETURN_IF_ERROR(expect(Tok::kEqual, "after the attribute name"));
    KILN_ASSIGN_OR_RETURN(Attribute value, parse_attr_value());
    if (!attrs.emplace(std::string(key.text), std::move(value)).second) {
      return error(key, cat("duplicate attribute '", key.text, "'"));
    }
  } while (consume_if(Tok::kComma));
  KILN_RETURN_IF_ERROR(expect(Tok::kRBrace, "at the end of the attributes"));
  return attrs;
}

absl::Status TokenParser::parse_optional_loc(Location& loc) {
  if (!at_keyword("loc")) return absl::OkStatus();
  advance();
  KILN_RETURN_IF_ERROR(expect(Tok::kLParen, "after 'loc'"));
  Location parsed;
  if (at(Tok::kString)) {
    parsed.file = tok_.value;
    advance();
    KILN_RETURN_IF_ERROR(expect(Tok::kColon, "after the file name"));
  }
  for (int* field : {&parsed.line, &parsed.col}) {
    if (field == &parsed.col) KILN_RETURN_IF_ERROR(expect(Tok::kColon, "between line and column"));
    if (!at(Tok::kInteger)) return unexpected("a line or column number");
    KILN_ASSIGN_OR_RETURN(int64_t v, integer(tok_));
    *field = static_cast<int>(v);
    advance();
  }
  KILN_RETURN_IF_ERROR(expect(Tok::kRParen, "at the end of the location"));
  loc = std::move(parsed);
  return absl::OkStatus();
}

absl::Status TokenParser::set_element(const Token& t, Literal& lit, int64_t i) const {
  const DType dtype = lit.type().dtype;
  const std::string_view ir_name = dtype_ir_name(dtype);
  switch (dtype) {
    case DType::kBool:
      if (t.kind == Tok::kIdent && (t.text == "true" || t.text == "false")) {
        lit.set(i, t.text == "true" ? 1.0 : 0.0);
        return absl::OkStatus();
      }
      return error(t, cat("invalid bool element '", t.text, "' (expected true or false)"));
    case DType::kInt32:
    case DType::kInt64: {
      if (t.kind != Tok::kInteger) {
        return error(t, cat("invalid ", ir_name, " element '", t.text, "' (expected an integer)"));
      }
      KILN_ASSIGN_OR_RETURN(int64_t v, integer(t));
      if (dtype == DType::kInt32 && (v < INT32_MIN || v > INT32_MAX)) {
        return error(t, cat("integer ", v, " does not fit in i32"));
      }
      lit.set_int64(i, v);
      return absl::OkStatus();
    }
    case DType::kFloat32:
    case DType::kFloat64:
    case DType::kFloat16:
    case DType::kBFloat16: {
      const bool named = t.kind == Tok::kIdent && (t.text == "inf" || t.text == "nan");
      if (t.kind != Tok::kInteger && t.kind != Tok::kFloat && !named) {
        return error(
            t, cat("invalid ", ir_name, " element '", t.text, "' (expected a number, inf or nan)"));
      }
      const char* first = t.text.data();
      const char* last = first + t.text.size();
      if (dtype == DType::kFloat64) {
        double v = 0;
        if (std::from_chars(first, last, v).ec != std::errc()) {
          return error(t, cat("float ", t.text, " is out of range for f64"));
        }
        lit.set(i, v);
        return absl::OkStatus();
      }
      // f16 and bf16 read through float, as the printer writes them.
      float v = 0;
      if (std::from_chars(first, last, v).ec != std::errc()) {
        return error(t, cat("float ", t.text, " is out of range for ", ir_name));
      }
      lit.set(i, v);
      if (std::isinf(lit.get(i)) && !std::isinf(v)) {  // beyond float16's or bfloat16's range
        return error(t, cat("float ", t.text, " is out of range for ", ir_name));
      }
      return absl::OkStatus();
    }
  }
  return error(t, "unknown element type");
}

}  // namespace kiln::ir::text
