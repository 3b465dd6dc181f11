// Tile shapes of the sm80 backward, per head dim: the one table to edit when tuning.
//
// One CTA owns kBlockN keys of one KV head and walks the query blocks (kBlockM rows, every query
// head of its group) that see them. Each GEMM of a step splits its output over the warps in
// two dimensions, so no warp reads a whole operand tile that other warps read too:
//   S = Q Kᵀ and dP = dO Vᵀ   kSdpRowWarps (query rows) x kSdpKeyWarps (keys);
//   dV += Pᵀ dO, dK += dSᵀ Q   kGradKeyWarps (keys) x kGradDimWarps (head-dim columns);
//   dQ = dS K                 kDqRowWarps (query rows) x kDqDimWarps (head-dim columns).
// P and dS go through shared memory (16-bit, [query][key]) between the first pair and the rest.
// Where the code runs as sm_90 or newer, the warps store their fp32 dQ tiles to a shared staging
// tile and the bulk copy engine adds it to the workspace (one reduction per row), instead of
// each thread issuing fp32 reductions that queue in the load/store unit (sm_80 does that).
// docs/kernels_sm80.md counts the shared-memory traffic and HMMAs behind the choices.
#pragma once

#include "cuda/sm80/smem_layout.cuh"
#include "cuda/sm80/warp_gemm.cuh"

namespace flashattn::sm80 {

template <int HeadDim, int BlockM, int BlockN, int Warps, int QueryStages, int SdpRowWarps,
          int GradKeyWarps, int DqRowWarps>
struct BackwardTiles {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;  // query rows per step
  static constexpr int kBlockN = BlockN;  // keys per CTA
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = Warps * 32;
  // Buffers for Q, dO, LSE and delta: 2 loads the next query block during the whole step,
  // 1 only during dQ += dS K (for the head dims whose tiles leave no room for two).
  static constexpr int kQueryStages = QueryStages;

  static constexpr int kSdpRowWarps = SdpRowWarps;
  static constexpr int kSdpKeyWarps = Warps / SdpRowWarps;
  static constexpr int kRowTiles = BlockM / SdpRowWarps / 16;  // m16 tiles of S per warp
  static constexpr int kKeyTiles = BlockN / kSdpKeyWarps / 8;  // n8 tiles of S per warp

  static constexpr int kGradKeyWarps = GradKeyWarps;
  static constexpr int kGradDimWarps = Warps / GradKeyWarps;
  static constexpr int kGradKeyTiles = BlockN / GradKeyWarps / 16;
  static constexpr int kGradDimTiles = HeadDim / kGradDimWarps / 8;

  static constexpr int kDqRowWarps = DqRowWarps;
  static constexpr int kDqDimWarps = Warps / DqRowWarps;
  static constexpr int kDqRowTiles = BlockM / DqRowWarps / 16;
  static constexpr int kDqDimTiles = HeadDim / kDqDimWarps / 8;

  using QueryTile = SwizzledTile<BlockM, HeadDim>;
  using KeyValueTile = SwizzledTile<BlockN, HeadDim>;
  using ScoreTile = SwizzledTile<BlockM, BlockN>;  // P and dS as 16-bit [query][key]

  // Whether the warps' first columns let the transposed operands step by XOR (FragmentRows):
  // Pᵀ/dSᵀ from column 16 kGradKeyTiles w with kGradKeyTiles steps and dO/Q from column
  // 8 kGradDimTiles w with kGradDimTiles / 2 steps; K for dQ likewise.
  static constexpr bool kGradXorSteps =
      chunk_steps_fit(16 * kGradKeyTiles, GradKeyWarps, kGradKeyTiles) &&
      chunk_steps_fit(8 * kGradDimTiles, kGradDimWarps, kGradDimTiles / 2);
  static constexpr bool kDqXorSteps =
      chunk_steps_fit(8 * kDqDimTiles, kDqDimWarps, kDqDimTiles / 2);

  // K, V, the P and dS tiles, kQueryStages Q and dO tiles, kQueryStages LSE and delta rows.
  static constexpr int kSmemBytes = 2 * (2 * KeyValueTile::kElements + 2 * ScoreTile::kElements +
                                         2 * QueryStages * QueryTile::kElements) +
                                    4 * 2 * QueryStages * BlockM;

  // The dQ staging tile: kBlockM rows of kHeadDim floats, kDqStageStride apart. A stride of 8
  // (mod 32) floats puts a quad's fragment rows 0-3 on all 32 banks, so the warp's 8-byte stores
  // take the minimum two wavefronts; the rows stay 16-byte aligned for the bulk copy engine.
  static constexpr int kDqStageStride = HeadDim + 8;
  static constexpr int kDqStageBytes = 4 * BlockM * kDqStageStride;
  // Shared memory of a launch: with the staging tile where the code stages dQ.
  static constexpr int smem_bytes(bool stages_dq) {
    return kSmemBytes + (stages_dq ? kDqStageBytes : 0);
  }

  static_assert(Warps % SdpRowWarps == 0 && Warps % GradKeyWarps == 0 && Warps % DqRowWarps == 0);
  static_assert(kRowTiles >= 1 && kKeyTiles % 2 == 0 && kGradKeyTiles >= 1 &&
                kGradDimTiles % 2 == 0 && kDqRowTiles >= 1 && kDqDimTiles % 2 == 0);
  static_assert(kRowTiles * kSdpRowWarps * 16 == BlockM && kKeyTiles * kSdpKeyWarps * 8 == BlockN &&
                kGradKeyTiles * GradKeyWarps * 16 == BlockN &&
                kGradDimTiles * kGradDimWarps * 8 == HeadDim &&
                kDqRowTiles * DqRowWarps * 16 == BlockM &&
                kDqDimTiles * kDqDimWarps * 8 == HeadDim);
};

// HeadDim, BlockM, BlockN, Warps, QueryStages, SdpRowWarps, GradKeyWarps, DqRowWarps.
// Every config holds dK and dV of its warp in at most 128 fp32 registers and fits the 163 KB of
// shared memory per block an A100 grants (where no dQ is staged) and, with the staging tile, the
// 227 KB of an H100 (at most 211 KB). d256 runs one query stage: two take 209 KB and leave no
// room for the staging tile, and staging dQ paid more (+20 to +28% on the H200) than the second
// stage does.
template <int HeadDim>
struct BackwardConfig;
template <>
struct BackwardConfig<32> : BackwardTiles<32, 64, 128, 8, 2, 2, 4, 4> {};
template <>
struct BackwardConfig<64> : BackwardTiles<64, 128, 128, 8, 2, 4, 4, 4> {};
template <>
struct BackwardConfig<96> : BackwardTiles<96, 64, 128, 8, 2, 2, 4, 4> {};
template <>
struct BackwardConfig<128> : BackwardTiles<128, 64, 128, 8, 2, 2, 4, 2> {};
template <>
struct BackwardConfig<192> : BackwardTiles<192, 64, 64, 8, 2, 2, 2, 2> {};
template <>
struct BackwardConfig<256> : BackwardTiles<256, 64, 64, 8, 1, 2, 2, 2> {};

}  // namespace flashattn::sm80
