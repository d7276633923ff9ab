// kiln — .npy/.npz save and load: exact bytes, round trips, atomic writes, malformed files;
// and the optional Eigen views (kiln/eigen.h).
#include "runtime/npy.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "kiln/eigen.h"
#include "runtime/math_ops.h"
#include "support/error.h"
#include "tests/unit/error_util.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

class NpyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_npy_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path(name), std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  fs::path dir_;
};

void expect_same(const Tensor& a, const Tensor& b) {
  ASSERT_EQ(a.dtype(), b.dtype());
  ASSERT_EQ(a.shape(), b.shape());
  const int64_t n = a.num_elements() * dtype_size(a.dtype());
  EXPECT_EQ(std::string(static_cast<const char*>(a.raw_data()), n),
            std::string(static_cast<const char*>(b.raw_data()), n));
}

TEST_F(NpyTest, NewDtypesRoundTrip) {
  const Tensor h = constant({{0.1, -2.0}, {65504.0, 6e-8}}, float16);
  const Tensor d = constant(std::vector<double>{0.1, -1e-300, 1.7976931348623157e308}, Shape{3});
  const Tensor l = constant(std::vector<int64_t>{INT64_MIN, 0, INT64_MAX}, Shape{3, 1});
  EXPECT_NE(to_npy_bytes(h).find("'descr': '<f2'"), std::string::npos);
  EXPECT_NE(to_npy_bytes(d).find("'descr': '<f8'"), std::string::npos);
  EXPECT_NE(to_npy_bytes(l).find("'descr': '<i8'"), std::string::npos);
  save_npy(path("h.npy"), h);
  save_npy(path("d.npy"), d);
  save_npz(path("all.npz"), {{"h", h}, {"d", d}, {"l", l}});
  expect_same(load_npy(path("h.npy")), h);
  expect_same(load_npy(path("d.npy")), d);
  const auto all = load_npz(path("all.npz"));
  expect_same(all.at("l"), l);
  expect_same(all.at("d"), d);
  // NumPy has no bfloat16: a clear error, and no file.
  EXPECT_EQ(error_of([&] { save_npy(path("b.npy"), constant(1.0, bfloat16)); }),
            "save: NumPy has no bfloat16 dtype; cast the tensor (e.g. to float32) to save it");
  EXPECT_FALSE(fs::exists(path("b.npy")));
  EXPECT_EQ(error_of([&] {
              save_npz(path("b.npz"), {{"b", constant(1.0, bfloat16)}});
            }),
            "save: NumPy has no bfloat16 dtype; cast the tensor (e.g. to float32) to save it");
  save_npy(path("c.npy"), cast(constant(1.5, bfloat16), float32));
  expect_same(load_npy(path("c.npy")), constant(1.5f));
}

TEST_F(NpyTest, ExactBytes) {
  const std::string b = to_npy_bytes(constant({1, 2, 3}));
  const std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
  ASSERT_EQ(b.size(), 128u + 12u);  // NumPy's own header size
  EXPECT_EQ(b.substr(0, 10), std::string("\x93NUMPY\x01\x00\x76\x00", 10));
  EXPECT_EQ(b.substr(10, dict.size()), dict);
  EXPECT_EQ(b.substr(10 + dict.size(), 118 - dict.size()),
            std::string(117 - dict.size(), ' ') + "\n");
  EXPECT_EQ(b.substr(128), std::string("\1\0\0\0\2\0\0\0\3\0\0\0", 12));
  const std::string s = to_npy_bytes(constant(true));
  EXPECT_NE(s.find("'descr': '|b1', 'fortran_order': False, 'shape': (), }"), std::string::npos);
  EXPECT_NE(to_npy_bytes(constant({{1.f, 2.f}})).find("'<f4'"), std::string::npos);
  EXPECT_NE(to_npy_bytes(constant({{1.f, 2.f}})).find("'shape': (1, 2), }"), std::string::npos);
}

TEST_F(NpyTest, RoundTripsEveryDtypeAndRank) {
  std::vector<float> f(24);
  for (int i = 0; i < 24; ++i) f[i] = i * 0.25f - 3;
  const std::vector<Tensor> tensors = {constant(f, Shape{2, 3, 4}),
                                       constant({{1, -2}, {3, 2147483647}}),
                                       constant(std::vector<bool>{true, false, true}, Shape{3}),
                                       constant(2.5f), constant(std::vector<float>{}, Shape{0, 3})};
  for (size_t i = 0; i < tensors.size(); ++i) {
    const std::string p = path("t" + std::to_string(i) + ".npy");
    save_npy(p, tensors[i]);
    expect_same(load_npy(p), tensors[i]);
  }
}

TEST_F(NpyTest, WritesAtomically) {
  save_npy(path("a.npy"), constant({1, 2}));
  save_npy(path("a.npy"), constant({3.f}));  // replaces the file
  expect_same(load_npy(path("a.npy")), constant({3.f}));
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
  const std::string missing = path("no/such/dir/a.npy");
  EXPECT_EQ(invalid_argument_of([&] { save_npy(missing, constant(1)); }),
            "save_npy: cannot create a temporary file next to " + missing +
                ": No such file or directory");
}

