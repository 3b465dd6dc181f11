// Warp-level GEMMs on mma.sync m16n8k16, operands from swizzled shared-memory tiles (ldmatrix)
// or from registers. An accumulator acc[RowTiles][ColTiles][4] holds the C fragments of
// RowTiles m16 tiles by ColTiles n8 tiles (ColTiles even: one ldmatrix x4 feeds two n8 tiles).
// Every tile is stored row-major with 16-byte chunks swizzled (SwizzledTile); whether an
// operand's k runs along the tile's columns or down its rows decides between plain and
// `.trans` loads:
//   gemm:     acc += A B, both from shared memory, each stored either way. Forward S = Q Kᵀ;
//             backward S = Q Kᵀ, dP = dO Vᵀ, dV += Pᵀ dO, dK += dSᵀ Q, dQ += dS K.
//   gemm_abt: the common case of gemm, A [m][k] and B [n][k] from their first column.
//   gemm_pb:  acc += P B, P in registers, B [k][n]. Forward O += P V; deterministic dQ += dS K.
#pragma once

#include <cstdint>

#include "cuda/ptx/ldmatrix.cuh"
#include "cuda/ptx/mma.cuh"

namespace flashattn::sm80 {

// Whether operands starting at columns i * column_stride (i < count) may step by XOR over
// `steps` 16-column steps: each first chunk % 8 must be even (the lane's chunk bit adds 1) and
// share no bit with any step's 2 s % 8.
__host__ __device__ constexpr bool chunk_steps_fit(int column_stride, int count, int steps) {
  for (int i = 0; i < count; ++i) {
    const int chunk = i * column_stride / 8 % 8;
    for (int step = 0; step < steps; ++step) {
      if ((chunk & 1) != 0 || (chunk & (2 * step % 8)) != 0) return false;
    }
  }
  return true;
}

// The shared address of the row one lane hands to ldmatrix, for every fragment of a GEMM. The
// lane's row is first_row + lane % 8 + 8 row_bit and its chunk first_chunk + chunk_bit; the
// fragments are at compile-time steps of 8k rows and 2k chunks from there. In tiles of 8n
// chunks the swizzle XORs chunk bits 0-2 with row % 8, which such steps leave alone, so a step
// is an XOR of the chunk bits plus a constant (folded into ldmatrix's immediate) instead of the
// full swizzle per fragment. That needs first_chunk % 8 to share no bit with the steps' chunk
// % 8 (see chunk_steps_fit); kXorSteps = false takes the full swizzle per fragment instead.
template <typename Tile, bool kXorSteps = true>
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
    if constexpr (kXorSteps && Tile::kChunks % 8 == 0) {
      return (base ^ (16 * (chunk_step % 8))) + 2 * Tile::kWidth * row_step +
             128 * (chunk_step / 8);
    } else {  // 4 or 12 chunks per row (the swizzle mixes row bits) or unfit steps: take it whole
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

// One GEMM operand in shared memory, in its own orientation `outer` (A's m or B's n) x k, from
// (row, column) of its tile: stored [outer][k] (kKAlongRows false, plain ldmatrix) or [k][outer]
// (.trans). The four matrices of an x4 load are (outer + 8 outer_bit, k + 8 k_bit): for A
// outer_bit = i % 2, k_bit = i / 2; for a pair of B fragments the other way round.
template <typename Tile, bool kKAlongRows, bool kXorSteps>
struct SharedOperand {
  FragmentRows<Tile, kXorSteps> rows;

  __device__ __forceinline__ SharedOperand(const void* tile, int row, int column, int outer_bit,
                                           int k_bit)
      : rows(kKAlongRows ? FragmentRows<Tile, kXorSteps>(tile, row, k_bit, column / 8, outer_bit)
                         : FragmentRows<Tile, kXorSteps>(tile, row, outer_bit, column / 8, k_bit)) {
  }

  // The x4 fragment of outer tile `outer` (16 wide) at k step `kk` (16 deep).
  __device__ __forceinline__ void load(std::uint32_t (&fragment)[4], int outer, int kk) const {
    if constexpr (kKAlongRows) {
      ptx::ldmatrix_x4_trans(fragment, rows.at(16 * kk, 2 * outer));
    } else {
      ptx::ldmatrix_x4(fragment, rows.at(16 * outer, 2 * kk));
    }
  }
};

// No work between a GEMM's k steps.
struct NoKStepWork {
  __device__ void operator()(int) const {}
};

// acc += A B over k in [0, 16 KSteps). A: 16 RowTiles (m) x k from (a_row, a_column) of `a`,
// stored [m][k], or [k][m] with kATransposed. B: 8 ColTiles (n) x k from (b_row, b_column) of
// `b`, stored [n][k], or [k][n] with kBTransposed. Rows are multiples of 8, columns of 16, and
// a column with chunk steps must fit them (chunk_steps_fit) unless kXorSteps is false.
// after_k_step(kk) runs after the MMAs of k step kk: independent work placed there issues
// between the MMAs instead of after the whole GEMM.
template <int KSteps, bool kATransposed, bool kBTransposed, typename ATile, typename BTile,
          bool kXorSteps = true, typename Element, int RowTiles, int ColTiles,
          typename KStepWork = NoKStepWork>
__device__ __forceinline__ void gemm(const Element* a, int a_row, int a_column, const Element* b,
                                     int b_row, int b_column, float (&acc)[RowTiles][ColTiles][4],
                                     const KStepWork& after_k_step = {}) {
  static_assert(ColTiles % 2 == 0);
  const int matrix = threadIdx.x % 32 / 8;
  const SharedOperand<ATile, kATransposed, kXorSteps> a_operand(a, a_row, a_column, matrix % 2,
                                                                matrix / 2);
  const SharedOperand<BTile, kBTransposed, kXorSteps> b_operand(b, b_row, b_column, matrix / 2,
                                                                matrix % 2);
#pragma unroll
  for (int kk = 0; kk < KSteps; ++kk) {
    std::uint32_t a_fragments[RowTiles][4];
#pragma unroll
    for (int t = 0; t < RowTiles; ++t)
      a_operand.load(a_fragments[t], t, kk);
#pragma unroll
    for (int np = 0; np < ColTiles / 2; ++np) {
      std::uint32_t b_fragments[4];
      b_operand.load(b_fragments, np, kk);
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
    after_k_step(kk);
  }
}

// acc += A Bᵀ over k in [0, 16 KSteps): A = rows [a_row, a_row + 16 RowTiles) of `a`,
// B = rows [b_row, b_row + 8 ColTiles) of `b` (a_row, b_row multiples of 8).
template <int KSteps, typename ATile, typename BTile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void gemm_abt(const Element* a, int a_row, const Element* b, int b_row,
                                         float (&acc)[RowTiles][ColTiles][4]) {
  gemm<KSteps, false, false, ATile, BTile>(a, a_row, 0, b, b_row, 0, acc);
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
  const SharedOperand<BTile, true, true> b_operand(b, b_row, b_column, matrix / 2, matrix % 2);
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
      b_operand.load(b_fragments, np, kk);
      mma_row_tiles<Element>(acc, a_fragments, b_fragments, np);
    }
  }
}

// Rounds C fragment (t, c) of a warp's accumulator to 16 bits into a swizzled tile, fragment
// (0, 0) at (row, column) (column a multiple of 8). A quad's four 4-byte stores fill one chunk
// of each of eight rows, which the swizzle spreads over all banks.
template <typename Tile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void store_fragment(Element* tile, int row, int column, int t, int c,
                                               const float (&acc)[RowTiles][ColTiles][4]) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int fragment_row = row + 16 * t + lane / 4 + 8 * h;
    *reinterpret_cast<std::uint32_t*>(tile + Tile::offset(fragment_row, column / 8 + c) +
                                      2 * (lane % 4)) =
        ptx::pack2<Element>(acc[t][c][2 * h], acc[t][c][2 * h + 1]);
  }
}

// Every C fragment of the accumulator, as store_fragment.
template <typename Tile, typename Element, int RowTiles, int ColTiles>
__device__ __forceinline__ void store_fragments(Element* tile, int row, int column,
                                                const float (&acc)[RowTiles][ColTiles][4]) {
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int c = 0; c < ColTiles; ++c)
      store_fragment<Tile>(tile, row, column, t, c, acc);
  }
}

}  // namespace flashattn::sm80
