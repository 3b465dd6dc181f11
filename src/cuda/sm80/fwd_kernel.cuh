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
#include "cuda/sm80/softmax.cuh"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"

namespace flashattn::sm80 {

// Where this CTA works: its rows, heads and the key blocks its rows can see.
struct ForwardBlock {
  int batch, head, kv_head, first_row, rows, first_key_block, end_key_block;

  template <typename Config>
  __device__ static ForwardBlock locate(const ForwardParams& params) {
    ForwardBlock block;
    const int row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
    // Heavier (later, for causal) row blocks first: they start while the grid fills up.
    const int row_block = row_blocks - 1 - static_cast<int>(blockIdx.x % row_blocks);
    const int batch_head = static_cast<int>(blockIdx.x / row_blocks);
    block.head = batch_head % params.heads_q;
    block.batch = batch_head / params.heads_q;
    block.kv_head = block.head / params.group_size;
    block.first_row = row_block * Config::kBlockM;
    block.rows = min(Config::kBlockM, params.seqlen_q - block.first_row);
    const auto key_begin = params.window.first_key(block.first_row);
    const auto key_end = params.window.last_key(block.first_row + block.rows - 1) + 1;
    block.first_key_block = static_cast<int>(key_begin / Config::kBlockN);
    block.end_key_block = key_end > key_begin
                              ? static_cast<int>((key_end + Config::kBlockN - 1) / Config::kBlockN)
                              : block.first_key_block;
    return block;
  }

  // True when some (row, key) of key block n is masked or past the sequence end.
  template <typename Config>
  __device__ bool needs_mask(const ForwardParams& params, int n) const {
    const std::int64_t first_key = static_cast<std::int64_t>(n) * Config::kBlockN;
    const std::int64_t last_key = first_key + Config::kBlockN - 1;
    return last_key >= params.seqlen_k ||
           params.window.first_key(first_row + rows - 1) > first_key ||
           params.window.last_key(first_row) < last_key;
  }
};

template <typename Element>
__device__ __forceinline__ const Element* row_pointer(const void* base, const RowStrides& strides,
                                                      int batch, std::int64_t row, int head) {
  return static_cast<const Element*>(base) + batch * strides.batch + row * strides.row +
         head * strides.head;
}

// Applies the softcap (when on) and sets -inf outside the mask or the sequence. Returns the
// factor that takes the result to the log2 domain: the softmax folds it into its exp2 FFMA, so
// the plain path costs nothing here. Each option is a uniform branch around its own loop, and
// the mask's 64-bit window arithmetic runs once per row, not per score.
template <typename Config>
__device__ __forceinline__ float transform_scores(
    const ForwardParams& params, const ForwardBlock& block, int warp_row, int key_block,
    bool masked, float (&scores)[Config::kRowTiles][Config::kKeyTiles][4]) {
  constexpr int kScores = Config::kRowTiles * Config::kKeyTiles * 4;
  float* flat = &scores[0][0][0];
  float score_scale = params.scale_log2;
  if (params.softcap > 0.0f) {
#pragma unroll
    for (int i = 0; i < kScores; ++i) {
      flat[i] = params.softcap_log2 * tanhf(flat[i] * params.softcap_input_scale);
    }
    score_scale = 1.0f;
  } else if (params.scale_log2 <= 0.0f) {  // the max must be taken in a positively scaled domain
#pragma unroll
    for (int i = 0; i < kScores; ++i)
      flat[i] *= params.scale_log2;
    score_scale = 1.0f;
  }
  if (!masked) return score_scale;
  const int lane = threadIdx.x % 32;
  const std::int64_t block_first_key = static_cast<std::int64_t>(key_block) * Config::kBlockN;
  // Keys past the sequence end count as invisible too.
  const std::int64_t keys_in_block = params.seqlen_k - block_first_key;
#pragma unroll
  for (int t = 0; t < Config::kRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t row = block.first_row + warp_row + 16 * t + lane / 4 + 8 * h;
      // Visible keys of this row as block-local columns [begin, end).
      const std::int64_t begin = params.window.first_key(row) - block_first_key;
      const std::int64_t end_window = params.window.last_key(row) + 1 - block_first_key;
      const int visible_begin = static_cast<int>(begin > 0 ? begin : 0);
      std::int64_t end = end_window < keys_in_block ? end_window : keys_in_block;
      end = end < Config::kBlockN ? end : Config::kBlockN;
      const int visible_end = static_cast<int>(end);
#pragma unroll
      for (int n = 0; n < Config::kKeyTiles; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int column = 8 * n + 2 * (lane % 4) + e;
          if (column < visible_begin || column >= visible_end) scores[t][n][2 * h + e] = -INFINITY;
        }
      }
    }
  }
  return score_scale;
}

