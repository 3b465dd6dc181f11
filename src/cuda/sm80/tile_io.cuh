// Moving [rows x head_dim] tiles between global memory and swizzled shared memory. Rows past
// the sequence end and columns past the real head dim are zero-filled on load and skipped on
// store, so any length and any head dim that is a multiple of 8 is handled.
#pragma once

#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/cp_async.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda/sm80/smem_layout.cuh"

namespace flashattn::sm80 {

// Row `row` of head `head` in batch `batch` of a [B, S, H, D] tensor (64-bit offsets). Batch
// and head are never negative: widened as unsigned they need no sign word (a register the
// forward's key loop at d64 spilled).
template <typename Element>
__device__ __forceinline__ const Element* row_pointer(const void* base, const RowStrides& strides,
                                                      int batch, std::int64_t row, int head) {
  return static_cast<const Element*>(base) + static_cast<std::uint32_t>(batch) * strides.batch +
         row * strides.row + static_cast<std::uint32_t>(head) * strides.head;
}

// Issues cp.async for rows [0, valid_rows) of a tile whose row r starts at base + r * row_stride.
// Each thread keeps one column chunk and walks down the tile kRowsPerPass rows at a time, so
// the per-copy work is one pointer add and a few 32-bit ops for the swizzled offset (this runs
// every key block; the 64-bit row arithmetic per copy used to dominate the instruction mix).
template <typename Tile, int Threads, typename Element>
__device__ __forceinline__ void load_tile_async(Element* tile, const Element* base,
                                                std::int64_t row_stride, int valid_rows,
                                                int head_dim) {
  constexpr int kRowsPerPass = Threads / Tile::kChunks;
  constexpr int kPasses = (Tile::kRows + kRowsPerPass - 1) / kRowsPerPass;
  static_assert(kRowsPerPass >= 1, "a pass covers at least one row");
  const int first_row = threadIdx.x / Tile::kChunks;
  const int chunk = threadIdx.x % Tile::kChunks;
  const bool column_valid = chunk * 8 < head_dim;
  const Element* source = base + first_row * row_stride + chunk * 8;
#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int row = first_row + pass * kRowsPerPass;
    // Threads past the last whole row of a pass (Threads % kChunks) and rows past the tile
    // copy nothing; rows past the sequence and columns past the head dim copy zeros.
    if (first_row < kRowsPerPass && row < Tile::kRows) {
      const bool valid = column_valid && row < valid_rows;
      // An invalid chunk reads nothing, but its address must still be legal: use the base.
      ptx::cp_async_16(tile + Tile::offset(row, chunk), valid ? source : base, valid);
    }
    source += kRowsPerPass * row_stride;
  }
}

// Fewest passes of rows_per_pass rows that span whole swizzle periods.
__host__ __device__ constexpr int passes_per_swizzle_pattern(int rows_per_pass, int period) {
  int passes = 1;
  while (passes * rows_per_pass % period != 0)
    ++passes;
  return passes;
}

// Issues cp.async for a whole tile: every row in range and the head dim equal to the tile's
// width (every key block but a ragged last one). Nothing is bounds-checked, so each copy is one
// pointer add and an unpredicated cp.async; the swizzle repeats every kSwizzlePeriod rows, so
// the shared offsets are a few per-thread bases plus compile-time steps.
template <typename Tile, int Threads, typename Element>
__device__ __forceinline__ void load_full_tile_async(Element* tile, const Element* base,
                                                     std::int64_t row_stride) {
  constexpr int kRowsPerPass = Threads / Tile::kChunks;
  constexpr int kPasses = (Tile::kRows + kRowsPerPass - 1) / kRowsPerPass;
  // Passes p and p + kPatternPasses start kPatternRows rows apart with the same swizzle.
  constexpr int kPatternPasses = passes_per_swizzle_pattern(kRowsPerPass, Tile::kSwizzlePeriod);
  constexpr int kPatternRows = kPatternPasses * kRowsPerPass;
  // With Threads < kRows * kChunks all checks below are compile-time true for the tiles in use.
  constexpr bool kEveryThreadCopies = Threads % Tile::kChunks == 0;
  constexpr bool kPassesFitRows = Tile::kRows % kRowsPerPass == 0;
  const int first_row = threadIdx.x / Tile::kChunks;
  const int chunk = threadIdx.x % Tile::kChunks;
  int pattern_offsets[kPatternPasses];
#pragma unroll
  for (int i = 0; i < kPatternPasses; ++i) {
    pattern_offsets[i] = Tile::offset(first_row + i * kRowsPerPass, chunk);
  }
  const Element* source = base + first_row * row_stride + chunk * 8;
#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int row = first_row + pass * kRowsPerPass;
    if ((kEveryThreadCopies || first_row < kRowsPerPass) && (kPassesFitRows || row < Tile::kRows)) {
      const int pattern_step = (pass / kPatternPasses) * kPatternRows * Tile::kWidth;
      ptx::cp_async_16(tile + pattern_offsets[pass % kPatternPasses] + pattern_step, source);
    }
    source += kRowsPerPass * row_stride;
  }
}

// Copies rows [0, valid_rows) of a finished tile to global memory in 16-byte pieces.
template <typename Tile, int Threads, typename Element>
__device__ __forceinline__ void store_tile(const Element* tile, Element* base,
                                           std::int64_t row_stride, int valid_rows, int head_dim) {
  constexpr int kTotalChunks = (Tile::kElements / 8);
#pragma unroll
  for (int i = threadIdx.x; i < kTotalChunks; i += Threads) {
    const int row = i / Tile::kChunks;
    const int chunk = i % Tile::kChunks;
    if (row < valid_rows && chunk * 8 < head_dim) {
      *reinterpret_cast<uint4*>(base + row * row_stride + chunk * 8) =
          *reinterpret_cast<const uint4*>(tile + Tile::offset(row, chunk));
    }
  }
}

// Stores a warp's fp32 C fragments (times `scale`) as 16-bit rows: fragment row r of tile t is
// row first_row + 16 t + r of a block whose row i starts at base + i * row_stride; rows from
// valid_rows on and columns from head_dim on are skipped. Each quad writes 16 contiguous bytes.
template <typename Element, int RowTiles, int ColumnTiles>
__device__ __forceinline__ void store_fragment_rows(const float (&acc)[RowTiles][ColumnTiles][4],
                                                    float scale, Element* base,
                                                    std::int64_t row_stride, int first_row,
                                                    int valid_rows, int head_dim) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int t = 0; t < RowTiles; ++t) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = first_row + 16 * t + lane / 4 + 8 * h;
      if (row >= valid_rows) continue;
#pragma unroll
      for (int c = 0; c < ColumnTiles; ++c) {
        const int column = 8 * c + 2 * (lane % 4);
        if (column < head_dim) {
          *reinterpret_cast<std::uint32_t*>(base + row * row_stride + column) =
              ptx::pack2<Element>(acc[t][c][2 * h] * scale, acc[t][c][2 * h + 1] * scale);
        }
      }
    }
  }
}

}  // namespace flashattn::sm80
