// What the device unit tests share: device checks that skip instead of failing without a
// suitable GPU, managed arrays, and a kernel-status assertion.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <memory>

namespace flashattn::testing {

inline int device_compute_capability() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();  // clear the sticky "no driver / no device" error
    return 0;
  }
  int major = 0, minor = 0;
  if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0) != cudaSuccess) {
    return 0;
  }
  return 10 * major + minor;
}

// mma.sync and cp.async need sm_80; the build has no code for older devices anyway.
inline bool has_sm80_device() {
  return device_compute_capability() >= 80;
}

#define SKIP_WITHOUT_SM80_DEVICE() \
  if (!has_sm80_device()) GTEST_SKIP() << "needs a CUDA device of compute capability 8.0+"

// Managed memory keeps the tests to one allocation per array and no explicit copies.
struct CudaFree {
  void operator()(void* pointer) const { (void)cudaFree(pointer); }
};
template <typename T>
using ManagedArray = std::unique_ptr<T[], CudaFree>;

template <typename T>
ManagedArray<T> make_managed(std::size_t count) {
  T* pointer = nullptr;
  if (cudaMallocManaged(&pointer, count * sizeof(T)) != cudaSuccess) pointer = nullptr;
  return ManagedArray<T>(pointer);
}

inline ::testing::AssertionResult kernel_succeeded() {
  cudaError_t error = cudaGetLastError();
  if (error == cudaSuccess) error = cudaDeviceSynchronize();
  if (error == cudaSuccess) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << cudaGetErrorString(error);
}

}  // namespace flashattn::testing
