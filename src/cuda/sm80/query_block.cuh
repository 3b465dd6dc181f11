// A CTA that owns a block of query rows (the forward, and the backward's deterministic dQ
// kernel): which key blocks its rows see and which of those need the mask; and, for every
// kernel, the score transform (softcap, mask) applied to a warp's S = Q Kᵀ fragments and the
// backward's P and dS from them.
#pragma once

#include <cmath>
#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/math.cuh"
#include "cuda/sm80/tile_io.cuh"

namespace flashattn::sm80 {

// Where this CTA works: its rows, heads and the key blocks its rows can see.
struct ForwardBlock {
  // The tile's rows are first_row + [0, kBlockM); of those, [first_valid_row, rows) lie in the
  // sequence (first_row < 0 only for blocks aligned to the sequence end).
  int batch, head, kv_head, first_row, first_valid_row, rows, first_key_block, end_key_block;
  // Key blocks [first_unmasked_block, end_unmasked_block) are whole, inside the sequence and
  // visible to every row of the block: they skip the mask.
  int first_unmasked_block, end_unmasked_block;

  // A CTA per block takes tile blockIdx.x.
  template <typename Config>
  __device__ static ForwardBlock locate(const ForwardParams& params) {
    return of_tile<Config>(params, static_cast<int>(blockIdx.x));
  }

  // Tile `tile` of batch x heads x row blocks, each head's in turn. With kAlignedToEnd the
  // blocks end at the sequence's end instead of starting at its start, so a partial block is
  // the first one: under a causal mask the block that sees the fewest keys, not the most (its
  // rows before the sequence start are zero-filled by TMA and never stored).
  template <typename Config, bool kAlignedToEnd = false>
  __device__ static ForwardBlock of_tile(const ForwardParams& params, int tile) {
    ForwardBlock block;
    const int row_blocks = (params.seqlen_q + Config::kBlockM - 1) / Config::kBlockM;
    // Heavier (later, for causal) row blocks first: they start while the grid fills up.
    const int blocks_from_end = tile % row_blocks;
    const int batch_head = tile / row_blocks;
    block.head = batch_head % params.heads_q;
    block.batch = batch_head / params.heads_q;
    block.kv_head = block.head / params.group_size;
    block.first_row = kAlignedToEnd ? params.seqlen_q - (blocks_from_end + 1) * Config::kBlockM
                                    : (row_blocks - 1 - blocks_from_end) * Config::kBlockM;
    block.first_valid_row = max(0, -block.first_row);
    block.rows = min(Config::kBlockM, params.seqlen_q - block.first_row);
    const int first_row = block.first_sequence_row();
    const auto key_begin = params.window.first_key(first_row);
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
    const std::int64_t visible_end = params.window.last_key(first_row) + 1;
    // Truncating division: a negative visible_end gives an end <= 0, which leaves no block.
    const std::int64_t unmasked_end =
        (visible_end < params.seqlen_k ? visible_end : params.seqlen_k) / Config::kBlockN;
    block.first_unmasked_block = static_cast<int>(unmasked_begin);
    block.end_unmasked_block = static_cast<int>(unmasked_end > 0 ? unmasked_end : 0);
    return block;
  }

  // The first of the block's rows that lies in the sequence.
  __device__ int first_sequence_row() const { return first_row + first_valid_row; }

  // No row of the block sees a key: its output is written without any key block.
  __device__ bool empty() const { return end_key_block <= first_key_block; }