TEST_F(NpyTest, RejectsMalformedFiles) {
  const std::string good = to_npy_bytes(constant({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}}));
  auto load_bytes = [&](const std::string& bytes) {
    write("bad.npy", bytes);
    return invalid_argument_of([&] { load_npy(path("bad.npy")); });
  };
  const std::string p = path("bad.npy");
  EXPECT_EQ(load_bytes("PK\3\4 not npy"),
            "load: " + p + ": not a .npy file (bad magic; expected \\x93NUMPY)");
  std::string v = good;
  v[6] = 4;
  EXPECT_EQ(load_bytes(v), "load: " + p + ": unsupported .npy format version 4.0");
  std::string d = good;
  d.replace(d.find("'descr'"), 7, "'dtype'");
  EXPECT_EQ(load_bytes(d), "load: " + p +
                               ": bad header dict (unexpected key 'dtype' at offset 10): {'dtype': "
                               "'<f4', 'fortran_order': False, 'shape': (2, 3), }");
  std::string s = good;
  s.replace(s.find("(2, 3)"), 6, "(2, x)");
  EXPECT_EQ(load_bytes(s), "load: " + p +
                               ": bad header dict (expected a dimension at offset 54): {'descr': "
                               "'<f4', 'fortran_order': False, 'shape': (2, x), }");
  std::string f = good;
  f.replace(f.find("False"), 5, "True ");
  EXPECT_EQ(load_bytes(f),
            "load: " + p + ": Fortran-order arrays are not supported (save with order='C')");
  std::string t = good;
  t.replace(t.find("<f4"), 3, ">f8");
  EXPECT_EQ(load_bytes(t), "load: " + p +
                               ": unsupported dtype '>f8' (kiln reads '<f2', '<f4', '<f8', '<i4', "
                               "'<i8' and '|b1')");
  EXPECT_EQ(load_bytes(good.substr(0, good.size() - 1)),
            "load: " + p + ": truncated data: expected 24 bytes for shape [2, 3], got 23");
  EXPECT_EQ(load_bytes(good.substr(0, 30)), "load: " + p + ": truncated header");
  EXPECT_EQ(invalid_argument_of([&] { load_npy(path("missing.npy")); }),
            "load_npy: cannot open " + path("missing.npy") + ": No such file or directory");
}

TEST_F(NpyTest, NpzRoundTrip) {
  const Tensor a = constant({{1.f, 2.f}, {3.f, 4.f}}), b = constant({7, 8, 9}),
               c = constant(std::vector<bool>{false, true}, Shape{1, 2});
  save_npz(path("x.npz"), {{"a", a}, {"b", b}, {"c", c}});
  const std::string z = read(path("x.npz"));
  EXPECT_EQ(z.substr(0, 4), "PK\3\4");
  auto loaded = load_npz(path("x.npz"));
  ASSERT_EQ(loaded.size(), 3u);
  expect_same(loaded.at("a"), a);
  expect_same(loaded.at("b"), b);
  expect_same(loaded.at("c"), c);
  save_npz(path("empty.npz"), {});
  EXPECT_TRUE(load_npz(path("empty.npz")).empty());
}

TEST_F(NpyTest, NpzRejectsMalformedArchives) {
  save_npz(path("x.npz"), {{"a", constant({1.f, 2.f})}});
  const std::string z = read(path("x.npz"));
  const std::string p = path("bad.npz");
  auto load_bytes = [&](const std::string& bytes) {
    write("bad.npz", bytes);
    return invalid_argument_of([&] { load_npz(p); });
  };
  EXPECT_EQ(load_bytes("not a zip at all, long enough to scan"),
            "load: " + p + ": not a .npz file (no zip end-of-central-directory record)");
  std::string crc = z;
  crc[30 + 5 + 64] ^= 1;  // first data byte of a.npy
  EXPECT_EQ(load_bytes(crc), "load: " + p + ": entry 'a.npy': CRC32 mismatch");
  std::string deflated = z;
  const size_t central = z.find("PK\1\2");
  deflated[central + 10] = 8;
  EXPECT_EQ(load_bytes(deflated),
            "load: " + p +
                ": entry 'a.npy' is compressed (method 8); only uncompressed archives (np.savez) "
                "are supported");
  std::string inner = z;
  inner[30 + 5] = 'X';  // the .npy magic inside the entry, CRC fixed below is not: CRC first
  EXPECT_EQ(load_bytes(inner), "load: " + p + ": entry 'a.npy': CRC32 mismatch");
}

TEST(EigenTest, ZeroCopyViews) {
  const Tensor t = constant({{1.f, 2.f, 3.f}, {4.f, 5.f, 6.f}});
  auto m = as_eigen_matrix<float>(t);
  EXPECT_EQ(m.rows(), 2);
  EXPECT_EQ(m.cols(), 3);
  EXPECT_EQ(m(1, 2), 6.f);
  EXPECT_EQ(m.data(), t.data<float>());
  EXPECT_EQ((m * m.transpose())(0, 1), 32.f);
  EXPECT_EQ(as_eigen_vector<float>(t).sum(), 21.f);
  EXPECT_THROW(as_eigen_matrix<int32_t>(t), InvalidArgumentError);
  try {
    as_eigen_matrix<float>(constant({1.f}));
    ADD_FAILURE();
  } catch (const InvalidArgumentError& e) {
    EXPECT_STREQ(e.what(), "as_eigen_matrix: the tensor has shape [1]; a matrix view needs rank 2");
  }
}

}  // namespace
}  // namespace kiln
