// kiln — helper for npy_roundtrip.py: writes known tensors as .npy/.npz, or prints files NumPy
// wrote ("name dtype shape values...") so the script can compare them.
#include <iostream>
#include <string>

#include "runtime/npy.h"
#include "support/error.h"

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
      kiln::save_npz(dir + "/all.npz", {{"f", f}, {"i", i}, {"b", b}});
      return 0;
    }
    for (const char* name : {"np_f32", "np_i32", "np_bool", "np_scalar", "np_empty"}) {
      print(name, kiln::load_npy(dir + "/" + name + ".npy"));
    }
    for (const auto& [name, t] : kiln::load_npz(dir + "/np.npz")) print("npz_" + name, t);
    return 0;
  } catch (const kiln::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
