// The sm90 forward kernel: warp-specialised and persistent. A tile is one query block of one
// (batch, head); one CTA per multiprocessor takes tiles until none is left: CTA b starts on tile
// b, then takes the next untaken one from a counter in global memory (TileQueue), so a heavy
// tile never waits behind a static share. Warpgroup 0 (the producer; one
// thread works) loads each tile's Q and its K, V blocks with TMA, K and V through a 2-stage ring,
// each arrival counted by an mbarrier; the others (the consumers: 3 at d64 and at d128 without a
// band, else 2) own 64 query rows each and run S = Q Kᵀ (wgmma, both operands from shared
// memory), the online softmax of the sm80 path on the accumulators (same fragment layout), then
// O += P V (wgmma, P from registers, V from shared memory). The softmax of one block overlaps the
// P V of the one before (but for d128's three consumers, which have no registers for it), the
// consumers take turns issuing their GEMMs (ping-pong; without the overlap the turns cover each
// S and the tile's last P V), and K and V are released apart so the ring refills early. Key blocks
// are walked last to first, so masked blocks come first. O leaves through a staging buffer (its
// own, or at d256 half of the tile's last K/V stage: RingStaging) and a TMA store; the next tile's
// Q and first K and V load meanwhile.
//
// Synchronisation across tiles. The producer takes each tile and hands its number to the
// consumers (TileQueue); both sides skip the same empty tiles (rows that see no key: the
// consumers write O = 0, LSE = +inf, nothing is loaded). Every
// mbarrier completes one phase per use and a waiter names the parity of the phase it waits for;
// each full/free pair keeps the sides at most one phase apart (the filling side waits for the
// release of the previous use first; a fresh barrier passes the parity-1 wait, so each barrier's
// first use goes through at once).
// - query_full / query_free: one phase per non-empty tile. The consumers release Q once the
//   tile's last S has landed.
// - key_full[s], value_full[s] / key_free[s] (once the S reading it has landed), value_free[s]
//   (once the P V has): the ring, counted in one RingPosition per side over the CTA's whole run,
//   so the i-th key block of the CTA is the i-th use of its stage on both sides. At d256 the
//   consumer that stages its O in the tile's last K (V) releases that stage only once the TMA
//   store has read it (RingStaging). The producer loads a tile's Q, then its key blocks.
// - tile_full[s] / tile_free[s]: TileQueue's two slots, one phase per handed-over tile number.
// - GemmTurns: balanced over the CTA's whole run (see there). RingStaging's two named barriers:
//   one use each per non-empty tile, by the same two warpgroups.
#pragma once

#include <cuda.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "cuda/common/fwd_params.h"
#include "cuda/ptx/mbarrier.cuh"
#include "cuda/ptx/special_registers.cuh"
#include "cuda/ptx/wgmma.cuh"
#include "cuda/sm80/query_block.cuh"
#include "cuda/sm80/softmax.cuh"
#include "cuda/sm80/tile_io.cuh"
#include "cuda/sm80/warp_gemm.cuh"
#include "cuda/sm90/fwd_config.h"
#include "cuda/sm90/fwd_epilogue.cuh"
#include "cuda/sm90/fwd_scheduler.cuh"
#include "cuda/sm90/fwd_smem.cuh"

