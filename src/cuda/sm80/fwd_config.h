// Tile shapes of the sm80 forward, per head dim: the one table to edit when tuning.
#pragma once

#include "cuda/sm80/smem_layout.cuh"
#include "cuda/sm80/warp_gemm.cuh"  // chunk_steps_fit

namespace flashattn::sm80 {

template <int HeadDim, int BlockM, int BlockN, int Warps, int MinBlocksPerSm = 1,
          int ValueColumnGroups = 0>
struct ForwardTiles {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per CTA
  static constexpr int kBlockN = BlockN;  // keys per main-loop step
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  // Resident CTAs per SM the register allocation must allow (__launch_bounds__).
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;
  // Warps split the CTA's rows only, so each owns whole score rows: softmax needs no smem.
  static constexpr int kRowsPerWarp = BlockM / Warps;
  static constexpr int kRowTiles = kRowsPerWarp / 16;  // m16 tiles per warp
  static constexpr int kKeyTiles = BlockN / 8;         // n8 score tiles per row tile
  static constexpr int kDimTiles = HeadDim / 8;        // n8 output tiles per row tile
  using QueryTile = SwizzledTile<BlockM, HeadDim>;
  using KeyValueTile = SwizzledTile<BlockN, HeadDim>;
  // P V split by O's columns (ValueColumnGroups > 0) instead of its rows: warp w adds the rows
  // of its row group w / ValueColumnGroups (of Warps / ValueColumnGroups; through a shared P
  // tile) times its HeadDim / ValueColumnGroups columns w % ValueColumnGroups of V, so V is read
  // once per row group and CTA step instead of once per warp. At d256's 16 rows per warp (four
  // groups of 64 columns, all 64 rows each) that is 288 -> 224 KB of ldmatrix reads (and 8 KB
  // of P stores) per step. The row rescale factors and final sums go through shared memory too.
  static constexpr bool kSplitValueColumns = ValueColumnGroups > 0;
  static constexpr int kValueColumnGroups = kSplitValueColumns ? ValueColumnGroups : 1;
  static constexpr int kValueRowGroups = Warps / kValueColumnGroups;
  using ProbabilityTile = SwizzledTile<BlockM, BlockN>;
  static constexpr int kColumnsPerWarp = HeadDim / kValueColumnGroups;
  static constexpr int kValueRowsPerWarp = BlockM / kValueRowGroups;
  static constexpr int kOutputRowTiles = kSplitValueColumns ? kValueRowsPerWarp / 16 : kRowTiles;
  static constexpr int kOutputDimTiles = kSplitValueColumns ? kColumnsPerWarp / 8 : HeadDim / 8;
  // Whether V's column groups may step by XOR over their n16 steps (FragmentRows).
  static constexpr bool kValueXorSteps =
      chunk_steps_fit(kColumnsPerWarp, kValueColumnGroups, kOutputDimTiles / 2);
  static constexpr int kSmemBytes =
      2 * (QueryTile::kElements + 2 * KeyValueTile::kElements) +
      (kSplitValueColumns ? 2 * ProbabilityTile::kElements + 2 * sizeof(float) * BlockM : 0);
  // The same tiles with P V split by rows, for GPUs whose blocks cannot have the split's shared
  // memory (sm86 / sm89: 99 KB).
  using WithoutSplit = ForwardTiles<HeadDim, BlockM, BlockN, Warps, MinBlocksPerSm, 0>;

  static_assert(kRowsPerWarp % 16 == 0 && BlockN % 16 == 0 && HeadDim % 16 == 0);
  static_assert(!kSplitValueColumns || (kRowTiles == 1 && Warps % kValueColumnGroups == 0 &&
                                        kValueRowsPerWarp % 16 == 0 && kColumnsPerWarp % 16 == 0),
                "column-split warps own 16 score rows; their O tiles are whole m16 x n16 tiles");
};

// Chosen per head dim (see docs/kernels_sm80.md for the measurements behind them).
template <int HeadDim>
struct ForwardConfig;
template <>
struct ForwardConfig<32> : ForwardTiles<32, 128, 128, 4> {};
template <>
struct ForwardConfig<64> : ForwardTiles<64, 128, 128, 4> {};
template <>
struct ForwardConfig<96> : ForwardTiles<96, 128, 64, 4> {};
template <>
struct ForwardConfig<128> : ForwardTiles<128, 128, 64, 4> {};
template <>
struct ForwardConfig<192> : ForwardTiles<192, 128, 64, 8, 1, 4> {};
template <>
struct ForwardConfig<256> : ForwardTiles<256, 64, 64, 4, 1, 4> {};

}  // namespace flashattn::sm80
