// cuda_forward: checks what only the GPU path needs (cuda/params.h, an sm80+ device), resolves
// ForwardParams and picks the kernel for the head dim.
#include <cuda_runtime.h>

#include "common/problem.h"
#include "cuda/backend.h"
#include "cuda/common/device.h"
#include "cuda/compiled_head_dims.h"
#include "cuda/params.h"
#include "cuda/sm80/forward.h"

namespace flashattn {

void cuda_forward(const ForwardProblem& problem, void* stream) {
  const int head_dim = check_cuda_problem(problem);
  const DeviceGuard device(problem.q.device.index);
  require_compute_capability(problem.q.device.index, 80);
  if (problem.shape.batch == 0 || problem.shape.seqlen_q == 0) return;

  const ForwardParams params = forward_params(problem);
  const auto cuda_stream = static_cast<cudaStream_t>(stream);
  switch (head_dim) {
#define FLASHATTN_RUN_FORWARD(HEAD_DIM) \
  case HEAD_DIM:                        \
    return sm80::run_forward<HEAD_DIM>(params, problem.q.dtype, cuda_stream);
    FLASHATTN_FOR_EACH_COMPILED_HEAD_DIM(FLASHATTN_RUN_FORWARD)
#undef FLASHATTN_RUN_FORWARD
  }
}

}  // namespace flashattn
