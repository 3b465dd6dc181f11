// The backward's two memory-bound kernels around the main one: before it, per query row,
// delta = rowsum(dO * O) and the LSE in the exp2 domain, into the padded workspace; after it,
// dQ = scale * the fp32 accumulator, rounded into the caller's (strided) dq.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "cuda/common/bwd_params.h"
#include "cuda/ptx/mma.cuh"

namespace flashattn::sm80 {

inline constexpr int kPointwiseThreads = 256;
// Lanes that share one row in the preprocess: 16-byte pieces, reduced by xor-shuffles.
inline constexpr int kLanesPerRow = 8;

template <typename Element>
__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  const auto* x = reinterpret_cast<const Element*>(&a);
  const auto* y = reinterpret_cast<const Element*>(&b);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < 8; ++i)
    sum = fmaf(static_cast<float>(x[i]), static_cast<float>(y[i]), sum);
  return sum;
}

// One workspace row (batch, query head, padded row) per kLanesPerRow lanes.
template <typename Element>
__global__ void __launch_bounds__(kPointwiseThreads)
    backward_preprocess_kernel(const BackwardParams params) {
  const std::int64_t index =
      (static_cast<std::int64_t>(blockIdx.x) * kPointwiseThreads + threadIdx.x) / kLanesPerRow;
  const int lane = threadIdx.x % kLanesPerRow;
  const std::int64_t rows =
      static_cast<std::int64_t>(params.batch) * params.heads_q * params.padded_seqlen_q;
  if (index >= rows) return;  // whole groups of kLanesPerRow lanes leave together
  const int row = static_cast<int>(index % params.padded_seqlen_q);
  const int head = static_cast<int>(index / params.padded_seqlen_q % params.heads_q);
  const int batch = static_cast<int>(index / params.padded_seqlen_q / params.heads_q);
  float delta = 0.0f;
  float lse_log2 = INFINITY;
  if (row < params.seqlen_q) {
    const auto* out = static_cast<const Element*>(params.out) + batch * params.out_strides.batch +
                      row * params.out_strides.row + head * params.out_strides.head;
    const auto* dout = static_cast<const Element*>(params.dout) +
                       batch * params.dout_strides.batch + row * params.dout_strides.row +
                       head * params.dout_strides.head;
    for (int column = 8 * lane; column < params.head_dim; column += 8 * kLanesPerRow) {
      delta += dot8<Element>(*reinterpret_cast<const uint4*>(out + column),
                             *reinterpret_cast<const uint4*>(dout + column));
    }
    const unsigned group_mask = 0xffu << (threadIdx.x % 32 / kLanesPerRow * kLanesPerRow);
#pragma unroll
    for (int offset = kLanesPerRow / 2; offset > 0; offset /= 2) {
      delta += __shfl_xor_sync(group_mask, delta, offset);
    }
    constexpr float kLog2e = 1.4426950408889634f;
    lse_log2 = params.lse[batch * params.lse_batch_stride + head * params.lse_head_stride +
                          row * params.lse_row_stride] *
               kLog2e;
  }
  if (lane == 0) {
    params.delta[index] = delta;
    params.lse_log2[index] = lse_log2;
  }
}

// Eight dQ elements per thread: two float4 reads of the accumulator, one 16-byte store.
template <typename Element>
__global__ void __launch_bounds__(kPointwiseThreads)
    backward_convert_dq_kernel(const BackwardParams params) {
  const int chunks = params.head_dim / 8;
  const std::int64_t index =
      static_cast<std::int64_t>(blockIdx.x) * kPointwiseThreads + threadIdx.x;
  if (index >=
      static_cast<std::int64_t>(params.batch) * params.heads_q * params.seqlen_q * chunks) {
    return;
  }
  const int chunk = static_cast<int>(index % chunks);
  const std::int64_t row_index = index / chunks;  // over (batch, head, row)
  const int row = static_cast<int>(row_index % params.seqlen_q);
  const std::int64_t batch_head = row_index / params.seqlen_q;
  const int head = static_cast<int>(batch_head % params.heads_q);
  const int batch = static_cast<int>(batch_head / params.heads_q);
  const float* accum = params.dq_accum +
                       (batch_head * params.padded_seqlen_q + row) * params.kernel_head_dim +
                       8 * chunk;
  const float4 low = *reinterpret_cast<const float4*>(accum);
  const float4 high = *reinterpret_cast<const float4*>(accum + 4);
  const float s = params.scale;
  const uint4 packed = make_uint4(
      ptx::pack2<Element>(low.x * s, low.y * s), ptx::pack2<Element>(low.z * s, low.w * s),
      ptx::pack2<Element>(high.x * s, high.y * s), ptx::pack2<Element>(high.z * s, high.w * s));
  auto* dq = static_cast<Element*>(params.dq) + batch * params.dq_strides.batch +
             row * params.dq_strides.row + head * params.dq_strides.head + 8 * chunk;
  *reinterpret_cast<uint4*>(dq) = packed;
}

}  // namespace flashattn::sm80
