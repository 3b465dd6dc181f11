// Launches the sm80 backward for one head dim on the caller's stream: preprocess (delta, LSE),
// the main kernel, then the dQ conversion (or, deterministic, the dQ kernel).
#pragma once

#include <climits>
#include <string>

#include "cuda/common/check.h"
#include "cuda/sm80/backward.h"
#include "cuda/sm80/bwd_dq_kernel.cuh"
#include "cuda/sm80/bwd_kernel.cuh"
#include "cuda/sm80/bwd_pointwise.cuh"
#include "flashattn/error.h"

namespace flashattn::sm80 {

inline unsigned pointwise_blocks(long long threads) {
  return static_cast<unsigned>((threads + kPointwiseThreads - 1) / kPointwiseThreads);
}

template <int HeadDim, typename Element>
void launch_backward(const BackwardParams& params, cudaStream_t stream) {
  using Config = BackwardConfig<HeadDim>;
  const long long rows =
      static_cast<long long>(params.batch) * params.heads_q * params.padded_seqlen_q;
  if (rows > 0) {
    backward_preprocess_kernel<Element>
        <<<pointwise_blocks(rows * kLanesPerRow), kPointwiseThreads, 0, stream>>>(params);
    check_cuda(cudaGetLastError(), "backward preprocess launch");
  }
  const long long key_blocks = (params.seqlen_k + Config::kBlockN - 1) / Config::kBlockN;
  const long long blocks = key_blocks * params.batch * params.heads_kv;
  if (blocks > INT_MAX) {
    throw Unsupported("k: batch * kv heads * key blocks = " + std::to_string(blocks) +
                      " exceeds the 2^31 - 1 CUDA blocks of one launch");
  }
  if (blocks > 0) {
    const auto kernel = backward_kernel<Config, Element>;
    check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    Config::kSmemBytes),
               "cudaFuncSetAttribute");
    kernel<<<static_cast<unsigned>(blocks), Config::kThreads, Config::kSmemBytes, stream>>>(params);
    check_cuda(cudaGetLastError(), "backward kernel launch");
  }
  if (params.deterministic) {
    using DqConfig = BackwardDqConfig<HeadDim>;
    const long long row_blocks = (params.seqlen_q + DqConfig::kBlockM - 1) / DqConfig::kBlockM;
    const long long dq_blocks = row_blocks * params.batch * params.heads_q;
    if (dq_blocks > INT_MAX) {
      throw Unsupported("q: batch * heads * query blocks = " + std::to_string(dq_blocks) +
                        " exceeds the 2^31 - 1 CUDA blocks of one launch");
    }
    if (dq_blocks > 0) {
      const auto kernel = backward_dq_kernel<DqConfig, Element>;
      check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                      DqConfig::kSmemBytes),
                 "cudaFuncSetAttribute");
      kernel<<<static_cast<unsigned>(dq_blocks), DqConfig::kThreads, DqConfig::kSmemBytes,
               stream>>>(params);
      check_cuda(cudaGetLastError(), "backward dq kernel launch");
    }
    return;
  }
  const long long dq_pieces = static_cast<long long>(params.batch) * params.heads_q *
                              params.seqlen_q * (params.head_dim / 8);
  if (dq_pieces > 0) {
    backward_convert_dq_kernel<Element>
        <<<pointwise_blocks(dq_pieces), kPointwiseThreads, 0, stream>>>(params);
    check_cuda(cudaGetLastError(), "backward dq conversion launch");
  }
}

template <int HeadDim>
void run_backward(const BackwardParams& params, DType dtype, cudaStream_t stream) {
  if (dtype == DType::float16) {
    launch_backward<HeadDim, __half>(params, stream);
  } else {
    launch_backward<HeadDim, __nv_bfloat16>(params, stream);
  }
}

}  // namespace flashattn::sm80
