// Online softmax on mma C fragments, in the exp2 domain. A thread holds, per m16 row tile, two
// rows (group and group + 8) and two columns of each n8 tile; the 4 threads of a quad share a
// row, so row reductions are two xor-shuffles.
#pragma once

#include <cmath>

#include "cuda/ptx/math.cuh"

namespace flashattn::sm80 {

__device__ __forceinline__ float quad_max(float value) {
  value = fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 1));
  return fmaxf(value, __shfl_xor_sync(0xffffffffu, value, 2));
}

__device__ __forceinline__ float quad_sum(float value) {
  value += __shfl_xor_sync(0xffffffffu, value, 1);
  return value + __shfl_xor_sync(0xffffffffu, value, 2);
}

template <int RowTiles, int KeyTiles, int DimTiles>
struct OnlineSoftmax {
  float row_max[RowTiles][2];  // running max of the scaled (log2-domain) scores, quad-uniform
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

  // scores (log2 domain, -inf where masked) -> exp2(s - m_new) in place; the output rows are
  // rescaled by exp2(m_old - m_new).
  __device__ __forceinline__ void absorb(float (&scores)[RowTiles][KeyTiles][4],
                                         float (&output)[RowTiles][DimTiles][4]) {
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float new_max = row_max[t][h];
#pragma unroll
        for (int n = 0; n < KeyTiles; ++n) {
          new_max = fmaxf(new_max, fmaxf(scores[t][n][2 * h], scores[t][n][2 * h + 1]));
        }
        new_max = quad_max(new_max);
        // A row that has seen only masked keys keeps max -inf; subtracting 0 instead keeps
        // exp2 at 0 rather than NaN.
        const float reference = new_max == -INFINITY ? 0.0f : new_max;
        const float correction = ptx::exp2_approx(row_max[t][h] - reference);
        row_max[t][h] = new_max;
        float sum = row_sum[t][h] * correction;
#pragma unroll
        for (int d = 0; d < DimTiles; ++d) {
          output[t][d][2 * h] *= correction;
          output[t][d][2 * h + 1] *= correction;
        }
#pragma unroll
        for (int n = 0; n < KeyTiles; ++n) {
#pragma unroll
          for (int e = 2 * h; e < 2 * h + 2; ++e) {
            scores[t][n][e] = ptx::exp2_approx(scores[t][n][e] - reference);
            sum += scores[t][n][e];
          }
        }
        row_sum[t][h] = sum;
      }
    }
  }
};

}  // namespace flashattn::sm80
