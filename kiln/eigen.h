// kiln — optional zero-copy Eigen views of Tensors. Header-only; include it only if you use
// Eigen (kiln's own headers never include Eigen).
#pragma once

#include <Eigen/Core>

#include "runtime/tensor.h"
#include "support/error.h"
#include "support/str.h"

namespace kiln {

template <typename T>
using EigenMatrixMap =
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
template <typename T>
using EigenVectorMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>;

// A read-only row-major view of a rank-2 tensor's storage (no copy). T must match the dtype.
// The view is valid while a Tensor sharing the storage is alive.
template <typename T>
EigenMatrixMap<T> as_eigen_matrix(const Tensor& t) {
  if (t.rank() != 2) {
    throw InvalidArgumentError(
        cat("as_eigen_matrix: the tensor has shape ", t.shape(), "; a matrix view needs rank 2"));
  }
  return EigenMatrixMap<T>(t.data<T>(), t.shape()[0], t.shape()[1]);
}

// A read-only view of all elements of a tensor, in row-major order, as a column vector.
template <typename T>
EigenVectorMap<T> as_eigen_vector(const Tensor& t) {
  return EigenVectorMap<T>(t.data<T>(), t.num_elements());
}

}  // namespace kiln
