// Launches the sm80 backward for one head dim on the caller's stream: preprocess (delta, LSE),
// the main kernel, then the dQ conversion (or, deterministic, the dQ kernel).
#pragma once

#include <cuda_runtime.h>

#include "cuda/common/launch.h"
#include "cuda/sm80/backward.h"
#include "cuda/sm80/bwd_dq_kernel.cuh"
#include "cuda/sm80/bwd_kernel.cuh"
#include "cuda/sm80/bwd_pointwise.cuh"

namespace flashattn::sm80 {

inline unsigned pointwise_blocks(long long threads) {
  return static_cast<unsigned>((threads + kPointwiseThreads - 1) / kPointwiseThreads);
}

// Whether the main kernel, as the device runs it, stages dQ (kStagesDq in bwd_kernel.cuh): its
// code came from sm_90+ PTX. Decides the shared memory its launch needs.
inline bool stages_dq_on_device(void (*kernel)(BackwardParams)) {
  cudaFuncAttributes attributes{};
  check_cuda(cudaFuncGetAttributes(&attributes, kernel), "cudaFuncGetAttributes");
  return attributes.ptxVersion >= 90;
}

template <int HeadDim>
void run_backward(const BackwardParams& params, DType dtype, cudaStream_t stream) {
  using Config = BackwardConfig<HeadDim>;
  using DqConfig = BackwardDqConfig<HeadDim>;
  with_16bit_element(dtype, [&]<typename Element>() {
    const long long rows =
        static_cast<long long>(params.batch) * params.heads_q * params.padded_seqlen_q;
    launch_kernel(backward_preprocess_kernel<Element>, pointwise_blocks(rows * kLanesPerRow),
                  kPointwiseThreads, 0, stream, "backward preprocess launch", params);
    const long long key_blocks = (params.seqlen_k + Config::kBlockN - 1) / Config::kBlockN;
    const auto kernel = params.softcap > 0.0f ? backward_kernel<Config, Element, true>
                                              : backward_kernel<Config, Element, false>;
    launch_kernel(kernel, flat_grid(key_blocks, params.batch, params.heads_kv, "k", "key blocks"),
                  Config::kThreads, Config::smem_bytes(stages_dq_on_device(kernel)), stream,
                  "backward kernel launch", params);
    if (params.deterministic) {
      const long long row_blocks = (params.seqlen_q + DqConfig::kBlockM - 1) / DqConfig::kBlockM;
      launch_kernel(backward_dq_kernel<DqConfig, Element>,
                    flat_grid(row_blocks, params.batch, params.heads_q, "q", "query blocks"),
                    DqConfig::kThreads, DqConfig::kSmemBytes, stream, "backward dq kernel launch",
                    params);
      return;
    }
    const long long dq_pieces = static_cast<long long>(params.batch) * params.heads_q *
                                params.seqlen_q * (params.head_dim / 8);
    launch_kernel(backward_convert_dq_kernel<Element>, pointwise_blocks(dq_pieces),
                  kPointwiseThreads, 0, stream, "backward dq conversion launch", params);
  });
}

}  // namespace flashattn::sm80