namespace flashattn::sm90 {

using sm80::ForwardBlock;

// One thread: Q and the key blocks of every tile of this CTA.
template <typename Config, typename Element>
__device__ __forceinline__ void produce(const ForwardParams& params,
                                        const ForwardSmem<Config, Element>& smem,
                                        TileQueue<Config, Element> queue, const CUtensorMap* q_map,
                                        const CUtensorMap* k_map, const CUtensorMap* v_map) {
  RingPosition<Config::kStages> ring;
  std::uint32_t queries = 0;  // Q loads so far: one per non-empty tile
  for (unsigned tile = blockIdx.x;;) {
    queue.publish(tile);
    if (tile >= queue.tiles) break;
    const ForwardBlock block = ForwardBlock::of_tile<Config, true>(params, static_cast<int>(tile));
    // The next tile is taken only once this one's loads are issued (at most two key blocks
    // before the consumers finish it): taken earlier, a CTA would hold a heavy tile for a whole
    // tile while others run dry (ncu, d128 causal 16k: SMs active 90.6% of the time against 97.1%).
    if (block.empty()) {
      tile = queue.take();
      continue;
    }
    const auto load_key_block = [&](int n) {
      ptx::mbarrier_wait(&smem.key_free[ring.stage()], ring.parity() ^ 1);
      load_tile<Config>(smem.key(ring.stage()), Config::kBlockN, k_map,
                        &smem.key_full[ring.stage()], n * Config::kBlockN, block.kv_head,
                        block.batch);
      ptx::mbarrier_wait(&smem.value_free[ring.stage()], ring.parity() ^ 1);
      load_tile<Config>(smem.value(ring.stage()), Config::kBlockN, v_map,
                        &smem.value_full[ring.stage()], n * Config::kBlockN, block.kv_head,
                        block.batch);
      ring.advance();
    };
    const auto load_query = [&] {
      ptx::mbarrier_wait(smem.query_free, (queries & 1) ^ 1);
      load_tile<Config>(smem.query, Config::kBlockM, q_map, smem.query_full, block.first_row,
                        block.head, block.batch);
    };
    // Q first: the consumers release the previous tile's once its last S has landed, before
    // they release its last K and V.
    load_query();
    ++queries;
    for (int n = block.end_key_block - 1; n >= block.first_key_block; --n)
      load_key_block(n);
    tile = queue.take();
  }
}

// S (this warpgroup's 64 rows x kBlockN) = Q Kᵀ: k16 steps over the head dim, 32 bytes apart
// inside a 64-column block, a block apart across them.
template <typename Config, typename Element>
__device__ __forceinline__ void multiply_query_key(const Element* query, const Element* key,
                                                   float (&scores)[Config::kBlockN / 2]) {
#pragma unroll
  for (int kk = 0; kk < Config::kHeadDim / 16; ++kk) {
    const int block = kk / 4;
    const int column = 16 * (kk % 4);
    const std::uint64_t a =
        ptx::smem_descriptor_swizzle128(query + block * Config::kBlockM * 64 + column, 16, 1024);
    const std::uint64_t b =
        ptx::smem_descriptor_swizzle128(key + block * Config::kBlockN * 64 + column, 16, 1024);
    ptx::wgmma_ss<Element, 0, 0>(scores, a, b, kk > 0);
  }
}

// O += P V with P packed as A fragments and V MN-major: a k16 step is 16 rows (keys); the
// descriptor's leading offset jumps between V's 64-column blocks.
// `probabilities(kk, a)` puts k16 step kk's A fragment in `a`.
template <typename Config, typename Element, typename Probabilities>
__device__ __forceinline__ void multiply_probability_value(const Probabilities& probabilities,
                                                           const Element* value,
                                                           float (&output)[Config::kHeadDim / 2]) {
#pragma unroll
  for (int kk = 0; kk < Config::kBlockN / 16; ++kk) {
    const std::uint64_t b =
        ptx::smem_descriptor_swizzle128(value + 16 * kk * 64, Config::kBlockN * 128, 1024);
    std::uint32_t a[4];
    probabilities(kk, a);
    ptx::wgmma_rs<Element, 1>(output, a, b, 1);
  }
}

// The step's scores, from the key block in `stage` once it has landed, waited for.
template <typename Config, typename Element>
__device__ __forceinline__ void issue_query_key(const Element* query,
                                                const ForwardSmem<Config, Element>& smem, int stage,
                                                std::uint32_t parity,
                                                float (&scores)[Config::kBlockN / 2]) {
  ptx::mbarrier_wait(&smem.key_full[stage], parity);
  ptx::wgmma_fence();
  multiply_query_key<Config>(query, smem.key(stage), scores);
  ptx::wgmma_commit();
}

// First row (in the CTA's block) of this warp's 16: the producer's 4 warps come first, then
// each consumer's 4 own its 64 rows in order.
__device__ __forceinline__ int first_warp_row(unsigned thread) {
  return 16 * (static_cast<int>(thread / 32) - 4);
}

// One non-empty tile: this warpgroup's 64 rows of O and LSE. With kOverlapInWarpgroup
// software-pipelined by one key block: while the tensor cores add the previous block's P V into
// O, the warps run this block's softmax; O is rescaled only after that group has finished, before
// the next P V. Without, S, softmax and P V follow each other. `queries` counts the CTA's earlier
// non-empty tiles (the phase of its Q); `ring` is where the tile's first S reads K.
template <typename Config, typename Element>
__device__ __forceinline__ void consume_tile(const ForwardParams& params, const ForwardBlock& block,
                                             const ForwardSmem<Config, Element>& smem, int consumer,
                                             const GemmTurns<Config::kConsumers>& turns,
                                             RingPosition<Config::kStages>& ring,
                                             std::uint32_t queries, const CUtensorMap* o_map) {
  constexpr int kKeyTiles = Config::kKeyTiles;
  constexpr int kDimTiles = Config::kDimTiles;
  using Softmax = sm80::OnlineSoftmax<1, kKeyTiles, kDimTiles, Config::kSoftmaxChains>;
  const int warp_row = first_warp_row(threadIdx.x);
  // This warpgroup's 64 rows of Q. With three consumers (160 registers) and at d256 (232) the
  // descriptors of a pointer kept across the loop would be spilled (d256: three 8-byte reloads
  // per key block): there it is derived afresh from %tid.x.
  const auto query = [&] {
    constexpr bool kFromThreadIndex = Config::kConsumers == 3 || Config::kHeadDim == 256;
    const int rows_of =
        kFromThreadIndex ? static_cast<int>(ptx::thread_index_x() / 128) - 1 : consumer;
    return smem.query + 64 * rows_of * 64;
  };
  float output[1][kDimTiles][4] = {};
  auto& output_flat = *reinterpret_cast<float(*)[Config::kHeadDim / 2]>(&output[0][0][0]);
  float scores[1][kKeyTiles][4];
  auto& scores_flat = *reinterpret_cast<float(*)[Config::kBlockN / 2]>(&scores[0][0][0]);
  // P as A fragments: its own registers where the next S is issued beside the P V, else packed
  // into the first half of S's (the P V has finished before the next S overwrites them).
  constexpr int kProbabilityRegisters = Config::kOverlapInWarpgroup ? Config::kBlockN / 4 : 1;
  std::uint32_t probabilities[kProbabilityRegisters];
  Softmax softmax;
  softmax.reset();
  // Softcap and mask on key block n's scores; returns the factor to the log2 domain.
  const auto transform_step = [&](int n) {
    ptx::wgmma_fence_operands(scores_flat);
    // The row is derived again each step: with three consumers (160 registers) a copy kept
    // across the loop for the masked blocks alone would be spilled.
    return sm80::transform_scores<1, kKeyTiles, Config::kBanded, Config::kSoftcap>(
        params, block.first_row + first_warp_row(ptx::thread_index_x()),
        static_cast<std::int64_t>(n) * Config::kBlockN, block.needs_mask(n), scores);
  };
  // Only once the previous P V has finished: its wgmmas read these registers asynchronously.
  const auto pack_probabilities = [&] {
#pragma unroll
    for (int kk = 0; kk < Config::kBlockN / 16; ++kk) {
      std::uint32_t a[4];
      sm80::pack_a_fragment<Element>(a, scores[0][2 * kk], scores[0][2 * kk + 1]);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        // In S's registers, step kk's fragment overwrites key tile kk, already read for step
        // kk / 2.
        if constexpr (Config::kOverlapInWarpgroup) {
          probabilities[4 * kk + i] = a[i];
        } else {
          scores_flat[4 * kk + i] = __uint_as_float(a[i]);
        }
      }
    }
  };
  const auto probability_fragment = [&](int kk, std::uint32_t(&a)[4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if constexpr (Config::kOverlapInWarpgroup) {
        a[i] = probabilities[4 * kk + i];
      } else {
        a[i] = __float_as_uint(scores_flat[4 * kk + i]);
      }
    }
  };
  // `fence`: no S was issued just before it (whose wgmma_fence covers the P V otherwise).
  const auto issue_probability_value = [&](RingPosition<Config::kStages> at, bool fence) {
    ptx::mbarrier_wait(&smem.value_full[at.stage()], at.parity());
    if (fence) ptx::wgmma_fence();
    multiply_probability_value<Config>(probability_fragment, smem.value(at.stage()), output_flat);
    ptx::wgmma_commit();
  };
  const RingStaging<Config> staging{consumer};
  // The P V has finished: O may be read, V's stage goes back to the producer (unless O is staged
  // there after the tile's `last` block).
  const auto release_value = [&](RingPosition<Config::kStages> at, bool last) {
    ptx::wgmma_wait<0>();
    ptx::wgmma_fence_operands(output_flat);
    if (!staging.holds_value(last)) ptx::mbarrier_arrive(&smem.value_free[at.stage()]);
    staging.values_read(last);
  };
  // The S of block n has landed: its K goes back (unless O is staged there after the last block).
  const auto release_key = [&](int n) {
    const bool last = n == block.first_key_block;
    if (!staging.holds_key(last)) ptx::mbarrier_arrive(&smem.key_free[ring.stage()]);
    staging.keys_read(last);
  };
  // The tile's last S has landed: Q is free for the next tile.
  const auto release_query_after_scores = [&](int n) {
    if (n == block.first_key_block) ptx::mbarrier_arrive(smem.query_free);
  };

