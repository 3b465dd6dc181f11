// A CTA that owns a block of query rows (the forward, and the backward's deterministic dQ
// kernel): which key blocks its rows see, which of those need the mask, and the score
// transform (softcap, mask) applied to the S = Q Kᵀ fragments of one key block.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/sm80/tile_io.cuh"

namespace flashattn::sm80 {

// Where this CTA works: its rows, heads and the key blocks its rows can see.
struct ForwardBlock {
  int batch, head, kv_head, first_row, rows, first_key_block, end_key_block;
  // Key blocks [first_unmasked_block, end_unmasked_block) are whole, inside the sequence and
  // visible to every row of the block: they skip the mask.
  int first_unmasked_block, end_unmasked_block;

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
    // Block n is unmasked iff n Bn >= first_key(last row) and (n + 1) Bn - 1 <= last_key(first
    // row), seqlen_k - 1. Computed once here, so the per-block test is two integer compares.
    const std::int64_t unmasked_begin =
        (params.window.first_key(block.first_row + block.rows - 1) + Config::kBlockN - 1) /
        Config::kBlockN;
    const std::int64_t visible_end = params.window.last_key(block.first_row) + 1;
    // Truncating division: a negative visible_end gives an end <= 0, which leaves no block.
    const std::int64_t unmasked_end =
        (visible_end < params.seqlen_k ? visible_end : params.seqlen_k) / Config::kBlockN;
    block.first_unmasked_block = static_cast<int>(unmasked_begin);
    block.end_unmasked_block = static_cast<int>(unmasked_end > 0 ? unmasked_end : 0);
    return block;
  }

  // True when some (row, key) of key block n is masked or past the sequence end.
  __device__ bool needs_mask(int n) const {
    return n < first_unmasked_block || n >= end_unmasked_block;
  }
};

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

// A CTA whose rows see no key: O = 0 and LSE = +inf.
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

}  // namespace flashattn::sm80
