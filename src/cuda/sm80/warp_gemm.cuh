// Warp-level GEMMs on mma.sync m16n8k16, operands from swizzled shared-memory tiles (ldmatrix)
// or from registers. An accumulator acc[RowTiles][ColTiles][4] holds the C fragments of
// RowTiles m16 tiles by ColTiles n8 tiles (ColTiles even: one ldmatrix x4 feeds two n8 tiles).
// Every tile is stored row-major with 16-byte chunks swizzled (SwizzledTile); which dimension
// is the GEMM's k decides between plain and `.trans` loads:
//   gemm_abt  acc += A Bᵀ  A [m][k], B [n][k]          forward S = Q Kᵀ; backward Sᵀ = K Qᵀ, dPᵀ =
//   V dOᵀ gemm_pb   acc += P B   P in registers, B [k][n]    forward O += P V; backward dV += Pᵀ
//   dO, dK += dSᵀ Q gemm_atb  acc += Aᵀ B  A stored [k][m], B [k][n]   backward dQ += dS K from the
//   stored dSᵀ
#pragma once

#include <cstdint>

#include "cuda/ptx/ldmatrix.cuh"
#include "cuda/ptx/mma.cuh"

namespace flashattn::sm80 {

// Two C fragments of adjacent n8 tiles, rounded to 16 bits, are one A fragment (see mma.cuh).
template <typename Element>
__device__ __forceinline__ void pack_a_fragment(std::uint32_t (&a)[4], const float (&left)[4],
                                                const float (&right)[4]) {
  a[0] = ptx::pack2<Element>(left[0], left[1]);
  a[1] = ptx::pack2<Element>(left[2], left[3]);
  a[2] = ptx::pack2<Element>(right[0], right[1]);
  a[3] = ptx::pack2<Element>(right[2], right[3]);
}

// acc[t][2 np], acc[t][2 np + 1] += a[t] * (the two B fragments of one ldmatrix x4).
template <typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void mma_row_tiles(float (&acc)[RowTiles][ColTiles][4],
                                              const std::uint32_t (&a)[RowTiles][4],
                                              const std::uint32_t (&b)[4], int np) {
  const std::uint32_t first[2] = {b[0], b[1]};
  const std::uint32_t second[2] = {b[2], b[3]};
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
    ptx::mma_m16n8k16<Element>(acc[t][2 * np], a[t], first);
    ptx::mma_m16n8k16<Element>(acc[t][2 * np + 1], a[t], second);
  }
}

// acc += A Bᵀ over k in [0, 16 KSteps): A = rows [a_row, a_row + 16 RowTiles) of `a`,
// B = rows [b_row, b_row + 8 ColTiles) of `b`.
template <int KSteps, typename ATile, typename BTile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void gemm_abt(const Element* a, int a_row, const Element* b, int b_row,
                                         float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(ColTiles % 2 == 0);
  const int lane = threadIdx.x % 32;
  const int matrix = lane / 8;
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
      const int row = a_row + 16 * t + lane % 8 + 8 * (matrix % 2);
      ptx::ldmatrix_x4(a_fragments[t], a + ATile::offset(row, 2 * kk + matrix / 2));
    }
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      const int row = b_row + 16 * np + lane % 8 + 8 * (matrix / 2);
      ptx::ldmatrix_x4(b_fragments, b + BTile::offset(row, 2 * kk + matrix % 2));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

// acc += P B: P [16 RowTiles x 8 PTiles] in registers as C fragments (k = its columns),
// B = rows [b_row, b_row + 8 PTiles) x columns [b_column, b_column + 8 ColTiles) of `b`.
template <typename BTile, typename Element, int RowTiles, int PTiles, int ColTiles>
__device__ __forceinline__ void gemm_pb(const float (&p)[RowTiles][PTiles][4], const Element* b,
                                        int b_row, int b_column,
                                        float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(PTiles % 2 == 0 && ColTiles % 2 == 0);
  const int lane = threadIdx.x % 32;
  const int matrix = lane / 8;
#pragma unroll
  for (int kk = 0; kk < PTiles / 2; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
      pack_a_fragment<Element>(a_fragments[t], p[t][2 * kk], p[t][2 * kk + 1]);
    }
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      const int row = b_row + 16 * kk + lane % 8 + 8 * (matrix % 2);
      ptx::ldmatrix_x4_trans(b_fragments,
                             b + BTile::offset(row, b_column / 8 + 2 * np + matrix / 2));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

// acc += Aᵀ B over k in [0, 16 KSteps): `a` holds Aᵀ, so A's rows [a_column, +16 RowTiles) are
// columns of `a` and k runs down rows [a_row, ...); B = rows [b_row, ...) x columns
// [b_column, b_column + 8 ColTiles) of `b`.
template <int KSteps, typename ATile, typename BTile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void gemm_atb(const Element* a, int a_row, int a_column,
                                         const Element* b, int b_row, int b_column,
                                         float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(ColTiles % 2 == 0);
  const int lane = threadIdx.x % 32;
  const int matrix = lane / 8;
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
#pragma unroll
    for (int t = 0; t < RowTiles; ++t) {
      // Matrix i of the A fragment is (rows m + 8 (i % 2), k + 8 (i / 2)) of A: transposed load.
      const int row = a_row + 16 * kk + lane % 8 + 8 * (matrix / 2);
      ptx::ldmatrix_x4_trans(a_fragments[t],
                             a + ATile::offset(row, a_column / 8 + 2 * t + matrix % 2));
    }
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      const int row = b_row + 16 * kk + lane % 8 + 8 * (matrix % 2);
      ptx::ldmatrix_x4_trans(b_fragments,
                             b + BTile::offset(row, b_column / 8 + 2 * np + matrix / 2));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

}  // namespace flashattn::sm80
