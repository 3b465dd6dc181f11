// Moving [rows x head_dim] tiles between global memory and swizzled shared memory. Rows past
// the sequence end and columns past the real head dim are zero-filled on load and skipped on
// store, so any length and any head dim that is a multiple of 8 is handled.
#pragma once

#include <cstdint>

#include "cuda/ptx/cp_async.cuh"
#include "cuda/sm80/smem_layout.cuh"

namespace flashattn::sm80 {

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

}  // namespace flashattn::sm80
