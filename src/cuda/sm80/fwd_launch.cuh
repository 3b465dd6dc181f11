// Launches the sm80 forward for one head dim: grid, shared-memory opt-in, launch check.
#pragma once

#include "cuda/common/device.h"
#include "cuda/common/launch.h"
#include "cuda/sm80/forward.h"
#include "cuda/sm80/fwd_kernel.cuh"

namespace flashattn::sm80 {

template <typename Config>
void launch_forward(const ForwardParams& params, DType dtype, cudaStream_t stream) {
  with_16bit_element(dtype, [&]<typename Element>() {
    const long long row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
    launch_kernel(params.softcap > 0.0f ? forward_kernel<Config, Element, true>
                                        : forward_kernel<Config, Element, false>,
                  flat_grid(row_blocks, params.batch, params.heads_q, "q", "query blocks"),
                  Config::kThreads, Config::kSmemBytes, stream, "forward kernel launch", params);
  });
}

template <int HeadDim>
void run_forward(const ForwardParams& params, DType dtype, cudaStream_t stream) {
  using Config = ForwardConfig<HeadDim>;
  if constexpr (Config::kSplitValueColumns) {
    int device = 0;
    check_cuda(cudaGetDevice(&device), "cudaGetDevice");
    if (device_attribute(device, cudaDevAttrMaxSharedMemoryPerBlockOptin) < Config::kSmemBytes) {
      return launch_forward<typename Config::WithoutSplit>(params, dtype, stream);
    }
  }
  launch_forward<Config>(params, dtype, stream);
}

}  // namespace flashattn::sm80
