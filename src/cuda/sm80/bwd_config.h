// Tile shapes of the sm80 backward, per head dim: the one table to edit when tuning.
//
// One CTA owns kBlockN keys of one KV head and walks the query blocks (kBlockM rows, every query
// head of its group) that see them. Warps split the keys, so each warp computes Sᵀ = K Qᵀ and
// dPᵀ = V dOᵀ for its own key rows and keeps Pᵀ and dSᵀ in registers as the A operand of
// dV += Pᵀ dO and dK += dSᵀ Q; only dSᵀ goes through shared memory, for dQ += dS K. With
// DimWarps > 1 the warps of one key group also split the head dim of dK and dV: each computes
// the group's Sᵀ and dPᵀ (redundantly) but holds only its columns of the accumulators.
#pragma once

#include "cuda/sm80/smem_layout.cuh"

namespace flashattn::sm80 {

template <int HeadDim, int BlockM, int BlockN, int Warps, int QueryStages, int DimWarps = 1>
struct BackwardTiles {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per step
  static constexpr int kBlockN = BlockN;  // keys per CTA
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  // Buffers for Q, dO, LSE and delta: 2 loads the next query block during the whole step,
  // 1 only during dQ += dS K (for the head dims whose tiles leave no room for two).
  static constexpr int kQueryStages = QueryStages;
  static constexpr int kDimWarps = DimWarps;
  static constexpr int kKeyWarps = Warps / DimWarps;
  static constexpr int kKeysPerWarp = BlockN / kKeyWarps;
  static constexpr int kKeyRowTiles = kKeysPerWarp / 16;   // m16 tiles of keys per warp
  static constexpr int kQueryTiles = BlockM / 8;           // n8 tiles of Sᵀ per key row tile
  static constexpr int kGradColumns = HeadDim / DimWarps;  // a warp's columns of dK and dV
  static constexpr int kDimTiles = kGradColumns / 8;
  // dK and dV accumulators of more than 128 columns together would not fit the register file:
  // dV then gets its own pass over the query blocks (recomputing Sᵀ), dK and dQ a second one.
  static constexpr bool kSeparateValuePass = kGradColumns > 128;
  // dQ = dS K: warps split the query rows, then the head dim; a warp's columns go in chunks of
  // at most 64 so the fp32 partial stays small next to the dK accumulator.
  static constexpr int kDqRowWarps = BlockM / 16 < Warps ? BlockM / 16 : Warps;
  static constexpr int kDqColumnWarps = Warps / kDqRowWarps;
  static constexpr int kDqRowTiles = BlockM / 16 / kDqRowWarps;
  static constexpr int kDqWarpColumns = HeadDim / kDqColumnWarps;
  static constexpr int kDqChunkColumns = kDqWarpColumns < 64 ? kDqWarpColumns : 64;
  using QueryTile = SwizzledTile<BlockM, HeadDim>;
  using KeyValueTile = SwizzledTile<BlockN, HeadDim>;
  using ScoreTile = SwizzledTile<BlockN, BlockM>;  // dSᵀ as 16-bit [key][query]
  // The dSᵀ tile, then (under softcap) one more park for 1 - tanh² per further column part.
  static constexpr int kSmemBytes =
      2 * (2 * KeyValueTile::kElements + 2 * QueryStages * QueryTile::kElements +
           DimWarps * ScoreTile::kElements) +
      4 * 2 * QueryStages * BlockM;

  static_assert(kKeysPerWarp % 16 == 0 && BlockM % 32 == 0 && HeadDim % 16 == 0);
  // gemm_pb's b_column (a warp's first column of dK and dV) must be a multiple of 64.
  static_assert(DimWarps == 1 || kGradColumns % 64 == 0);
  static_assert(kDqRowWarps * kDqColumnWarps == Warps && kDqWarpColumns % 16 == 0);
};

template <int HeadDim>
struct BackwardConfig;
template <>
struct BackwardConfig<32> : BackwardTiles<32, 64, 128, 8, 2> {};
template <>
struct BackwardConfig<64> : BackwardTiles<64, 128, 128, 8, 2> {};
template <>
struct BackwardConfig<96> : BackwardTiles<96, 64, 128, 8, 2> {};
template <>
struct BackwardConfig<128> : BackwardTiles<128, 64, 128, 8, 2> {};
template <>
struct BackwardConfig<192> : BackwardTiles<192, 64, 64, 4, 1> {};
template <>
struct BackwardConfig<256> : BackwardTiles<256, 64, 64, 8, 1, 2> {};

}  // namespace flashattn::sm80
