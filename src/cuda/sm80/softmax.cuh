// Online softmax on mma C fragments, in the exp2 domain. A thread holds, per m16 row tile, two
// rows (group and group + 8) and two columns of each n8 tile; the 4 threads of a quad share a
// row, so row reductions are two xor-shuffles.
#pragma once

#include <cmath>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/math.cuh"
#include "cuda/sm80/query_block.cuh"

namespace flashattn::sm80 {

__device__ __forceinline__ float quad_max(float value) {
  value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 1));
  return fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 2));
}

__device__ __forceinline__ float quad_sum(float value) {
  value += __shfl_xor_sync(0xffffffffu, value, 1);
  return value + __shfl_xor_sync(0xffffffffu, value, 2);
}

// Multiplies each of this thread's O rows (row tile t, half h: rows group and group + 8) by
// factor(t, h).
template <int RowTiles, int DimTiles, typename Factor>
__device__ __forceinline__ void scale_rows(float (&output)[RowTiles][DimTiles][4], Factor factor) {
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float row_factor = factor(t, h);
#pragma unroll
      for (int d = 0; d < DimTiles; ++d) {
        output[t][d][2 * h] *= row_factor;
        output[t][d][2 * h + 1] *= row_factor;
      }
    }
  }
}

// The reference max only moves when some row of the warp grew by more than this (log2 units):
// until then probabilities are exp2(s - stale max) <= 2^8, exact in fp32 sums and in the 16-bit
// P, and the O rescale (a multiply per output element) is skipped. The final normalisation
// uses the same reference, so the result does not depend on when it moved.
inline constexpr float kRescaleThreshold = 8.0f;

// A row's max or sum over its fragment columns as Count independent chains (key tile n feeds
// chain n % Count), joined at the end: one chain is a string of dependent FMNMX/FADDs the warp
// waits on, several overlap. With one chain the order is exactly a plain loop's.
template <int Count>
struct RowChains {
  float chain[Count];

  __device__ __forceinline__ RowChains(float first, float identity) {
#pragma unroll
    for (int c = 0; c < Count; ++c)
      chain[c] = c == 0 ? first : identity;
  }
  template <typename Combine>
  __device__ __forceinline__ void add(int n, float value, Combine combine) {
    chain[n % Count] = combine(chain[n % Count], value);
  }
  template <typename Combine>
  __device__ __forceinline__ float join(Combine combine) {
#pragma unroll
    for (int stride = 1; stride < Count; stride *= 2) {
#pragma unroll
      for (int c = 0; c + stride < Count; c += 2 * stride)
        chain[c] = combine(chain[c], chain[c + stride]);
    }
    return chain[0];
  }
};

// ReductionChains: how many independent chains a row's max and sum run in (RowChains).
template <int RowTiles, int KeyTiles, int DimTiles, int ReductionChains = 1>
struct OnlineSoftmax {
  float row_max[RowTiles][2];  // reference max of the log2-domain scores, quad-uniform
  float row_sum[RowTiles][2];  // this thread's part of the running sum; reduced at the end

