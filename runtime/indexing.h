// kiln — NumPy-style indexing: index strings ("..., 0:1", "::2, -1", "newaxis, 1") and index
// lists (kiln::slice, kiln::all, kiln::ellipsis, kiln::newaxis, ints), normalized against a
// shape into the `strided_slice` op's attributes (docs/ir-format.md).
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "ir/types.h"

namespace kiln {

// Markers for index lists: t.index({kiln::all, kiln::slice(kiln::none, 1)}) is t[":, :1"].
struct NoneT {};
inline constexpr NoneT none{};
struct AllT {};
inline constexpr AllT all{};  // ':'
struct EllipsisT {};
inline constexpr EllipsisT ellipsis{};  // '...'
struct NewAxisT {};
inline constexpr NewAxisT newaxis{};  // 'newaxis' (or 'None'): inserts a dim of size 1

// One bound of a slice: an integer or kiln::none (omitted).
struct SliceBound {
  SliceBound(NoneT) {}
  template <std::integral I>
  SliceBound(I v) : value(static_cast<int64_t>(v)) {}
  std::optional<int64_t> value;
};

// start:stop:step with Python semantics; omitted parts are nullopt.
struct Slice {
  std::optional<int64_t> start, stop, step;
};
// As Python's slice(): slice(stop), slice(start, stop), slice(start, stop, step).
inline Slice slice(SliceBound stop) { return Slice{std::nullopt, stop.value, std::nullopt}; }
inline Slice slice(SliceBound start, SliceBound stop, SliceBound step = none) {
  return Slice{start.value, stop.value, step.value};
}

// One entry of an index list: an integer (removes the dim), a slice, all, ellipsis, newaxis
// (kiln::none also means newaxis, as None does in NumPy).
class Index {
 public:
  using Value = std::variant<int64_t, Slice, EllipsisT, NewAxisT>;
  template <std::integral I>
  Index(I i) : value_(static_cast<int64_t>(i)) {}
  Index(Slice s) : value_(s) {}
  Index(AllT) : value_(Slice{}) {}
  Index(EllipsisT) : value_(EllipsisT{}) {}
  Index(NewAxisT) : value_(NewAxisT{}) {}
  Index(NoneT) : value_(NewAxisT{}) {}
  const Value& value() const { return value_; }

 private:
  Value value_;
};

// Parses an index string: comma-separated items, each an integer, a slice `[start]:[stop][:
// [step]]`, `...`, `newaxis` or `None`; spaces are allowed between tokens. Throws
// InvalidArgumentError naming the column of the offending character, with a caret under it.
std::vector<Index> parse_index(std::string_view text);

// An index list resolved against a shape (NumPy semantics: negative indices count from the end,
// slice bounds are clamped, an integer removes its dim): the strided_slice attributes.
struct NormalizedIndex {
  std::vector<int64_t> begin, end, strides;  // one per input dim
  std::vector<int64_t> shrink_axis;          // input dims indexed by an integer
  std::vector<int64_t> new_axis;             // output positions of inserted dims
  Shape result;                              // the shape of the indexed tensor
};
// Throws InvalidArgumentError for an out-of-range integer ("slice index 5 of dimension 0 out of
// bounds"), too many indices, several ellipses or a zero step.
NormalizedIndex normalize_index(std::span<const Index> indices, const Shape& shape);

}  // namespace kiln
