// Turns a failed CUDA runtime call into flashattn::CudaError.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "flashattn/error.h"

namespace flashattn {

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw CudaError(std::string(what) + " failed: " + cudaGetErrorString(status));
  }
}

}  // namespace flashattn
