// CUDA build: device queries and memory helpers. Attention kernels are added per architecture
// (src/cuda/sm80, src/cuda/sm90); until they exist, cuda_forward/backward report Unsupported.
#include <cuda_runtime.h>

#include <string>

#include "cuda/backend.h"
#include "flashattn/error.h"

namespace flashattn {
namespace {

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw CudaError(std::string(what) + " failed: " + cudaGetErrorString(status));
  }
}

[[noreturn]] void no_kernels() {
  throw Unsupported(
      "no CUDA attention kernel is compiled into this build yet; use CPU tensors or "
      "backend=cpu");
}

}  // namespace

void cuda_forward(const ForwardProblem&, void*) {
  no_kernels();
}
void cuda_backward(const BackwardProblem&, void*) {
  no_kernels();
}
bool cuda_kernels_compiled() {
  return false;
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
  return "cuda runtime (archs " FLASHATTN_CUDA_ARCHS_STRING "), no attention kernels yet";
}

void* cuda_allocate(std::size_t bytes) {
  void* pointer = nullptr;
  check(cudaMalloc(&pointer, bytes), "cudaMalloc");
  return pointer;
}

void cuda_release(void* pointer) {
  (void)cudaFree(pointer);
}

void cuda_copy_to_device(void* device_destination, const void* host_source, std::size_t bytes) {
  check(cudaMemcpy(device_destination, host_source, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
}

void cuda_copy_to_host(void* host_destination, const void* device_source, std::size_t bytes) {
  check(cudaMemcpy(host_destination, device_source, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
}

void cuda_synchronize() {
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace flashattn
