// kiln — NumPy-style indexing: index strings, index lists, normalization and error messages.
#include "runtime/indexing.h"

#include <gtest/gtest.h>

#include <functional>

#include "runtime/ops.h"
#include "runtime/tensor.h"
#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

Tensor t23() { return constant({{1, 2, 3}, {4, 5, 6}}, float32); }

// 0..23 as [2, 3, 4] int32.
Tensor r234() {
  std::vector<int32_t> v(24);
  for (int i = 0; i < 24; ++i) v[i] = i;
  return constant(v, Shape{2, 3, 4});
}

void expect_f32(const Tensor& t, const Shape& shape, const std::vector<float>& values) {
  EXPECT_EQ(t.dtype(), float32);
  EXPECT_EQ(t.shape(), shape);
  EXPECT_EQ(t.to_vector<float>(), values);
}

TEST(IndexingTest, ApiTourExamples) {
  Tensor t = t23();
  expect_f32(t[":, :1"], Shape{2, 1}, {1, 4});
  expect_f32(t["..., 0:1"], Shape{2, 1}, {1, 4});
  expect_f32(t.index({all, slice(none, 1)}), Shape{2, 1}, {1, 4});
  expect_f32(t["::2, -1"], Shape{1}, {3});
  expect_f32(t["newaxis, 1"], Shape{1, 3}, {4, 5, 6});
}

TEST(IndexingTest, IntegersRemoveDims) {
  Tensor t = t23();
  expect_f32(t["1"], Shape{3}, {4, 5, 6});
  expect_f32(t["0, 1"], Shape{}, {2});
  expect_f32(t["-1, -3"], Shape{}, {4});
  expect_f32(t.index({1, 2}), Shape{}, {6});
  expect_f32(t.index({-2}), Shape{3}, {1, 2, 3});
  EXPECT_EQ(t["1, 2"].item<float>(), 6.f);
  expect_f32(t[1], Shape{3}, {4, 5, 6});
  expect_f32(t[-2][2], Shape{}, {3});
}

TEST(IndexingTest, NegativeStepsAndClamping) {
  Tensor t = t23();
  expect_f32(t["1, ::-1"], Shape{3}, {6, 5, 4});
  expect_f32(t["::-1, ::-2"], Shape{2, 2}, {6, 4, 3, 1});
  expect_f32(t[":, 1:100"], Shape{2, 2}, {2, 3, 5, 6});
  expect_f32(t[":, -100:2"], Shape{2, 2}, {1, 2, 4, 5});
  expect_f32(t[":, 2:1"], Shape{2, 0}, {});
  expect_f32(t["0, 5:-10:-1"], Shape{3}, {3, 2, 1});
  expect_f32(t["0, -2::-1"], Shape{2}, {2, 1});
  expect_f32(t.index({all, slice(2, none, -2)}), Shape{2, 2}, {3, 1, 6, 4});
  expect_f32(t.index({slice(1)}), Shape{1, 3}, {1, 2, 3});  // Python's slice(stop)
}

