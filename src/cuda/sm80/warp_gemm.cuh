// Warp-level GEMMs on mma.sync m16n8k16, operands from swizzled shared-memory tiles (ldmatrix)
// or from registers. An accumulator acc[RowTiles][ColTiles][4] holds the C fragments of
// RowTiles m16 tiles by ColTiles n8 tiles (ColTiles even: one ldmatrix x4 feeds two n8 tiles).
// Every tile is stored row-major with 16-byte chunks swizzled (SwizzledTile); which dimension
// is the GEMM's k decides between plain and `.trans` loads:
//   gemm_abt: acc += A Bᵀ, A [m][k], B [n][k]. Forward S = Q Kᵀ; backward Sᵀ = K Qᵀ, dPᵀ = V dOᵀ.
//   gemm_pb:  acc += P B, P in registers, B [k][n]. Forward O += P V; backward dV += Pᵀ dO,
//             dK += dSᵀ Q.
//   gemm_atb: acc += Aᵀ B, A stored [k][m], B [k][n]. Backward dQ += dS K from the stored dSᵀ.
#pragma once

#include <cstdint>

#include "cuda/ptx/ldmatrix.cuh"
#include "cuda/ptx/mma.cuh"

namespace flashattn::sm80 {

// The shared address of the row one lane hands to ldmatrix, for every fragment of a GEMM. The
// lane's row is first_row + lane % 8 + 8 row_bit and its chunk first_chunk + chunk_bit; the
// fragments are at compile-time steps of 8k rows and 2k chunks from there. In tiles of 8n
// chunks the swizzle XORs chunk bits 0-2 with row % 8, which such steps leave alone, so a step
// is an XOR of the chunk bits plus a constant (folded into ldmatrix's immediate) instead of the
// full swizzle per fragment. That needs first_chunk % 8 to share no bit with the steps' chunk
// % 8 (callers: first_chunk a multiple of 8, or no chunk steps).
template <typename Tile>
struct FragmentRows {
  std::uint32_t tile;
  std::uint32_t lane_row;  // element row of the lane's ldmatrix row
  std::uint32_t lane_chunk;
  std::uint32_t base;  // byte address of (lane_row, lane_chunk)

  __device__ __forceinline__ FragmentRows(const void* tile_pointer, int first_row, int row_bit,
                                          int first_chunk, int chunk_bit)
      : tile(ptx::shared_address(tile_pointer)),
        lane_row(first_row + threadIdx.x % 8 + 8 * row_bit),
        lane_chunk(first_chunk + chunk_bit),
        base(tile + 2 * Tile::offset(lane_row, lane_chunk)) {}

  __device__ __forceinline__ std::uint32_t at(int row_step, int chunk_step) const {
    if constexpr (Tile::kChunks % 8 == 0) {
      return (base ^ (16 * (chunk_step % 8))) + 2 * Tile::kWidth * row_step +
             128 * (chunk_step / 8);
    } else {  // 4 or 12 chunks per row: the swizzle mixes row bits; take it whole
      return tile + 2 * Tile::offset(lane_row + row_step, lane_chunk + chunk_step);
    }
  }
};

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
// B = rows [b_row, b_row + 8 ColTiles) of `b` (a_row, b_row multiples of 8).
template <int KSteps, typename ATile, typename BTile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void gemm_abt(const Element* a, int a_row, const Element* b, int b_row,
                                         float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(ColTiles % 2 == 0);
  const int matrix = threadIdx.x % 32 / 8;
  // Matrix i of an A fragment: rows + 8 (i % 2), k + 8 (i / 2); of a B pair: n + 8 (i / 2),
  // k + 8 (i % 2).
  const FragmentRows<ATile> a_rows(a, a_row, matrix % 2, 0, matrix / 2);
  const FragmentRows<BTile> b_rows(b, b_row, matrix / 2, 0, matrix % 2);
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
#pragma unroll
    for (int t = 0; t < RowTiles; ++t)
      ptx::ldmatrix_x4(a_fragments[t], a_rows.at(16 * t, 2 * kk));
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      ptx::ldmatrix_x4(b_fragments, b_rows.at(16 * np, 2 * kk));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

// acc += P B: P [16 RowTiles x 8 PTiles] in registers as C fragments (k = its columns),
// B = rows [b_row, b_row + 8 PTiles) x columns [b_column, b_column + 8 ColTiles) of `b`
// (b_row a multiple of 8, b_column of 64).
template <typename BTile, typename Element, int RowTiles, int PTiles, int ColTiles>
__device__ __forceinline__ void gemm_pb(const float (&p)[RowTiles][PTiles][4], const Element* b,
                                        int b_row, int b_column,
                                        float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(PTiles % 2 == 0 && ColTiles % 2 == 0);
  const int matrix = threadIdx.x % 32 / 8;
  // Matrix i of a B pair, transposed: k + 8 (i % 2), n + 8 (i / 2).
  const FragmentRows<BTile> b_rows(b, b_row, matrix % 2, b_column / 8, matrix / 2);
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
      ptx::ldmatrix_x4_trans(b_fragments, b_rows.at(16 * kk, 2 * np));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

// acc += Aᵀ B over k in [0, 16 KSteps): `a` holds Aᵀ, so A's rows [a_column, +16 RowTiles) are
// columns of `a` and k runs down rows [a_row, ...); B = rows [b_row, ...) x columns
// [b_column, b_column + 8 ColTiles) of `b` (rows multiples of 8, b_column of 64; a_column a
// multiple of 16, and one row tile, so A has no chunk steps).
template <int KSteps, typename ATile, typename BTile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void gemm_atb(const Element* a, int a_row, int a_column,
                                         const Element* b, int b_row, int b_column,
                                         float (&acc)[RowTiles][ColTiles][4]) {
  static_assert(RowTiles == 1 && ColTiles % 2 == 0);
  const int matrix = threadIdx.x % 32 / 8;
  // Matrix i of the A fragment is (rows m + 8 (i % 2), k + 8 (i / 2)) of A: transposed load.
  const FragmentRows<ATile> a_rows(a, a_row, matrix / 2, a_column / 8, matrix % 2);
  const FragmentRows<BTile> b_rows(b, b_row, matrix % 2, b_column / 8, matrix / 2);
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
    ptx::ldmatrix_x4_trans(a_fragments[0], a_rows.at(16 * kk, 0));
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      ptx::ldmatrix_x4_trans(b_fragments, b_rows.at(16 * kk, 2 * np));
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

}  // namespace flashattn::sm80
