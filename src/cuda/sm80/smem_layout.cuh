// Shared-memory tiles of 16-bit rows, addressed in 16-byte chunks with an XOR swizzle so that the
// eight rows one ldmatrix phase (or one cp.async wave) touches fall in eight different 16-byte
// bank groups: no bank conflicts for any head dim that is a multiple of 32.
#pragma once

#include <cstdint>

namespace flashattn::sm80 {

template <int Rows, int HeadDim>
struct SwizzledTile {
  static constexpr int kChunks = HeadDim / 8;  // 16-byte chunks per row
  static_assert(HeadDim % 32 == 0, "rows are swizzled in groups of four chunks");
  static constexpr int kRows = Rows;
  static constexpr int kWidth = HeadDim;
  static constexpr int kElements = Rows * HeadDim;

  // Element offset of (row, chunk). Rows of 8 or more chunks: one 128-byte line holds one row
  // segment, XOR the low 3 chunk bits with row % 8. Rows of 4 or 12 chunks: a line holds two
  // rows, XOR the low 2 chunk bits with (row / 2) % 4.
  __device__ __forceinline__ static int offset(int row, int chunk) {
    const int swizzled = kChunks % 8 == 0 ? chunk ^ (row & 7) : chunk ^ ((row >> 1) & 3);
    return row * HeadDim + swizzled * 8;
  }
  // The swizzle depends on row % 8 only: rows 8 apart are a constant offset apart.
  static constexpr int kSwizzlePeriod = 8;
};

}  // namespace flashattn::sm80