  // The block before the ring's next: the P V in flight reads V one block behind the next S's K,
  // and after the loop it is the tile's last.
  const auto behind = [&] { return RingPosition<Config::kStages>{ring.uses - 1}; };
  ptx::mbarrier_wait(smem.query_full, queries & 1);
  if constexpr (Config::kOverlapInWarpgroup) {
    int n = block.end_key_block - 1;
    turns.begin();
    issue_query_key<Config>(query(), smem, ring.stage(), ring.parity(), scores_flat);
    turns.end();
    ptx::wgmma_wait<0>();
    release_key(n);
    ring.advance();
    softmax.absorb_scores(scores, transform_step(n));  // O is still 0: nothing to rescale
    pack_probabilities();
    release_query_after_scores(n);
    while (n > block.first_key_block) {
      turns.begin();
      issue_query_key<Config>(query(), smem, ring.stage(), ring.parity(), scores_flat);
      issue_probability_value(behind(), /*fence=*/false);
      turns.end();
      ptx::wgmma_wait<1>();  // the scores have landed; P V may still run
      release_key(n - 1);
      release_query_after_scores(n - 1);
      // Only the row maxima overlap the P V: with it finished, the exponentials (a stream of
      // MUFUs the SFU takes one per 8 cycles a warp) interleave with the O rescale, the sums and
      // the packing of P instead of running back to back after them.
      const float score_scale = transform_step(--n);
      const typename Softmax::Rescale rescale = softmax.raise_max(scores, score_scale);
      release_value(behind(), /*last=*/false);
      ring.advance();
      Softmax::apply(rescale, output);
      softmax.exponentiate(scores, score_scale);
      pack_probabilities();
    }
    wait_for_output_store<Config>();  // the previous tile's; this begin() orders the warpgroup
    turns.begin();
    issue_probability_value(behind(), /*fence=*/true);
    turns.end();
    release_value(behind(), /*last=*/true);
  } else {
    // Per key block S, softmax, P V, each P V finished before the next S: the warpgroup's turns
    // cover its S; its P V is issued as soon as P is ready, but for the tile's last (its turn
    // orders the warpgroup behind the previous tile's store, as above).
    for (int n = block.end_key_block - 1; n >= block.first_key_block; --n) {
      const bool last = n == block.first_key_block;
      turns.begin();
      issue_query_key<Config>(query(), smem, ring.stage(), ring.parity(), scores_flat);
      turns.end();
      ptx::wgmma_wait<0>();
      release_key(n);
      release_query_after_scores(n);
      const float score_scale = transform_step(n);
      // O rescaled before the exponentials (absorb's order compiles differently; this one ran).
      Softmax::apply(softmax.raise_max(scores, score_scale), output);  // the first block: O is 0
      softmax.exponentiate(scores, score_scale);
      pack_probabilities();
      if (last) {
        wait_for_output_store<Config>();
        turns.begin();
      }
      issue_probability_value(ring, /*fence=*/true);
      if (last) turns.end();
      release_value(ring, last);
      ring.advance();
    }
  }

