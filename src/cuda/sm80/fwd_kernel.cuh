// The sm80 forward kernel: one CTA per (query block, head, batch). Q, K, V tiles are staged in
// swizzled shared memory by cp.async; S = Q K^T and O += P V run on mma.sync m16n8k16 with P
// kept in registers; an online softmax carries O across key blocks, walked from the last to
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

template <typename Config, typename Element>
__global__ void __launch_bounds__(Config::kThreads, Config::kMinBlocksPerSm)
    forward_kernel(const ForwardParams params) {
  using QueryTile = typename Config::QueryTile;
  using KeyValueTile = typename Config::KeyValueTile;
  extern __shared__ __align__(128) unsigned char shared_memory[];
  Element* q_tile = reinterpret_cast<Element*>(shared_memory);
  Element* k_tile = q_tile + QueryTile::kElements;
  Element* v_tile = k_tile + KeyValueTile::kElements;

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

  float output[Config::kRowTiles][Config::kDimTiles][4] = {};
  OnlineSoftmax<Config::kRowTiles, Config::kKeyTiles, Config::kDimTiles> softmax;
  softmax.reset();

  for (; n >= block.first_key_block; --n) {
    ptx::cp_async_wait<0>();
    __syncthreads();  // K(n) has landed and every warp is done with V(n + 1)
    load_key_block(v_tile, params.v, params.v_strides, n);
    ptx::cp_async_commit();

    float scores[Config::kRowTiles][Config::kKeyTiles][4] = {};
    gemm_abt<Config::kHeadDim / 16, QueryTile, KeyValueTile>(q_tile, warp_row, k_tile, 0, scores);
    const float score_scale = transform_scores(params, block.first_row + warp_row,
                                               static_cast<std::int64_t>(n) * Config::kBlockN,
                                               block.needs_mask(n), scores);
    ptx::cp_async_wait<0>();
    __syncthreads();                  // V(n) has landed and every warp is done with K(n)
    if (n > block.first_key_block) {  // prefetch K(n - 1) behind the softmax and P V
      load_key_block(k_tile, params.k, params.k_strides, n - 1);
      ptx::cp_async_commit();
    }
    softmax.absorb(scores, output, score_scale);
    gemm_pb<KeyValueTile>(scores, v_tile, 0, 0, output);
  }

  // Epilogue: normalise, write the LSE, stage O in the Q tile (each warp its own rows), store.
  finish_rows(softmax, params, block, warp_row, output);
  store_fragments<QueryTile>(q_tile, warp_row, 0, output);
  __syncthreads();
  store_tile<QueryTile, Config::kThreads>(
      q_tile,
      const_cast<Element*>(row_pointer<Element>(params.out, params.out_strides, block.batch,
                                                block.first_row, block.head)),
      params.out_strides.row, block.rows, params.head_dim);
}

}  // namespace flashattn::sm80
