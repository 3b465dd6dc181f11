// Tile shapes of the sm90 forward, per head dim. Two consumer warpgroups own 64 query rows
// each (a wgmma is always 64 rows); one producer warpgroup issues the TMA copies.
#pragma once

namespace flashattn::sm90 {

template <int HeadDim>
struct ForwardConfig {
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = 128;
  static constexpr int kBlockN = HeadDim <= 128 ? 128 : 64;
  static constexpr int kStages = 2;  // K/V ring depth
  static constexpr int kConsumers = 2;
  static constexpr int kThreads = 128 * (1 + kConsumers);
  // Register split (setmaxnreg): the producer keeps few, the consumers hold S, P and O.
  static constexpr int kProducerRegisters = 24;
  static constexpr int kConsumerRegisters = 240;
  // Tiles are stored as 64-column blocks of 128-byte rows with the 128-byte swizzle: the TMA box
  // and wgmma's canonical layout.
  static constexpr int kColumnBlocks = HeadDim / 64;
  static constexpr int kQueryElements = kBlockM * HeadDim;
  static constexpr int kKeyElements = kBlockN * HeadDim;
  // What transform_scores / OnlineSoftmax (sm80/) see: a warp's 16 rows as one row tile.
  static constexpr int kRowTiles = 1;
  static constexpr int kKeyTiles = kBlockN / 8;
  static constexpr int kDimTiles = HeadDim / 8;
  static constexpr int kBarrierBytes = 8 * (1 + 4 * kStages);
  static constexpr int kSmemBytes =
      2 * (kQueryElements + 2 * kStages * kKeyElements) + kBarrierBytes + 1024;  // + alignment

  static_assert(HeadDim % 64 == 0, "the sm90 path takes head dims in 64-column blocks");
};

}  // namespace flashattn::sm90
