// kiln — index strings and index lists: parsing, normalization, and Tensor's indexing methods.
#include "runtime/indexing.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>

#include "ir/ops.h"
#include "runtime/dispatch.h"
#include "runtime/tensor.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {
namespace {

class IndexParser {
 public:
  explicit IndexParser(std::string_view text) : text_(text) {}

  std::vector<Index> parse() {
    std::vector<Index> out;
    skip_spaces();
    if (at_end()) fail("expected an index (an integer, a slice, '...' or 'newaxis')");
    for (;;) {
      out.push_back(item());
      skip_spaces();
      if (at_end()) return out;
      if (peek() != ',') fail("expected ',' between indices");
      ++pos_;
      skip_spaces();
    }
  }

 private:
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  void skip_spaces() {
    while (!at_end() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }

  [[noreturn]] void fail(std::string_view what) const { fail_at(pos_, what); }
  [[noreturn]] void fail_at(size_t pos, std::string_view what) const {
    std::string found = pos < text_.size() ? cat("'", text_[pos], "'") : "the end";
    throw InvalidArgumentError(cat("invalid index \"", text_, "\" at column ", pos + 1, " (at ",
                                   found, "): ", what, "\n  ", text_, "\n  ", std::string(pos, ' '),
                                   "^"));
  }

  bool starts_with_word(std::string_view word) const {
    if (text_.substr(pos_, word.size()) != word) return false;
    const size_t after = pos_ + word.size();
    return after >= text_.size() ||
           !(std::isalnum(static_cast<unsigned char>(text_[after])) || text_[after] == '_');
  }

  bool at_integer() const {
    const char c = peek();
    return std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+';
  }

  int64_t integer() {
    const size_t start = pos_;
    const bool negative = peek() == '-';
    if (peek() == '-' || peek() == '+') ++pos_;
    if (!std::isdigit(static_cast<unsigned char>(peek()))) fail("expected a digit after the sign");
    int64_t v = 0;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      const int digit = text_[pos_] - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        fail_at(start, "integer out of range");
      }
      v = v * 10 + digit;
      ++pos_;
    }
    return negative ? -v : v;
  }

  // An optional integer before ':', ',' or the end.
  std::optional<int64_t> bound() {
    skip_spaces();
    if (at_end() || peek() == ':' || peek() == ',') return std::nullopt;
    if (!at_integer()) fail("expected an integer, ':' or ','");
    return integer();
  }

  Index item() {
    if (text_.substr(pos_, 3) == "...") {
      pos_ += 3;
      return Index(ellipsis);
    }
    if (starts_with_word("newaxis")) {
      pos_ += 7;
      return Index(newaxis);
    }
    if (starts_with_word("None")) {
      pos_ += 4;
      return Index(newaxis);
    }
    if (at_end() || peek() == ',')
      fail("empty index; expected an integer, a slice, '...' or 'newaxis'");
    if (!at_integer() && peek() != ':') {
      fail("expected an integer, a slice, '...' or 'newaxis'");
    }
    std::optional<int64_t> parts[3];
    parts[0] = bound();
    skip_spaces();
    if (peek() != ':') {
      if (!at_end() && peek() != ',') fail("expected ',' or ':' after an integer");
      return Index(*parts[0]);
    }
    int colons = 0;
    while (peek() == ':') {
      if (colons == 2) fail("too many ':' in a slice (at most start:stop:step)");
      ++pos_;
      parts[++colons] = bound();
      skip_spaces();
    }
    if (!at_end() && peek() != ',') fail("expected ',' after a slice");
    return Index(Slice{parts[0], parts[1], parts[2]});
  }

  std::string_view text_;
  size_t pos_ = 0;
};

[[noreturn]] void index_error(const std::string& message) {
  throw InvalidArgumentError(cat("strided_slice: ", message));
}

}  // namespace

std::vector<Index> parse_index(std::string_view text) { return IndexParser(text).parse(); }