  sm80::finish_rows(softmax, params, block, warp_row, output);
  if constexpr (Config::kOutputInRing) {
    const int stage = behind().stage();
    staging.acquire();
    store_output<Config>(output, staging.rows(smem, stage), o_map, params, block, consumer);
    staging.release(smem, stage);
  } else {
    store_output<Config>(output, smem.output + 64 * consumer * 64, o_map, params, block, consumer);
  }
}

// Consumer warpgroup: every tile of this CTA, in the producer's order.
template <typename Config, typename Element>
__device__ __forceinline__ void consume(const ForwardParams& params,
                                        const ForwardSmem<Config, Element>& smem,
                                        TileQueue<Config, Element> queue, int consumer,
                                        const CUtensorMap* o_map) {
  const GemmTurns<Config::kConsumers> turns(consumer);
  RingPosition<Config::kStages> ring;
  std::uint32_t queries = 0;
  for (;;) {
    const unsigned tile = queue.receive();
    if (tile >= queue.tiles) break;
    const ForwardBlock block = ForwardBlock::of_tile<Config, true>(params, static_cast<int>(tile));
    if (block.empty()) {  // nothing is loaded; the consumer warpgroups share the rows
      sm80::write_empty_rows<Element>(params, block, threadIdx.x - 128, Config::kConsumerThreads);
      continue;
    }
    consume_tile<Config>(params, block, smem, consumer, turns, ring, queries++, o_map);
  }
  wait_for_output_store<Config>();
  turns.finish();
}