  // True when some (row, key) of key block n is masked or past the sequence end.
  __device__ bool needs_mask(int n) const {
    return n < first_unmasked_block || n >= end_unmasked_block;
  }
};

// Applies the softcap (when on) and sets -inf outside the mask or the sequence to the S = Q Kᵀ
// fragments of a warp whose fragment (0, 0) is (query first_row, key first_key). Returns the
// factor that takes the result to the log2 domain: the softmax (or the backward's exp2 against
// the LSE) folds it into its exp2 FFMA, so the plain path costs nothing here. Each option is a
// uniform branch around its own loop, and the mask's 64-bit window arithmetic runs once per
// row, not per score. Banded = false: the caller runs only problems without a causal or window
// mask, so only the sequence's end is masked. Softcap = false: the caller runs only problems
// without a softcap, so its tanh loop stays out of the caller's key-block loop.
template <int RowTiles, int KeyTiles, bool Banded = true, bool Softcap = true>
__device__ __forceinline__ float transform_scores(const ForwardParams& params,
                                                  std::int64_t first_row, std::int64_t first_key,
                                                  bool masked,
                                                  float (&scores)[RowTiles][KeyTiles][4]) {
  constexpr int kScores = RowTiles * KeyTiles * 4;
  constexpr int kColumns = 8 * KeyTiles;
  float* flat = &scores[0][0][0];
  float score_scale = params.scale_log2;
  if (Softcap && params.softcap > 0.0f) {
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
  // Keys past the sequence end count as invisible too.
  const std::int64_t keys_left = params.seqlen_k - first_key;
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const std::int64_t row = first_row + 16 * t + lane / 4 + 8 * h;
      // Visible keys of this row as fragment columns [begin, end).
      const std::int64_t begin = Banded ? params.window.first_key(row) - first_key : 0;
      const std::int64_t end_window =
          Banded ? params.window.last_key(row) + 1 - first_key : kColumns;
      const int visible_begin = static_cast<int>(begin > 0 ? begin : 0);
      std::int64_t end = end_window < keys_left ? end_window : keys_left;
      end = end < kColumns ? end : kColumns;
      const int visible_end = static_cast<int>(end);
#pragma unroll
      for (int n = 0; n < KeyTiles; ++n) {
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

// The backward's probability of one score after transform_scores: P = exp2(s·score_scale −
// LSE·log2 e) (rows past the sequence or seeing nothing have LSE +inf: P = 0).
__device__ __forceinline__ float probability(float score, float score_scale, float lse_log2) {
  return ptx::exp2_approx(fmaf(score, score_scale, -lse_log2));
}

// update(t, n, e) for every element of a warp's S-shaped [RowTiles][KeyTiles][4] fragments.
template <int RowTiles, int KeyTiles, typename Update>
__device__ __forceinline__ void for_each_score_element(Update&& update) {
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int n = 0; n < KeyTiles; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e)
        update(t, n, e);
    }
  }
}

// dP becomes dS = P ∘ (dP − delta), P already formed (no softcap).
template <int RowTiles, int KeyTiles>
__device__ __forceinline__ void score_grad(const float (&delta)[RowTiles][2],
                                           const float (&p)[RowTiles][KeyTiles][4],
                                           float (&dp)[RowTiles][KeyTiles][4]) {
  for_each_score_element<RowTiles, KeyTiles>(
      [&](int t, int n, int e) { dp[t][n][e] = (dp[t][n][e] - delta[t][e / 2]) * p[t][n][e]; });
}

// The backward's pointwise step on a warp's S-shaped fragments, after transform_scores: the
// scores become P (probability) and dP becomes dS = P ∘ (dP − delta), times 1 − tanh² under
// softcap, recovered from the capped scores (masked −inf clamps to tanh = ±1, derivative 0) so
// it needs no registers of its own. lse_log2 and delta hold the thread's rows [t][h].
template <int RowTiles, int KeyTiles>
__device__ __forceinline__ void probabilities_and_score_grad(const ForwardParams& params,
                                                             float score_scale,
                                                             const float (&lse_log2)[RowTiles][2],
                                                             const float (&delta)[RowTiles][2],
                                                             float (&scores)[RowTiles][KeyTiles][4],
                                                             float (&dp)[RowTiles][KeyTiles][4]) {
  const auto for_each = [](auto&& update) { for_each_score_element<RowTiles, KeyTiles>(update); };
  if (params.softcap > 0.0f) {
    const float inverse = 1.0f / params.softcap_log2;
    for_each([&](int t, int n, int e) {
      const float tanh_value = fminf(fabsf(scores[t][n][e] * inverse), 1.0f);
      dp[t][n][e] = (dp[t][n][e] - delta[t][e / 2]) * (1.0f - tanh_value * tanh_value);
    });
  } else {
    for_each([&](int t, int n, int e) { dp[t][n][e] -= delta[t][e / 2]; });
  }
  for_each([&](int t, int n, int e) {
    scores[t][n][e] = probability(scores[t][n][e], score_scale, lse_log2[t][e / 2]);
    dp[t][n][e] *= scores[t][n][e];
  });
}

// A block whose rows see no key: O = 0 and LSE = +inf, written by threads [0, threads) of which
// this is `thread`.
template <typename Element>
__device__ void write_empty_rows(const ForwardParams& params, const ForwardBlock& block, int thread,
                                 int threads) {
  const int first_row = block.first_sequence_row();
  const int rows = block.rows - block.first_valid_row;
  Element* out = const_cast<Element*>(
      row_pointer<Element>(params.out, params.out_strides, block.batch, first_row, block.head));
  for (int i = thread; i < rows * (params.head_dim / 8); i += threads) {
    const int row = i / (params.head_dim / 8);
    *reinterpret_cast<uint4*>(out + row * params.out_strides.row +
                              (i % (params.head_dim / 8)) * 8) = make_uint4(0, 0, 0, 0);
  }
  for (int row = thread; row < rows; row += threads) {
    params.lse[block.batch * params.lse_batch_stride + block.head * params.lse_head_stride +
               (first_row + row) * params.lse_row_stride] = INFINITY;
  }
}

// The same by the whole CTA (one CTA per block).
template <typename Config, typename Element>
__device__ void write_empty_rows(const ForwardParams& params, const ForwardBlock& block) {
  write_empty_rows<Element>(params, block, threadIdx.x, Config::kThreads);
}

}  // namespace flashattn::sm80