NormalizedIndex normalize_index(std::span<const Index> indices, const Shape& shape) {
  const int rank = shape.rank();
  int consumed = 0, ellipses = 0;
  for (const Index& ix : indices) {
    if (std::holds_alternative<EllipsisT>(ix.value())) {
      ++ellipses;
    } else if (!std::holds_alternative<NewAxisT>(ix.value())) {
      ++consumed;
    }
  }
  if (ellipses > 1) index_error("an index can only have a single ellipsis ('...')");
  if (consumed > rank) {
    index_error(cat("too many indices: the tensor has ", rank, " dimension(s) but ", consumed,
                    " were indexed"));
  }
  NormalizedIndex n;
  std::vector<int64_t> out_dims;
  int dim = 0;
  auto full = [&](int d) {
    const int64_t size = shape[d];
    if (size < 0) index_error(cat("cannot slice dimension ", d, " of unknown size (not yet)"));
    n.begin.push_back(0);
    n.end.push_back(size);
    n.strides.push_back(1);
    out_dims.push_back(size);
  };
  for (const Index& ix : indices) {
    const Index::Value& v = ix.value();
    if (std::holds_alternative<EllipsisT>(v)) {
      for (int k = 0; k < rank - consumed; ++k) full(dim++);
    } else if (std::holds_alternative<NewAxisT>(v)) {
      n.new_axis.push_back(static_cast<int64_t>(out_dims.size()));
      out_dims.push_back(1);
    } else if (const int64_t* i = std::get_if<int64_t>(&v)) {
      const int64_t size = shape[dim];
      if (size < 0) index_error(cat("cannot index dimension ", dim, " of unknown size"));
      if (*i < -size || *i >= size) {
        index_error(
            cat("slice index ", *i, " of dimension ", dim, " out of bounds (size ", size, ")"));
      }
      const int64_t b = *i < 0 ? *i + size : *i;
      n.begin.push_back(b);
      n.end.push_back(b + 1);
      n.strides.push_back(1);
      n.shrink_axis.push_back(dim++);
    } else {
      const Slice& s = std::get<Slice>(v);
      const int64_t size = shape[dim];
      const int64_t step = s.step.value_or(1);
      if (step == 0) index_error(cat("slice step cannot be zero (dimension ", dim, ")"));
      if (size < 0) index_error(cat("cannot slice dimension ", dim, " of unknown size (not yet)"));
      // Python's slice.indices(size).
      auto resolve = [&](std::optional<int64_t> x, int64_t fallback) {
        if (!x) return fallback;
        int64_t r = *x < 0 ? *x + size : *x;
        return step > 0 ? std::clamp<int64_t>(r, 0, size) : std::clamp<int64_t>(r, -1, size - 1);
      };
      const int64_t b = resolve(s.start, step > 0 ? 0 : size - 1);
      const int64_t e = resolve(s.stop, step > 0 ? size : -1);
      n.begin.push_back(b);
      n.end.push_back(e);
      n.strides.push_back(step);
      out_dims.push_back(step > 0 ? (e > b ? (e - b + step - 1) / step : 0)
                                  : (b > e ? (b - e - step - 1) / -step : 0));
      ++dim;
    }
  }
  while (dim < rank) full(dim++);
  n.result = Shape(std::move(out_dims));
  return n;
}

Tensor Tensor::index(std::span<const Index> indices) const {
  const NormalizedIndex n = normalize_index(indices, shape());
  ir::Attrs attrs{{"begin", n.begin}, {"end", n.end}, {"strides", n.strides}};
  if (!n.shrink_axis.empty()) attrs["shrink_axis"] = n.shrink_axis;
  if (!n.new_axis.empty()) attrs["new_axis"] = n.new_axis;
  return dispatch(ir::OpKind::kStridedSlice, {*this}, attrs);
}

Tensor Tensor::index(std::initializer_list<Index> indices) const {
  return index(std::span<const Index>(indices.begin(), indices.size()));
}

Tensor Tensor::operator[](std::string_view index_text) const {
  const std::vector<Index> indices = parse_index(index_text);
  return index(std::span<const Index>(indices));
}

}  // namespace kiln
