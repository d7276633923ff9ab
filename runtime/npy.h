// kiln — NumPy interop on disk: .npy (one array) and .npz (an uncompressed zip of .npy files).
//
// Supported dtypes: float16 ('<f2'), float32 ('<f4'), float64 ('<f8'), int32 ('<i4'), int64
// ('<i8'), bool ('|b1'); C order only. bfloat16 has no NumPy dtype: saving it is an
// UnimplementedError (cast it first). Files are
// written atomically (a temporary file in the same directory, then rename). Loading rejects
// malformed files with an InvalidArgumentError naming the file and the problem.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/tensor.h"

namespace kiln {

void save_npy(const std::string& path, const Tensor& t);
Tensor load_npy(const std::string& path);

// np.savez: each array is stored (not compressed) as "<name>.npy".
void save_npz(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& arrays);
// np.load of a .npz: arrays by name (without ".npy"). Compressed archives are rejected.
std::map<std::string, Tensor> load_npz(const std::string& path);

// The .npy bytes of `t` and back (`what` names the source in error messages).
std::string to_npy_bytes(const Tensor& t);
Tensor from_npy_bytes(std::string_view bytes, const std::string& what);

}  // namespace kiln
