// Tile shapes of the sm90 forward, per head dim. Consumer warpgroups own 64 query rows each (a
// wgmma is always 64 rows); one producer warpgroup issues the TMA copies.
#pragma once

namespace flashattn::sm90 {

// Banded: the kernel may see a causal or sliding-window mask (each row a band of keys). Only
// d128 has a kernel apart for problems without one (Banded = false, see kConsumers); it masks
// only the sequence's end. Softcap: the kernel may see a softcap; without it the tanh loop (1094
// of the 1899 instructions of d128's band-free key-block loop) is not compiled in. Softcap runs on
// the Softcap = true kernel of its head dim; d64 and d128 have one apart for problems without.
template <int HeadDim, bool Banded = true, bool Softcap = true>
struct ForwardConfig {
  static_assert(Banded || HeadDim == 128, "only d128 has a band-free kernel");
  static_assert(Softcap || HeadDim <= 128, "d256 keeps one kernel: its loop lost nothing to it");
  static constexpr int kHeadDim = HeadDim;
  static constexpr bool kBanded = Banded;
  static constexpr bool kSoftcap = Softcap;
  // d64's GEMMs are short next to its softmax: a third consumer keeps the tensor cores fed. Its
  // registers (O 32 + S 64 + P 32 at 128 keys) fit the 160 that three consumers can get; 192
  // keys (S 96, P 48) would not, so kBlockN stays 128. d128 without a band runs on three
  // consumers holding O 64 + S 64 only: P is packed into S's registers, so a warpgroup's next S
  // waits for its P V (no overlap inside it) and the other two consumers' GEMMs fill the tensor
  // cores meanwhile (measured +2.3 to +3.6% from 2k; where its 192-row tiles idle more rows than
  // 128-row ones, as at 1k, run_forward takes the two-consumer kernel). Under a band its 192-row
  // tiles lost (-0.5 to -8.6% below 16k): there d128 keeps two consumers that overlap.
  static constexpr int kConsumers = HeadDim == 64 || !Banded ? 3 : 2;
  static constexpr bool kOverlapInWarpgroup = Banded;  // the band-free kernel is the one without
  static constexpr int kBlockM = 64 * kConsumers;
  // d256: 80-key blocks (S 40 + P 20 registers next to O's 128; Q 64 KB and a 2-stage K/V ring
  // of 160 KB fill shared memory): 25% more work per barrier and softmax turn than 64 keys,
  // measured +1.7 to +7.9% (S 1k-16k, causal and not).
  static constexpr int kBlockN = HeadDim <= 128 ? 128 : 80;
  static constexpr int kStages = 2;  // K/V ring depth
  static constexpr int kThreads = 128 * (1 + kConsumers);
  // The consumer warpgroups' threads: every release barrier counts them all.
  static constexpr int kConsumerThreads = 128 * kConsumers;
  // Register split (setmaxnreg): the producer keeps few, the consumers hold S, P and O. d256's
  // producer spilled 80 bytes at tile boundaries on 40; on 48 nothing in the kernel spills and
  // the consumers' 224 still hold O 128 + S 40 + P 20 (measured +0.2 to +1.0%, S 1k-16k).
  static constexpr int kProducerRegisters = kConsumers == 3 ? 32 : HeadDim == 256 ? 48 : 40;
  static constexpr int kConsumerRegisters = kConsumers == 3 ? 160 : HeadDim == 256 ? 224 : 232;
  // Tiles are stored as 64-column blocks of 128-byte rows with the 128-byte swizzle: the TMA box
  // and wgmma's canonical layout.
  static constexpr int kColumnBlocks = HeadDim / 64;
  static constexpr int kQueryElements = kBlockM * HeadDim;
  static constexpr int kKeyElements = kBlockN * HeadDim;
  // What transform_scores / OnlineSoftmax (sm80/) see: a warp's 16 rows as one row tile.
  static constexpr int kRowTiles = 1;
  static constexpr int kKeyTiles = kBlockN / 8;
  static constexpr int kDimTiles = HeadDim / 8;
  // Independent chains of a row's softmax max and sum (sm80::RowChains). Four measured +1.4 to
  // +2.6% at d128 (ncu: a third of the issue gaps were fixed-latency waits); at d64 and d256 they
  // moved nothing beyond noise, the three-consumer d128 kernel lost 0.2-1.6% with them (160
  // registers), and the sm80 forward 1-3%.
  static constexpr int kSoftmaxChains = HeadDim == 128 && kConsumers == 2 ? 4 : 1;
  static constexpr int kTileSlots = 2;  // tile numbers the producer may hand over ahead
  // query full/free, 4 per stage, tile full/free per slot; then the slots' tile numbers
  static constexpr int kBarrierBytes = 8 * (2 + 4 * kStages + 2 * kTileSlots) + 4 * kTileSlots;
  static constexpr int kTileBytes = 2 * (kQueryElements + 2 * kStages * kKeyElements);
  // O is staged for its TMA store in a buffer of its own where shared memory has room for one
  // (d64, d128), so Q can be released once the tile's last S has landed and the next tile's Q
  // loads under the epilogue.
  static constexpr bool kOutputApart =
      kTileBytes + 2 * kQueryElements + kBarrierBytes + 1024 <= 227 * 1024;
  // Without room for it (d256) consumer c stages its 64 rows in half c (K, V) of the tile's last
  // K/V stage (RingStaging), so Q is free after the tile's last S as well: measured +0.7 to
  // +5.6% below 16k (S 1k-8k, causal and not) against O staged in Q's rows, Q freed after the
  // store.
  static constexpr bool kOutputInRing = !kOutputApart;
  // Rows per 64-column block of the staging layout (the buffer's, or K's / V's).
  static constexpr int kOutputBlockRows = kOutputApart ? kBlockM : kBlockN;
  static_assert(kOutputApart || (kConsumers == 2 && kBlockN >= 64),
                "staging in the ring takes one half of a stage per consumer, 64 rows each");
  static_assert(kOverlapInWarpgroup || kOutputApart,
                "without overlap the tile's last P V is not followed by a RingStaging hand-over");
  static constexpr int kSmemBytes =
      kTileBytes + (kOutputApart ? 2 * kQueryElements : 0) + kBarrierBytes + 1024;  // + alignment

  static_assert(HeadDim % 64 == 0, "the sm90 path takes head dims in 64-column blocks");
  static_assert(kBlockM <= 256, "the Q tile is one TMA box of kBlockM rows (at most 256)");
  // setmaxnreg only moves registers among the CTA's warps: a consumer's increase blocks until the
  // producer's decrease has returned enough to the CTA's pool, which holds what the launch gave
  // (the kernel's count, here the __launch_bounds__(kThreads, 1) cap: 64K / kThreads rounded
  // down to a multiple of 8, as cuobjdump -res-usage shows). Asking for more hangs the consumers.
  static constexpr int kLaunchRegisters = 64 * 1024 / kThreads / 8 * 8;
  static_assert(128 * kProducerRegisters + kConsumerThreads * kConsumerRegisters <=
                    kThreads * kLaunchRegisters,
                "setmaxnreg cannot hand out more registers than the CTA was launched with");
};

}  // namespace flashattn::sm90
