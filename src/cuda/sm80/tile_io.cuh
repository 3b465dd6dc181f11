// Moving [rows x head_dim] tiles between global memory and swizzled shared memory. Rows past
// the sequence end and columns past the real head dim are zero-filled on load and skipped on
// store, so any length and any head dim that is a multiple of 8 is handled.
#pragma once

#include <cstdint>

#include "cuda/ptx/cp_async.cuh"
#include "cuda/sm80/smem_layout.cuh"

namespace flashattn::sm80 {

// Issues cp.async for rows [0, valid_rows) of a tile whose row r starts at base + r * row_stride.
template <typename Tile, int Threads, typename Element>
__device__ __forceinline__ void load_tile_async(Element* tile, const Element* base,
                                                std::int64_t row_stride, int valid_rows,
                                                int head_dim) {
  constexpr int kTotalChunks = (Tile::kElements / 8);
  static_assert(kTotalChunks % Threads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = threadIdx.x; i < kTotalChunks; i += Threads) {
    const int row = i / Tile::kChunks;
    const int chunk = i % Tile::kChunks;
    const bool valid = row < valid_rows && chunk * 8 < head_dim;
    // An invalid chunk reads nothing, but the address must still be a legal one: use the base.
    const Element* source = valid ? base + row * row_stride + chunk * 8 : base;
    ptx::cp_async_16(tile + Tile::offset(row, chunk), source, valid);
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
