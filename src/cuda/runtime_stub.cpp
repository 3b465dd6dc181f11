// CPU-only build: every CUDA entry point reports that CUDA was not compiled in.
#include "cuda/backend.h"
#include "flashattn/error.h"

namespace flashattn {
namespace {

[[noreturn]] void no_cuda() {
  throw Unsupported(
      "this flashattn build has no CUDA support (nvcc was not found at configure time); "
      "reconfigure with the CUDA toolkit installed");
}

}  // namespace

void cuda_forward(const ForwardProblem&, void*) {
  no_cuda();
}
void cuda_backward(const BackwardProblem&, void*) {
  no_cuda();
}
bool cuda_kernels_compiled() {
  return false;
}
bool cuda_backward_compiled() {
  return false;
}
int cuda_device_count() {
  return 0;
}
std::string cuda_build_info() {
  return "";
}
void* cuda_allocate(std::size_t) {
  no_cuda();
}
void cuda_release(void*) {}
void cuda_copy_to_device(void*, const void*, std::size_t) {
  no_cuda();
}
void cuda_copy_to_host(void*, const void*, std::size_t) {
  no_cuda();
}
void cuda_synchronize() {}

}  // namespace flashattn
