// cuda_forward: checks what only the GPU path needs (cuda/params.h, an sm80+ device), resolves
// ForwardParams and picks the kernel for the head dim.
#include <cuda_runtime.h>

#include <string>

#include "common/log.h"
#include "common/problem.h"
#include "cuda/backend.h"
#include "cuda/common/device.h"
#include "cuda/compiled_head_dims.h"
#include "cuda/params.h"
#include "cuda/sm80/forward.h"
#include "cuda/sm90/forward.h"
#include "flashattn/error.h"

namespace flashattn {

namespace {

// Runs the sm90 kernel when it can; otherwise returns why not (no kernel for the head dim in
// this build, or a tensor TMA cannot describe).
std::string run_sm90_forward(int head_dim, const ForwardParams& params,
                             const ForwardProblem& problem, cudaStream_t stream) {
  switch (head_dim) {
#define FLASHATTN_RUN_SM90_FORWARD(HEAD_DIM) \
  case HEAD_DIM:                             \
    return sm90::run_forward<HEAD_DIM>(params, problem, stream);
    FLASHATTN_FOR_EACH_SM90_HEAD_DIM(FLASHATTN_RUN_SM90_FORWARD)
#undef FLASHATTN_RUN_SM90_FORWARD
  }
  return "no sm90 forward for head dim " + std::to_string(problem.shape.head_dim) +
         " in this build (head dims 64, 128, 256 with FLASHATTN_CUDA_ARCHS containing 90a)";
}

}  // namespace

void cuda_forward(const ForwardProblem& problem, void* stream) {
  const int head_dim = check_cuda_problem(problem);
  const int device = problem.q.device.index;
  const DeviceGuard guard(device);
  const bool hopper = require_compute_capability(device, 80) == 90;
  if (problem.backend == Backend::cuda_sm90 && !hopper) {
    throw Unsupported("backend cuda_sm90: device " + std::to_string(device) +
                      " is not a compute capability 9.0 GPU");
  }
  if (problem.shape.batch == 0 || problem.shape.seqlen_q == 0) return;

  const ForwardParams params = forward_params(problem);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  if (hopper && problem.backend != Backend::cuda_sm80) {
    const std::string unsupported = run_sm90_forward(head_dim, params, problem, cuda_stream);
    if (unsupported.empty()) return;
    if (problem.backend == Backend::cuda_sm90) {
      throw Unsupported("backend cuda_sm90: " + unsupported);
    }
    log_debug("forward: " + unsupported + "; running the sm80 kernel");
  }
  switch (head_dim) {
#define FLASHATTN_RUN_FORWARD(HEAD_DIM) \
  case HEAD_DIM:                        \
    return sm80::run_forward<HEAD_DIM>(params, problem.q.dtype, cuda_stream);
    FLASHATTN_FOR_EACH_COMPILED_HEAD_DIM(FLASHATTN_RUN_FORWARD)
#undef FLASHATTN_RUN_FORWARD
  }
}

}  // namespace flashattn