template <typename Config, typename Element>
__device__ void write_empty_rows(const ForwardParams& params, const ForwardBlock& block) {
  Element* out = const_cast<Element*>(row_pointer<Element>(
      params.out, params.out_strides, block.batch, block.first_row, block.head));
  for (int i = threadIdx.x; i < block.rows * (params.head_dim / 8); i += Config::kThreads) {
    const int row = i / (params.head_dim / 8);
    *reinterpret_cast<uint4*>(out + row * params.out_strides.row +
                              (i % (params.head_dim / 8)) * 8) = make_uint4(0, 0, 0, 0);
  }
  for (int row = threadIdx.x; row < block.rows; row += Config::kThreads) {
    params.lse[block.batch * params.lse_batch_stride + block.head * params.lse_head_stride +
               (block.first_row + row) * params.lse_row_stride] = INFINITY;
  }
}

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
  if (block.end_key_block <= block.first_key_block) {
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

  load_tile_async<QueryTile, Config::kThreads>(
      q_tile,
      row_pointer<Element>(params.q, params.q_strides, block.batch, block.first_row, block.head),
      params.q_strides.row, block.rows, params.head_dim);
  int n = block.end_key_block - 1;
  load_tile_async<KeyValueTile, Config::kThreads>(
      k_tile, key_pointer(params.k, params.k_strides, n), params.k_strides.row, key_rows(n),
      params.head_dim);
  ptx::cp_async_commit();

  float output[Config::kRowTiles][Config::kDimTiles][4] = {};
  OnlineSoftmax<Config::kRowTiles, Config::kKeyTiles, Config::kDimTiles> softmax;
  softmax.reset();

  for (; n >= block.first_key_block; --n) {
    ptx::cp_async_wait<0>();
    __syncthreads();  // K(n) has landed and every warp is done with V(n + 1)
    load_tile_async<KeyValueTile, Config::kThreads>(
        v_tile, key_pointer(params.v, params.v_strides, n), params.v_strides.row, key_rows(n),
        params.head_dim);
    ptx::cp_async_commit();

    float scores[Config::kRowTiles][Config::kKeyTiles][4] = {};
    gemm_abt<Config::kHeadDim / 16, QueryTile, KeyValueTile>(q_tile, warp_row, k_tile, 0, scores);
    const float score_scale = transform_scores<Config>(params, block, warp_row, n,
                                                       block.needs_mask<Config>(params, n), scores);
    ptx::cp_async_wait<0>();
    __syncthreads();                  // V(n) has landed and every warp is done with K(n)
    if (n > block.first_key_block) {  // prefetch K(n - 1) behind the softmax and P V
      load_tile_async<KeyValueTile, Config::kThreads>(
          k_tile, key_pointer(params.k, params.k_strides, n - 1), params.k_strides.row,
          key_rows(n - 1), params.head_dim);
      ptx::cp_async_commit();
    }
    softmax.absorb(scores, output, score_scale);
    gemm_pb<KeyValueTile>(scores, v_tile, 0, 0, output);
  }

  // Epilogue: normalise, write the LSE, stage O in the Q tile (each warp its own rows), store.
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < Config::kRowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float sum = quad_sum(softmax.row_sum[t][h]);
      const float inverse = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int row = warp_row + 16 * t + lane / 4 + 8 * h;
#pragma unroll
      for (int d = 0; d < Config::kDimTiles; ++d) {
        *reinterpret_cast<std::uint32_t*>(q_tile + QueryTile::offset(row, d) + 2 * (lane % 4)) =
            ptx::pack2<Element>(output[t][d][2 * h] * inverse, output[t][d][2 * h + 1] * inverse);
      }
      if (lane % 4 == 0 && row < block.rows) {
        params.lse[block.batch * params.lse_batch_stride + block.head * params.lse_head_stride +
                   (block.first_row + row) * params.lse_row_stride] =
            sum > 0.0f ? (softmax.row_max[t][h] + log2f(sum)) * 0.69314718055994531f : INFINITY;
      }
    }
  }
  __syncthreads();
  store_tile<QueryTile, Config::kThreads>(
      q_tile,
      const_cast<Element*>(row_pointer<Element>(params.out, params.out_strides, block.batch,
                                                block.first_row, block.head)),
      params.out_strides.row, block.rows, params.head_dim);
}

}  // namespace flashattn::sm80
