// What the rest of the library sees of CUDA. Implemented by runtime.cu when nvcc is present
// and by runtime_stub.cpp otherwise, so CPU-only builds link and report the reason.
#pragma once

#include <cstddef>
#include <string>

#include "common/problem.h"

namespace flashattn {

void cuda_forward(const ForwardProblem& problem, void* stream);
void cuda_backward(const BackwardProblem& problem, void* stream);

// True when attention kernels were compiled into this build (the forward; and the backward).
bool cuda_kernels_compiled();
bool cuda_backward_compiled();
// Visible CUDA devices; 0 in CPU-only builds or when no driver/GPU is present.
int cuda_device_count();
// "cuda (archs 80;90a, head dims 64;128)" or "" for CPU-only builds.
std::string cuda_build_info();

// Device memory helpers for the CLI and tests; they throw CudaError (or Unsupported in
// CPU-only builds).
void* cuda_allocate(std::size_t bytes);
void cuda_release(void* pointer);
void cuda_copy_to_device(void* device_destination, const void* host_source, std::size_t bytes);
void cuda_copy_to_host(void* host_destination, const void* device_source, std::size_t bytes);
void cuda_synchronize();

}  // namespace flashattn
