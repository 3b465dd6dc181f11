// Launches the sm90 forward for one head dim: TMA descriptors of q, k, v, then the kernel.
#pragma once

#include "cuda/common/launch.h"
#include "cuda/common/tensor_map.h"
#include "cuda/sm90/forward.h"
#include "cuda/sm90/fwd_kernel.cuh"

namespace flashattn::sm90 {

inline TensorMapShape tensor_map_shape(const TensorView& view) {
  return {view.size(0),   view.size(1),   view.size(2),  view.size(3),
          view.stride(0), view.stride(1), view.stride(2)};
}

template <int HeadDim>
void run_forward(const ForwardParams& params, const ForwardProblem& problem, cudaStream_t stream) {
  using Config = ForwardConfig<HeadDim>;
  const CUtensorMap q_map =
      make_tensor_map_16bit(problem.q.data, tensor_map_shape(problem.q), Config::kBlockM);
  const CUtensorMap k_map =
      make_tensor_map_16bit(problem.k.data, tensor_map_shape(problem.k), Config::kBlockN);
  const CUtensorMap v_map =
      make_tensor_map_16bit(problem.v.data, tensor_map_shape(problem.v), Config::kBlockN);
  with_16bit_element(problem.q.dtype, [&]<typename Element>() {
    const long long row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
    launch_kernel(forward_kernel<Config, Element>,
                  flat_grid(row_blocks, params.batch, params.heads_q, "q", "query blocks"),
                  Config::kThreads, Config::kSmemBytes, stream, "sm90 forward kernel launch",
                  params, q_map, k_map, v_map);
  });
}

}  // namespace flashattn::sm90
