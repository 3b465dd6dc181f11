// Launches the sm80 forward for one head dim: grid, shared-memory opt-in, launch check.
#pragma once

#include <climits>
#include <string>

#include "cuda/common/check.h"
#include "cuda/sm80/forward.h"
#include "cuda/sm80/fwd_kernel.cuh"
#include "flashattn/error.h"

namespace flashattn::sm80 {

template <int HeadDim, typename Element>
void launch_forward(const ForwardParams& params, cudaStream_t stream) {
  using Config = ForwardConfig<HeadDim>;
  const auto kernel = forward_kernel<Config, Element>;
  const long long row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
  // One flat grid dimension: gridDim.y/z would cap batch * heads at 65535.
  const long long blocks = row_blocks * params.batch * params.heads_q;
  if (blocks > INT_MAX) {
    throw Unsupported("q: batch * heads * query blocks = " + std::to_string(blocks) +
                      " exceeds the 2^31 - 1 CUDA blocks of one launch");
  }
  check_cuda(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSmemBytes),
      "cudaFuncSetAttribute");
  kernel<<<static_cast<unsigned>(blocks), Config::kThreads, Config::kSmemBytes, stream>>>(params);
  check_cuda(cudaGetLastError(), "forward kernel launch");
}

template <int HeadDim>
void run_forward(const ForwardParams& params, DType dtype, cudaStream_t stream) {
  if (dtype == DType::float16) {
    launch_forward<HeadDim, __half>(params, stream);
  } else {
    launch_forward<HeadDim, __nv_bfloat16>(params, stream);
  }
}

}  // namespace flashattn::sm80