  __device__ __forceinline__ void reset() {
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        row_max[t][h] = -INFINITY;
        row_sum[t][h] = 0.0f;
      }
    }
  }

  // How O must be rescaled after a step: a factor per row, and whether any row of the warp moved.
  struct Rescale {
    float factor[RowTiles][2];
    bool any;
  };

  static constexpr int kChains = KeyTiles < ReductionChains ? KeyTiles : ReductionChains;

  // scores * score_scale are the log2-domain scores (score_scale > 0; -inf where masked).
  // Turns them into exp2(score - reference) in place and returns the O rescale the step needs
  // (apply it before adding this step's P V).
  __device__ __forceinline__ Rescale absorb_scores(float (&scores)[RowTiles][KeyTiles][4],
                                                   float score_scale) {
    const Rescale rescale = raise_max(scores, score_scale);
    exponentiate(scores, score_scale);
    return rescale;
  }

  // absorb_scores' first half: the reference max moves (when it must) to the step's row max;
  // returns the O rescale. The scores are left as they are.
  __device__ __forceinline__ Rescale raise_max(const float (&scores)[RowTiles][KeyTiles][4],
                                               float score_scale) {
    const auto max = [](float a, float b) { return fmaxf(a, b); };
    float tile_max[RowTiles][2];
    bool grows = false;
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        RowChains<kChains> value(-INFINITY, -INFINITY);
#pragma unroll
        for (int n = 0; n < KeyTiles; ++n) {
          value.add(n, fmaxf(scores[t][n][2 * h], scores[t][n][2 * h + 1]), max);
        }
        tile_max[t][h] = quad_max(value.join(max)) * score_scale;
        // -inf - -inf is NaN and compares false: rows that saw nothing do not ask to move.
        grows |= tile_max[t][h] - row_max[t][h] > kRescaleThreshold;
      }
    }
    Rescale rescale;
    rescale.any = __any_sync(0xffffffffu, grows);
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        rescale.factor[t][h] = 1.0f;
        if (rescale.any && tile_max[t][h] > row_max[t][h]) {
          rescale.factor[t][h] = ptx::exp2_approx(row_max[t][h] - tile_max[t][h]);  // -inf: 0
          row_max[t][h] = tile_max[t][h];
          row_sum[t][h] *= rescale.factor[t][h];
        }
      }
    }
    return rescale;
  }

  // absorb_scores' second half: the scores become exp2(score - reference), added to the sums.
  __device__ __forceinline__ void exponentiate(float (&scores)[RowTiles][KeyTiles][4],
                                               float score_scale) {
    const auto plus = [](float a, float b) { return a + b; };
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        // A row that has seen only masked keys keeps max -inf: subtract 0 so exp2 gives 0.
        const float reference = row_max[t][h] == -INFINITY ? 0.0f : row_max[t][h];
        // One chain adds each probability as it is formed; several add the row's pairs once
        // all are formed (each measured the faster where it is used).
        RowChains<kChains> sum(kChains == 1 ? row_sum[t][h] : 0.0f, 0.0f);
#pragma unroll
        for (int n = 0; n < KeyTiles; ++n) {
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e) {
            scores[t][n][e] = ptx::exp2_approx(fmaf(scores[t][n][e], score_scale, -reference));
            if constexpr (kChains == 1) sum.add(n, scores[t][n][e], plus);
          }
        }
        if constexpr (kChains == 1) {
          row_sum[t][h] = sum.join(plus);
        } else {
#pragma unroll
          for (int n = 0; n < KeyTiles; ++n) {
            sum.add(n, scores[t][n][2 * h] + scores[t][n][2 * h + 1], plus);
          }
          row_sum[t][h] += sum.join(plus);
        }
      }
    }
  }

  __device__ __forceinline__ static void apply(const Rescale& rescale,
                                               float (&output)[RowTiles][DimTiles][4]) {
    if (rescale.any) scale_rows(output, [&](int t, int h) { return rescale.factor[t][h]; });
  }

  __device__ __forceinline__ void absorb(float (&scores)[RowTiles][KeyTiles][4],
                                         float (&output)[RowTiles][DimTiles][4],
                                         float score_scale) {
    apply(absorb_scores(scores, score_scale), output);
  }
};

// After the last key block: this thread's rows' 1 / sum (0 for rows that saw no key), and their
// LSE = (reference max + log2 sum) ln 2 written (+inf for rows that saw no key).
template <int RowTiles, int KeyTiles, int DimTiles, int ReductionChains>
__device__ __forceinline__ void finish_row_sums(
    const OnlineSoftmax<RowTiles, KeyTiles, DimTiles, ReductionChains>& softmax,
    const ForwardParams& params, const ForwardBlock& block, int warp_row,
    float (&inverse)[RowTiles][2]) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float sum = quad_sum(softmax.row_sum[t][h]);
      inverse[t][h] = sum > 0.0f ? 1.0f / sum : 0.0f;
      const int row = warp_row + 16 * t + lane / 4 + 8 * h;
      if (lane % 4 == 0 && row >= block.first_valid_row && row < block.rows) {
        params.lse[block.batch * params.lse_batch_stride + block.head * params.lse_head_stride +
                   (block.first_row + row) * params.lse_row_stride] =
            sum > 0.0f ? (softmax.row_max[t][h] + log2f(sum)) * 0.69314718055994531f : INFINITY;
      }
    }
  }
}

// After the last key block: divides this thread's output rows by their sums and writes their
// LSE (finish_row_sums; O = 0 for rows that saw no key).
template <int RowTiles, int KeyTiles, int DimTiles, int ReductionChains>
__device__ __forceinline__ void finish_rows(
    const OnlineSoftmax<RowTiles, KeyTiles, DimTiles, ReductionChains>& softmax,
    const ForwardParams& params, const ForwardBlock& block, int warp_row,
    float (&output)[RowTiles][DimTiles][4]) {
  float inverse[RowTiles][2];
  finish_row_sums(softmax, params, block, warp_row, inverse);
  scale_rows(output, [&](int t, int h) { return inverse[t][h]; });
}

}  // namespace flashattn::sm80
