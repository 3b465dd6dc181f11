// The deterministic backward's dQ kernel: one CTA per (query block, head, batch), like the
// forward, walking its visible key blocks and summing dQ = scale · Σ dS K in registers in a
// fixed order (no atomics). Per key block: S = Q Kᵀ, P = exp2(S − LSE) in the exp2 domain,
// dP = dO Vᵀ, dS = P ∘ (dP − delta) (times 1 − tanh² under softcap), dQ += dS K. K and V are
// double-buffered: the next pair loads behind the whole step.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "cuda/common/bwd_params.h"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/math.cuh"
#include "cuda/sm80/fwd_config.h"
#include "cuda/sm80/query_block.cuh"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"

namespace flashattn::sm80 {

// Warps own whole query rows, as in the forward; smaller key blocks above d128 keep the dQ
// accumulator, S and dP in registers.
template <int HeadDim>
struct BackwardDqConfig : ForwardTiles<HeadDim, 64, (HeadDim > 128 ? 32 : 64), 4> {
  using Base = ForwardTiles<HeadDim, 64, (HeadDim > 128 ? 32 : 64), 4>;
  // Q and dO, then two stages of K and V.
  static constexpr int kSmemBytes =
      2 * (2 * Base::QueryTile::kElements + 4 * Base::KeyValueTile::kElements);
};

template <typename Config, typename Element>
__global__ void __launch_bounds__(Config::kThreads, 1)
    backward_dq_kernel(const BackwardParams params) {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  constexpr int kRowTiles = Config::kRowTiles;
  constexpr int kKeyTiles = Config::kKeyTiles;
  extern __shared__ __align__(128) unsigned char shared_memory[];
  Element* q_tile = reinterpret_cast<Element*>(shared_memory);
  Element* dout_tile = q_tile + QueryTile::kElements;
  Element* key_value = dout_tile + QueryTile::kElements;  // stage s: K at 2s, V at 2s + 1
  const auto key_tile = [&](int stage) { return key_value + 2 * stage * KeyValueTile::kElements; };
  const auto value_tile = [&](int stage) { return key_tile(stage) + KeyValueTile::kElements; };

  const ForwardBlock block = ForwardBlock::locate<Config>(params);
  const int warp_row = threadIdx.x / 32 * Config::kRowsPerWarp;
  const int lane = threadIdx.x % 32;
  const auto load_key_block = [&](int n, int stage) {
    const std::int64_t first_key = static_cast<std::int64_t>(n) * Config::kBlockN;
    const int keys = min(Config::kBlockN, params.seqlen_k - n * Config::kBlockN);
    load_tile_async<KeyValueTile, Config::kThreads>(
        key_tile(stage),
        row_pointer<Element>(params.k, params.k_strides, block.batch, first_key, block.kv_head),
        params.k_strides.row, keys, params.head_dim);
    load_tile_async<KeyValueTile, Config::kThreads>(
        value_tile(stage),
        row_pointer<Element>(params.v, params.v_strides, block.batch, first_key, block.kv_head),
        params.v_strides.row, keys, params.head_dim);
    ptx::cp_async_commit();
  };

  float dq[kRowTiles][Config::kDimTiles][4] = {};
  if (block.end_key_block > block.first_key_block) {
    load_tile_async<QueryTile, Config::kThreads>(
        q_tile,
        row_pointer<Element>(params.q, params.q_strides, block.batch, block.first_row, block.head),
        params.q_strides.row, block.rows, params.head_dim);
    load_tile_async<QueryTile, Config::kThreads>(
        dout_tile,
        row_pointer<Element>(params.dout, params.dout_strides, block.batch, block.first_row,
                             block.head),
        params.dout_strides.row, block.rows, params.head_dim);
    load_key_block(block.end_key_block - 1, 0);
  }
  // This thread's rows' LSE (exp2 domain) and delta, from the padded workspace.
  float lse_log2[kRowTiles][2], delta[kRowTiles][2];
  const std::int64_t workspace_row =
      (static_cast<std::int64_t>(block.batch) * params.heads_q + block.head) *
          params.padded_seqlen_q +
      block.first_row;
#pragma unroll
  for (int t = 0; t < kRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = warp_row + 16 * t + lane / 4 + 8 * h;
      lse_log2[t][h] = params.lse_log2[workspace_row + row];
      delta[t][h] = params.delta[workspace_row + row];
    }
  }

  for (int n = block.end_key_block - 1, stage = 0; n >= block.first_key_block; --n, stage ^= 1) {
    ptx::cp_async_wait<0>();
    __syncthreads();  // K(n), V(n) landed; every warp is done with the other stage
    if (n > block.first_key_block) load_key_block(n - 1, stage ^ 1);

    // dP first: the scores then go straight from transform_scores to P and dS.
    float ds[kRowTiles][kKeyTiles][4] = {};
    gemm_abt<Config::kHeadDim / 16, QueryTile, KeyValueTile>(dout_tile, warp_row, value_tile(stage),
                                                             0, ds);
    float p[kRowTiles][kKeyTiles][4] = {};
    gemm_abt<Config::kHeadDim / 16, QueryTile, KeyValueTile>(q_tile, warp_row, key_tile(stage), 0,
                                                             p);
    const float score_scale =
        transform_scores(params, block.first_row + warp_row,
                         static_cast<std::int64_t>(n) * Config::kBlockN, block.needs_mask(n), p);
    probabilities_and_score_grad(params, score_scale, lse_log2, delta, p, ds);
    gemm_pb<KeyValueTile>(ds, key_tile(stage), 0, 0, dq);
  }
  store_fragment_rows(dq, params.scale,
                      const_cast<Element*>(row_pointer<Element>(
                          params.dq, params.dq_strides, block.batch, block.first_row, block.head)),
                      params.dq_strides.row, warp_row, block.rows, params.head_dim);
}

}  // namespace flashattn::sm80
