// CUDA build: device queries and memory helpers. The kernels' entry points live beside this
// (forward.cu, backward.cu).
#include <cuda_runtime.h>

#include <string>

#include "cuda/backend.h"
#include "cuda/common/check.h"
#include "cuda/compiled_head_dims.h"

namespace flashattn {

bool cuda_kernels_compiled() {
  return true;
}

bool cuda_backward_compiled() {
  return true;
}

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: clear the sticky error, report none
    return 0;
  }
  return count;
}

std::string cuda_build_info() {
  return "cuda forward+backward (archs " FLASHATTN_CUDA_ARCHS_STRING
         ", head dims " FLASHATTN_HEAD_DIMS_STRING ")";
}

void* cuda_allocate(std::size_t bytes) {
  void* pointer = nullptr;
  check_cuda(cudaMalloc(&pointer, bytes), "cudaMalloc");
  return pointer;
}

void cuda_release(void* pointer) {
  (void)cudaFree(pointer);
}

void cuda_copy_to_device(void* device_destination, const void* host_source, std::size_t bytes) {
  check_cuda(cudaMemcpy(device_destination, host_source, bytes, cudaMemcpyHostToDevice),
             "cudaMemcpy");
}

void cuda_copy_to_host(void* host_destination, const void* device_source, std::size_t bytes) {
  check_cuda(cudaMemcpy(host_destination, device_source, bytes, cudaMemcpyDeviceToHost),
             "cudaMemcpy");
}

void cuda_synchronize() {
  check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace flashattn
