// kiln — helper for npy_roundtrip.py: writes known tensors as .npy/.npz, or prints files NumPy
// wrote ("name dtype shape values...") so the script can compare them.
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/npy.h"
#include "support/error.h"
#include "support/half.h"

namespace {

using kiln::Tensor;

void print(const std::string& name, const Tensor& t) {
  std::cout << name << " " << kiln::dtype_name(t.dtype()) << " " << t.shape();
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    switch (t.dtype()) {
      case kiln::DType::kFloat32:
        std::cout << " " << t.data<float>()[i];
        break;
      case kiln::DType::kInt32:
        std::cout << " " << t.data<int32_t>()[i];
        break;
      case kiln::DType::kFloat64:
        std::cout << " " << t.data<double>()[i];
        break;
      case kiln::DType::kFloat16:
        std::cout << " " << t.data<kiln::Half>()[i].to_float();
        break;
      case kiln::DType::kInt64:
        std::cout << " " << t.data<int64_t>()[i];
        break;
      default:
        std::cout << " " << (t.data<bool>()[i] ? "True" : "False");
        break;
    }
  }
  std::cout << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: kiln_npy_tool write|read DIR\n";
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2];
  try {
    if (mode == "write") {
      const Tensor f = kiln::constant({{-1.f, -0.5f, 0.f}, {0.5f, 1.f, 1.5f}});
      const Tensor i = kiln::constant({1, -2, 2147483647});
      const Tensor b =
          kiln::constant(std::vector<bool>{true, false, false, true}, kiln::Shape{2, 2});
      kiln::save_npy(dir + "/f32.npy", f);
      kiln::save_npy(dir + "/i32.npy", i);
      kiln::save_npy(dir + "/bool.npy", b);
      kiln::save_npy(dir + "/scalar.npy", kiln::constant(2.5f));
      const Tensor h = kiln::constant({{0.1, -2.0, 65504.0}, {6e-8, 1.5, -0.0}}, kiln::float16);
      const Tensor d = kiln::constant(std::vector<double>{0.1, -1e-300, 1e300}, kiln::Shape{3});
      const Tensor l = kiln::constant(std::vector<int64_t>{INT64_MIN, -1, INT64_MAX, 1LL << 40},
                                      kiln::Shape{2, 2});
      kiln::save_npy(dir + "/f16.npy", h);
      kiln::save_npy(dir + "/f64.npy", d);
      kiln::save_npy(dir + "/i64.npy", l);
      kiln::save_npz(dir + "/all.npz",
                     {{"f", f}, {"i", i}, {"b", b}, {"h", h}, {"d", d}, {"l", l}});
      return 0;
    }
    std::cout.precision(17);
    for (const char* name :
         {"np_f32", "np_i32", "np_bool", "np_scalar", "np_empty", "np_f16", "np_f64", "np_i64"}) {
      print(name, kiln::load_npy(dir + "/" + name + ".npy"));
    }
    for (const auto& [name, t] : kiln::load_npz(dir + "/np.npz")) print("npz_" + name, t);
    return 0;
  } catch (const kiln::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
