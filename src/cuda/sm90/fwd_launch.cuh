// Launches the sm90 forward for one head dim: TMA descriptors of q, k, v, shared-memory opt-in.
#pragma once

#include <climits>
#include <string>

#include "cuda/common/check.h"
#include "cuda/common/tensor_map.h"
#include "cuda/sm90/forward.h"
#include "cuda/sm90/fwd_kernel.cuh"
#include "flashattn/error.h"

namespace flashattn::sm90 {

inline TensorMapShape tensor_map_shape(const TensorView& view) {
  return {view.size(0),   view.size(1),   view.size(2),  view.size(3),
          view.stride(0), view.stride(1), view.stride(2)};
}

template <int HeadDim, typename Element>
void launch_forward(const ForwardParams& params, const ForwardProblem& problem,
                    cudaStream_t stream) {
  using Config = ForwardConfig<HeadDim>;
  const CUtensorMap q_map =
      make_tensor_map_16bit(problem.q.data, tensor_map_shape(problem.q), Config::kBlockM);
  const CUtensorMap k_map =
      make_tensor_map_16bit(problem.k.data, tensor_map_shape(problem.k), Config::kBlockN);
  const CUtensorMap v_map =
      make_tensor_map_16bit(problem.v.data, tensor_map_shape(problem.v), Config::kBlockN);
  const auto kernel = forward_kernel<Config, Element>;
  const long long row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
  const long long blocks = row_blocks * params.batch * params.heads_q;
  if (blocks > INT_MAX) {
    throw Unsupported("q: batch * heads * query blocks = " + std::to_string(blocks) +
                      " exceeds the 2^31 - 1 CUDA blocks of one launch");
  }
  check_cuda(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Config::kSmemBytes),
      "cudaFuncSetAttribute");
  kernel<<<static_cast<unsigned>(blocks), Config::kThreads, Config::kSmemBytes, stream>>>(
      params, q_map, k_map, v_map);
  check_cuda(cudaGetLastError(), "sm90 forward kernel launch");
}

template <int HeadDim>
void run_forward(const ForwardParams& params, const ForwardProblem& problem, cudaStream_t stream) {
  if (problem.q.dtype == DType::float16) {
    launch_forward<HeadDim, __half>(params, problem, stream);
  } else {
    launch_forward<HeadDim, __nv_bfloat16>(params, problem, stream);
  }
}

}  // namespace flashattn::sm90
