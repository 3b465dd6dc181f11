// The sm80 forward kernel: one CTA per (query block, head, batch). Q, K, V tiles are staged in
// swizzled shared memory by cp.async; S = Q K^T and O += P V run on mma.sync m16n8k16 with P
// kept in registers (at d192 and d256 shared by the warps through shared memory,
// kSplitValueColumns); an online softmax carries O across key blocks, walked from the last to
// the first so the masked (boundary) blocks come first.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/math.cuh"
#include "cuda/sm80/fwd_config.h"
#include "cuda/sm80/query_block.cuh"
#include "cuda/sm80/softmax.cuh"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"

namespace flashattn::sm80 {

// Softcap: whether the kernel compiles softcap's tanh loop in (launch_forward takes the kernel
// the problem needs; without it the key-block loop is half as long).
template <typename Config, typename Element, bool Softcap>
__global__ void __launch_bounds__(Config::kThreads, Config::kMinBlocksPerSm)
    forward_kernel(const ForwardParams params) {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  extern __shared__ __align__(128) unsigned char shared_memory[];
  Element* q_tile = reinterpret_cast<Element*>(shared_memory);
  Element* k_tile = q_tile + QueryTile::kElements;
  Element* v_tile = k_tile + KeyValueTile::kElements;
  // kSplitValueColumns: P, and per row its O rescale factor and at the end its 1 / sum, for the
  // other warps (apart, so the sums need no barrier behind the last step's factor reads).
  using ProbabilityTile = typename Config::ProbabilityTile;
  Element* p_tile = v_tile + KeyValueTile::kElements;
  float* row_factors = reinterpret_cast<float*>(p_tile + ProbabilityTile::kElements);
  float* row_inverses = row_factors + Config::kBlockM;

  const ForwardBlock block = ForwardBlock::locate<Config>(params);
  if (block.empty()) {
    write_empty_rows<Config, Element>(params, block);
    return;
  }
  const int warp_row = (threadIdx.x / 32) * Config::kRowsPerWarp;
  const auto key_rows = [&](int n) {
    return min(Config::kBlockN, params.seqlen_k - n * Config::kBlockN);
  };
  const auto key_pointer = [&](const void* base, const RowStrides& strides, int n) {
    return row_pointer<Element>(base, strides, block.batch,
                                static_cast<std::int64_t>(n) * Config::kBlockN, block.kv_head);
  };
  // Whole key blocks at the full head dim (all but a ragged last one) skip the bounds checks.
  const bool full_width = params.head_dim == Config::kHeadDim;
  const auto load_key_block = [&](Element* tile, const void* base, const RowStrides& strides,
                                  int n) {
    const Element* source = key_pointer(base, strides, n);
    if (full_width && key_rows(n) == Config::kBlockN) {
      load_full_tile_async<KeyValueTile, Config::kThreads>(tile, source, strides.row);
    } else {
      load_tile_async<KeyValueTile, Config::kThreads>(tile, source, strides.row, key_rows(n),
                                                      params.head_dim);
    }
  };

  load_tile_async<QueryTile, Config::kThreads>(
      q_tile,
      row_pointer<Element>(params.q, params.q_strides, block.batch, block.first_row, block.head),
      params.q_strides.row, block.rows, params.head_dim);
  int n = block.end_key_block - 1;
  load_key_block(k_tile, params.k, params.k_strides, n);
  ptx::cp_async_commit();

  // This warp's O: its rows at every column, or (kSplitValueColumns) every row at its columns.
  float output[Config::kOutputRowTiles][Config::kOutputDimTiles][4] = {};
  OnlineSoftmax<Config::kRowTiles, Config::kKeyTiles, Config::kOutputDimTiles> softmax;
  softmax.reset();
  // kSplitValueColumns: this warp's O tile is rows value_row + [0, kValueRowsPerWarp) at
  // columns warp_column + [0, kColumnsPerWarp); the owner of a row publishes its factor in
  // row_factors, the others multiply their columns by it.
  // With one row group every warp is its own column group: the warp index taken as it is, not
  // modulo the groups (that mask rode into d256's key loop: 8 more instructions per block).
  constexpr bool kOneRowGroup = Config::kValueRowGroups == 1;
  const unsigned warp = threadIdx.x / 32;
  const int warp_column =
      (kOneRowGroup ? warp : warp % Config::kValueColumnGroups) * Config::kColumnsPerWarp;
  const int value_row = kOneRowGroup ? 0
                                     : static_cast<int>(warp / Config::kValueColumnGroups) *
                                           Config::kValueRowsPerWarp;
  const int lane = threadIdx.x % 32;
  const auto scale_output_rows = [&](const float* factors) {
    scale_rows(output,
               [&](int t, int h) { return factors[value_row + 16 * t + lane / 4 + 8 * h]; });
  };
  const auto publish_row_factors = [&](float* factors, const float(&factor)[1][2]) {
    if (lane % 4 == 0) {
#pragma unroll
      for (int h = 0; h < 2; ++h)
        factors[warp_row + lane / 4 + 8 * h] = factor[0][h];
    }
  };

  for (; n >= block.first_key_block; --n) {
    ptx::cp_async_wait<0>();
    __syncthreads();  // K(n) has landed and every warp is done with V(n + 1)
    load_key_block(v_tile, params.v, params.v_strides, n);
    ptx::cp_async_commit();

    float scores[Config::kRowTiles][Config::kKeyTiles][4] = {};
    gemm_abt<Config::kHeadDim / 16, QueryTile, KeyValueTile>(q_tile, warp_row, k_tile, 0, scores);
    const float score_scale = transform_scores<Config::kRowTiles, Config::kKeyTiles, true, Softcap>(
        params, block.first_row + warp_row, static_cast<std::int64_t>(n) * Config::kBlockN,
        block.needs_mask(n), scores);
    if constexpr (Config::kSplitValueColumns) {
      // The rows' softmax before the barrier, P and the rescale factors out to the other warps
      // (the previous step's readers are past the top barrier); after it every warp adds P V
      // at its columns, rescaling them first where any row's reference moved.
      const auto rescale = softmax.raise_max(scores, score_scale);
      softmax.exponentiate(scores, score_scale);
      store_fragments<ProbabilityTile>(p_tile, warp_row, 0, scores);
      publish_row_factors(row_factors, rescale.factor);
      ptx::cp_async_wait<0>();
      // V(n) has landed, every warp is done with K(n), and P and the factors are visible.
      const bool any_rescale = __syncthreads_or(rescale.any);
      if (n > block.first_key_block) {  // prefetch K(n - 1) behind the P V
        load_key_block(k_tile, params.k, params.k_strides, n - 1);
        ptx::cp_async_commit();
      }
      if (any_rescale) scale_output_rows(row_factors);
      gemm<Config::kBlockN / 16, false, true, ProbabilityTile, KeyValueTile,
           Config::kValueXorSteps>(p_tile, value_row, 0, v_tile, 0, warp_column, output);
    } else {
      ptx::cp_async_wait<0>();
      __syncthreads();                  // V(n) has landed and every warp is done with K(n)
      if (n > block.first_key_block) {  // prefetch K(n - 1) behind the softmax and P V
        load_key_block(k_tile, params.k, params.k_strides, n - 1);
        ptx::cp_async_commit();
      }
      softmax.absorb(scores, output, score_scale);
      gemm_pb<KeyValueTile>(scores, v_tile, 0, 0, output);
    }
  }

  // Epilogue: normalise, write the LSE, stage O in the Q tile (each warp its own rows, or its
  // columns once every warp is done reading Q), store.
  if constexpr (Config::kSplitValueColumns) {
    float inverse[1][2];
    finish_row_sums(softmax, params, block, warp_row, inverse);
    publish_row_factors(row_inverses, inverse);
    __syncthreads();
    scale_output_rows(row_inverses);
    store_fragments<QueryTile>(q_tile, value_row, warp_column, output);
  } else {
    finish_rows(softmax, params, block, warp_row, output);
    store_fragments<QueryTile>(q_tile, warp_row, 0, output);
  }
  __syncthreads();
  store_tile<QueryTile, Config::kThreads>(
      q_tile,
      const_cast<Element*>(row_pointer<Element>(params.out, params.out_strides, block.batch,
                                                block.first_row, block.head)),
      params.out_strides.row, block.rows, params.head_dim);
}

}  // namespace flashattn::sm80