TEST(IndexingTest, EllipsisAndNewaxis) {
  Tensor t = t23();
  expect_f32(t["..."], Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  expect_f32(t["..., newaxis"], Shape{2, 3, 1}, {1, 2, 3, 4, 5, 6});
  expect_f32(t["None, :, None, 2"], Shape{1, 2, 1}, {3, 6});
  expect_f32(t.index({newaxis, ellipsis, none}), Shape{1, 2, 3, 1}, {1, 2, 3, 4, 5, 6});
  Tensor r = r234();
  EXPECT_EQ(r["..., 1"].shape(), (Shape{2, 3}));
  EXPECT_EQ(r["..., 1"].to_vector<int32_t>(), (std::vector<int32_t>{1, 5, 9, 13, 17, 21}));
  EXPECT_EQ(r["1, ..., ::3"].to_vector<int32_t>(), (std::vector<int32_t>{12, 15, 16, 19, 20, 23}));
  EXPECT_EQ(r[" 1 , ... , ::3 "].shape(), (Shape{3, 2}));
  EXPECT_EQ(r["-1, 1:, 1::2"].to_vector<int32_t>(), (std::vector<int32_t>{17, 19, 21, 23}));
}

TEST(IndexingTest, AnyDtypeAndRankZero) {
  Tensor b = constant(std::vector<bool>{true, false, true, true}, Shape{2, 2});
  EXPECT_EQ(b[":, 1"].to_vector<bool>(), (std::vector<bool>{false, true}));
  Tensor s = constant(7);
  EXPECT_EQ(s["..."].item<int32_t>(), 7);
  EXPECT_EQ(s["newaxis"].shape(), (Shape{1}));
}

TEST(IndexingTest, NormalizeGivesStridedSliceAttributes) {
  const std::vector<Index> ix = parse_index("newaxis, -1, ::-2");
  NormalizedIndex n = normalize_index(ix, Shape{2, 5});
  EXPECT_EQ(n.begin, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(n.end, (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(n.strides, (std::vector<int64_t>{1, -2}));
  EXPECT_EQ(n.shrink_axis, (std::vector<int64_t>{0}));
  EXPECT_EQ(n.new_axis, (std::vector<int64_t>{0}));
  EXPECT_EQ(n.result, (Shape{1, 3}));
}

TEST(IndexingTest, OutOfRangeAndBadIndexLists) {
  Tensor t = t23();
  EXPECT_EQ(invalid_argument_of([&] { t["5, 0"]; }),
            "strided_slice: slice index 5 of dimension 0 out of bounds (size 2)");
  EXPECT_EQ(invalid_argument_of([&] {
              t.index({0, -4});
            }),
            "strided_slice: slice index -4 of dimension 1 out of bounds (size 3)");
  EXPECT_EQ(invalid_argument_of([&] { t["0, 0, 0"]; }),
            "strided_slice: too many indices: the tensor has 2 dimension(s) but 3 were indexed");
  EXPECT_EQ(invalid_argument_of([&] { t["..., 0, ..."]; }),
            "strided_slice: an index can only have a single ellipsis ('...')");
  EXPECT_EQ(invalid_argument_of([&] { t[":, ::0"]; }),
            "strided_slice: slice step cannot be zero (dimension 1)");
}

TEST(IndexingTest, UnknownDimensionsAreNotSupportedYet) {
  const std::vector<Index> ix = parse_index(":, 0");
  EXPECT_EQ(invalid_argument_of([&] {
              normalize_index(ix, Shape{-1, 3});
            }),
            "strided_slice: cannot slice dimension 0 of unknown size (not yet)");
  EXPECT_EQ(invalid_argument_of([&] { normalize_index(parse_index("1"), Shape{-1}); }),
            "strided_slice: cannot index dimension 0 of unknown size");
}

TEST(IndexingTest, MalformedStringsPointAtTheColumn) {
  Tensor t = t23();
  EXPECT_EQ(invalid_argument_of([&] { t[":, x"]; }),
            "invalid index \":, x\" at column 4 (at 'x'): expected an integer, a slice, '...' or "
            "'newaxis'\n  :, x\n     ^");
  EXPECT_EQ(invalid_argument_of([&] { t["1 2"]; }),
            "invalid index \"1 2\" at column 3 (at '2'): expected ',' or ':' after an integer\n"
            "  1 2\n    ^");
  EXPECT_EQ(invalid_argument_of([&] { t["1:2:3:4"]; }),
            "invalid index \"1:2:3:4\" at column 6 (at ':'): too many ':' in a slice (at most "
            "start:stop:step)\n  1:2:3:4\n       ^");
  EXPECT_EQ(invalid_argument_of([&] { t[""]; }),
            "invalid index \"\" at column 1 (at the end): expected an index (an integer, a slice, "
            "'...' or 'newaxis')\n  \n  ^");
  EXPECT_EQ(invalid_argument_of([&] { t["1,,2"]; }),
            "invalid index \"1,,2\" at column 3 (at ','): empty index; expected an integer, a "
            "slice, '...' or 'newaxis'\n  1,,2\n    ^");
  EXPECT_EQ(invalid_argument_of([&] { t["-"]; }),
            "invalid index \"-\" at column 2 (at the end): expected a digit after the sign\n  -\n"
            "   ^");
  EXPECT_EQ(invalid_argument_of([&] { t["0:a"]; }),
            "invalid index \"0:a\" at column 3 (at 'a'): expected an integer, ':' or ','\n  0:a\n"
            "    ^");
  EXPECT_EQ(invalid_argument_of([&] { t["newaxisx"]; }),
            "invalid index \"newaxisx\" at column 1 (at 'n'): expected an integer, a slice, '...' "
            "or 'newaxis'\n  newaxisx\n  ^");
  EXPECT_EQ(invalid_argument_of([&] { t[":1 ]"]; }),
            "invalid index \":1 ]\" at column 4 (at ']'): expected ',' after a slice\n  :1 ]\n"
            "     ^");
  EXPECT_EQ(invalid_argument_of([&] { t["99999999999999999999"]; }),
            "invalid index \"99999999999999999999\" at column 1 (at '9'): integer out of range\n"
            "  99999999999999999999\n  ^");
}

}  // namespace
}  // namespace kiln
