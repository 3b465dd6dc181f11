// Host entry of the sm90 forward: instantiated for head dims 64, 128 and 256 when the build
// targets sm_90a (cmake/sm90_forward_instance.cu.in); the rest use the sm80 path.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "common/problem.h"
#include "cuda/common/fwd_params.h"

namespace flashattn::sm90 {

// Runs the kernel, or returns why it cannot (a tensor TMA cannot describe) without launching.
template <int HeadDim>
std::string run_forward(const ForwardParams& params, const ForwardProblem& problem,
                        cudaStream_t stream);

}  // namespace flashattn::sm90
