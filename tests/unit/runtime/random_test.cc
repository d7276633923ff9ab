// kiln — random tensors: the Philox known-answer vectors, reproducibility, Generator streams,
// distribution moments and bounds, and error messages.
#include "runtime/random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

using random::Generator;

// Random123's known-answer vectors for philox4x32_10.
TEST(RandomTest, PhiloxKnownAnswers) {
  EXPECT_EQ(random::philox4x32_10({0, 0, 0, 0}, {0, 0}),
            (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(random::philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                  {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(random::philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                                  {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(RandomTest, UniformFromTheFirstBlock) {
  // Seed 0, block 0 is the first known answer; each float takes the top 24 bits of a word.
  const std::vector<float> u = random::uniform({4}, {.seed = 0}).to_vector<float>();
  EXPECT_EQ(u, (std::vector<float>{0x6627e8 * 0x1p-24f, 0xe169c5 * 0x1p-24f, 0xbc57ac * 0x1p-24f,
                                   0x9b00db * 0x1p-24f}));
  const std::vector<float> s =
      random::uniform({2}, {.minval = -2, .maxval = 2, .seed = 0}).to_vector<float>();
  EXPECT_FLOAT_EQ(s[0], -2 + 4 * (0x6627e8 * 0x1p-24f));
}

TEST(RandomTest, ExplicitSeedsAreReproducible) {
  const Tensor a = random::normal({3, 5}, {.seed = 42});
  const Tensor b = random::normal({3, 5}, {.seed = 42});
  const Tensor c = random::normal({3, 5}, {.seed = 43});
  EXPECT_EQ(a.shape(), (Shape{3, 5}));
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  EXPECT_EQ(random::truncated_normal({7}, {.seed = 1}).to_vector<float>(),
            random::truncated_normal({7}, {.seed = 1}).to_vector<float>());
  // Unseeded calls differ from each other.
  EXPECT_NE(random::uniform({8}).to_vector<float>(), random::uniform({8}).to_vector<float>());
  // mean/stddev only scale and shift.
  const std::vector<float> z = random::normal({5}, {.seed = 9}).to_vector<float>();
  const std::vector<float> y =
      random::normal({5}, {.mean = 3, .stddev = 2, .seed = 9}).to_vector<float>();
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], 3 + 2 * z[i], 1e-5);
}

TEST(RandomTest, GeneratorStreams) {
  Generator g = Generator::from_seed(42), h = Generator::from_seed(42);
  const Tensor g1 = g.normal({4}), g2 = g.normal({4});
  EXPECT_NE(g1.to_vector<float>(), g2.to_vector<float>());  // the stream moves on
  EXPECT_EQ(h.normal({4}).to_vector<float>(), g1.to_vector<float>());
  EXPECT_EQ(h.normal({4}).to_vector<float>(), g2.to_vector<float>());
  // A seeded free function is a fresh Generator's first draw.
  EXPECT_EQ(random::normal({4}, {.seed = 42}).to_vector<float>(), g1.to_vector<float>());
  // Each call uses whole blocks: a 1-element draw then the next call starts at block 1.
  Generator a = Generator::from_seed(7), b = Generator::from_seed(7);
  a.uniform({1});
  b.next_block();
  EXPECT_EQ(a.uniform({3}).to_vector<float>(), b.uniform({3}).to_vector<float>());
  EXPECT_EQ(a.seed(), 7u);
}

TEST(RandomTest, Moments) {
  const int n = 200000;
  auto moments = [](const std::vector<float>& v) {
    double s = 0, s2 = 0;
    for (float x : v) s += x, s2 += double(x) * x;
    const double m = s / v.size();
    return std::pair{m, std::sqrt(s2 / v.size() - m * m)};
  };
  const auto [m, sd] =
      moments(random::normal({n}, {.mean = 1, .stddev = 2, .seed = 5}).to_vector<float>());
  EXPECT_NEAR(m, 1, 0.02);
  EXPECT_NEAR(sd, 2, 0.02);
  const std::vector<float> u =
      random::uniform({n}, {.minval = -1, .maxval = 3, .seed = 6}).to_vector<float>();
  for (float x : u) ASSERT_TRUE(x >= -1 && x < 3);
  EXPECT_NEAR(moments(u).first, 1, 0.02);
  const std::vector<float> t =
      random::truncated_normal({n}, {.mean = 10, .stddev = 0.5, .seed = 7}).to_vector<float>();
  for (float x : t) ASSERT_TRUE(x >= 9 && x <= 11) << x;
  // The standard normal truncated to [-2, 2] has stddev ~0.8796.
  EXPECT_NEAR(moments(t).first, 10, 0.01);
  EXPECT_NEAR(moments(t).second, 0.5 * 0.8796, 0.01);
  const std::vector<int32_t> k =
      random::uniform({n}, {.minval = -3, .maxval = 4, .seed = 8, .dtype = int32})
          .to_vector<int32_t>();
  std::vector<int> counts(7);
  for (int32_t x : k) {
    ASSERT_TRUE(x >= -3 && x < 4);
    ++counts[x + 3];
  }
  for (int c : counts) EXPECT_NEAR(c, n / 7.0, n / 7.0 * 0.05);
}

TEST(RandomTest, Errors) {
  EXPECT_EQ(invalid_argument_of([] { random::normal({2}, {.dtype = int32}); }),
            "random.normal: dtype must be floating point, got int32");
  EXPECT_EQ(invalid_argument_of([] { random::truncated_normal({2}, {.dtype = bool_}); }),
            "random.truncated_normal: dtype must be floating point, got bool");
  EXPECT_EQ(invalid_argument_of([] { random::uniform({2}, {.minval = 1, .maxval = 1}); }),
            "random.uniform: Need minval < maxval, got 1 >= 1");
  EXPECT_EQ(invalid_argument_of([] { random::uniform({2}, {.maxval = 2.5, .dtype = int32}); }),
            "random.uniform: int32 bounds must be integers in int32 range, got [0, 2.5)");
  EXPECT_EQ(invalid_argument_of([] { random::uniform({2}, {.dtype = bool_}); }),
            "random.uniform: dtype must be a float or integer dtype, got bool");
  EXPECT_EQ(invalid_argument_of([] {
              random::normal(Shape{-1, 2});
            }),
            "random.normal: shape [None, 2] is not fully defined");
  EXPECT_EQ(invalid_argument_of([] { Generator::from_seed(1).normal({2}, {.seed = 3}); }),
            "random.normal: a Generator has its own seed; pass .seed only to the free functions "
            "(kiln::random::normal)");
}

}  // namespace
}  // namespace kiln