template <typename Config, typename Element>
__global__ void __launch_bounds__(Config::kThreads, 1)
    forward_kernel(const ForwardParams params, const unsigned tiles, unsigned* const tile_counter,
                   const __grid_constant__ CUtensorMap q_map,
                   const __grid_constant__ CUtensorMap k_map,
                   const __grid_constant__ CUtensorMap v_map,
                   const __grid_constant__ CUtensorMap o_map) {
  extern __shared__ unsigned char shared_memory[];
  const ForwardSmem<Config, Element> smem(shared_memory);
  if (threadIdx.x == 0) {
    ptx::mbarrier_init(smem.query_full, 1);
    ptx::mbarrier_init(smem.query_free, Config::kConsumerThreads);
    for (int stage = 0; stage < Config::kStages; ++stage) {
      ptx::mbarrier_init(&smem.key_full[stage], 1);
      ptx::mbarrier_init(&smem.value_full[stage], 1);
      ptx::mbarrier_init(&smem.key_free[stage], Config::kConsumerThreads);
      ptx::mbarrier_init(&smem.value_free[stage], Config::kConsumerThreads);
    }
    for (int slot = 0; slot < Config::kTileSlots; ++slot) {
      ptx::mbarrier_init(&smem.tile_full[slot], 1);
      ptx::mbarrier_init(&smem.tile_free[slot], Config::kConsumerThreads);
    }
    ptx::mbarrier_init_fence();
  }
  __syncthreads();
  const int warpgroup = threadIdx.x / 128;
  const TileQueue<Config, Element> queue{smem, tile_counter, tiles};
  if (warpgroup == 0) {
    ptx::warpgroup_registers_decrease<Config::kProducerRegisters>();
    if (threadIdx.x == 0) produce<Config>(params, smem, queue, &q_map, &k_map, &v_map);
  } else {
    ptx::warpgroup_registers_increase<Config::kConsumerRegisters>();
    consume<Config>(params, smem, queue, warpgroup - 1, &o_map);
  }
}

}  // namespace flashattn::sm90
