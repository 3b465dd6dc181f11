// The sm90 forward's epilogue: a consumer warpgroup's O through shared memory and a TMA store.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "cuda/ptx/ldmatrix.cuh"
#include "cuda/ptx/mma.cuh"
#include "cuda/ptx/named_barrier.cuh"
#include "cuda/ptx/tma.cuh"
#include "cuda/sm80/query_block.cuh"
#include "cuda/sm90/fwd_config.h"
#include "cuda/sm90/fwd_scheduler.cuh"

namespace flashattn::sm90 {

using sm80::ForwardBlock;

// O leaves through shared memory and TMA: the warpgroup's threads write the normalised O in
// 16-bit into `rows` (its 64 rows of the staging buffer at d64/d128; at d256 half of the tile's
// last K/V stage, see RingStaging), in 128-byte-swizzled 64-column blocks, and one thread stores
// the blocks (TMA clips the rows and columns past the tensor): full 128-byte rows instead of
// the fragments' 16-byte pieces. At d256 that thread returns once the store has read the rows
// (the stage goes back to the producer after); with O staged apart it waits for that only in
// the next tile, ahead of its last GemmTurns::begin() (wait_for_output_store), and the
// warpgroup's other threads write the rows again only after that begin(), which waits for the
// thread's warp, so the rows are not overwritten early (a consumer path that skipped the turns
// would need its own barrier here).
// store_output's barrier per consumer warpgroup, after GemmTurns' (and before RingStaging's).
template <typename Config>
inline constexpr int kEpilogueBarrier =
    GemmTurns<Config::kConsumers>::kFirstBarrier + Config::kConsumers;

template <typename Config, typename Element>
__device__ __forceinline__ void store_staged_output(const float (&output)[1][Config::kDimTiles][4],
                                                    Element* rows, const CUtensorMap* o_map,
                                                    const ForwardBlock& block, int consumer) {
  static_assert(kEpilogueBarrier<Config> + Config::kConsumers <= 16, "named barriers are 0..15");
  const int lane = threadIdx.x % 32;
  const std::uint32_t base = ptx::shared_address(rows);
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = 16 * (threadIdx.x / 32 % 4) + lane / 4 + 8 * h;
#pragma unroll
    for (int d = 0; d < Config::kDimTiles; ++d) {
      // Column 8 d + 2 (lane % 4) of 64-column block d / 8: 16-byte chunk d % 8, XOR the row.
      const std::uint32_t address = base + 2 * (d / 8) * Config::kOutputBlockRows * 64 + row * 128 +
                                    ((d % 8) ^ (row % 8)) * 16 + 4 * (lane % 4);
      ptx::store_shared_32(address,
                           ptx::pack2<Element>(output[0][d][2 * h], output[0][d][2 * h + 1]));
    }
  }
  ptx::fence_async_shared();
  ptx::named_barrier_sync(kEpilogueBarrier<Config> + consumer, 128);
  if (threadIdx.x % 128 == 0 && block.rows > 64 * consumer) {
#pragma unroll
    for (int column_block = 0; column_block < Config::kColumnBlocks; ++column_block) {
      ptx::tma_store_4d(o_map, rows + column_block * Config::kOutputBlockRows * 64,
                        64 * column_block, block.first_row + 64 * consumer, block.head,
                        block.batch);
    }
    ptx::bulk_commit_group();
    // Shared memory must outlive the reads: at once where the K/V stage is released after them,
    // else just before the rows are written again (wait_for_output_store).
    if constexpr (!Config::kOutputApart) ptx::bulk_wait_group_read();
  }
}

// The warpgroup's rows that lie in the sequence, each thread its own fragments' pairs straight
// to global memory (columns past the head dim left out).
template <typename Config, typename Element>
__device__ __forceinline__ void store_output_directly(
    const float (&output)[1][Config::kDimTiles][4], const ForwardParams& params,
    const ForwardBlock& block, int consumer) {
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int row = 64 * consumer + 16 * (threadIdx.x / 32 % 4) + lane / 4 + 8 * h;
    if (row < block.first_valid_row || row >= block.rows) continue;
    Element* out = const_cast<Element*>(sm80::row_pointer<Element>(
        params.out, params.out_strides, block.batch, block.first_row + row, block.head));
#pragma unroll
    for (int d = 0; d < Config::kDimTiles; ++d) {
      if (8 * d >= params.head_dim) break;
      *reinterpret_cast<std::uint32_t*>(out + 8 * d + 2 * (lane % 4)) =
          ptx::pack2<Element>(output[0][d][2 * h], output[0][d][2 * h + 1]);
    }
  }
}

// The warpgroup's 64 rows of O. A warpgroup whose rows begin before the sequence (in the first
// block of a sequence whose length is not a multiple of kBlockM, the blocks being aligned to
// its end) cannot use TMA: a store box at a negative row faults (PtxTma test), where a load's
// is zero-filled. It stores its rows in the sequence directly, or nothing if it has none.
template <typename Config, typename Element>
__device__ __forceinline__ void store_output(const float (&output)[1][Config::kDimTiles][4],
                                             Element* rows, const CUtensorMap* o_map,
                                             const ForwardParams& params, const ForwardBlock& block,
                                             int consumer) {
  if (block.first_valid_row <= 64 * consumer) {
    store_staged_output<Config>(output, rows, o_map, block, consumer);
  } else if (block.first_valid_row < 64 * (consumer + 1)) {
    store_output_directly<Config, Element>(output, params, block, consumer);
  }
  // Reconverge the warp here. Without it (d64/d128 staged apart: nothing follows the store in
  // the tile), the one-thread store branch joins straight into the tile loop's latch, ptxas
  // sees the next tile's wgmmas on a divergent path and serialises every wgmma of the kernel
  // (C7520: a WARPGROUP.DEPBAR after each HGMMA, no S / P V overlap).
  __syncwarp();
}

// Where O has no buffer of its own (d256), consumer c stages it in half c of the tile's last K/V
// stage: K for consumer 0, V for consumer 1 (64 of kBlockN rows per 64-column block). A half is
// free for it once the other consumer's last wgmma reading it has finished (that one's last S
// for K, its last P V for V: signalled on a named barrier per half), and it goes back to the
// producer only after the TMA store has read it: the consumer holds back its arrival on that
// stage's key_free / value_free until then. So Q, which held O before, is free after the
// tile's last S, and the next tile's Q loads under the last P V and the epilogue.
template <typename Config>
struct RingStaging {
  static constexpr int kFirstBarrier = kEpilogueBarrier<Config> + Config::kConsumers;
  static_assert(kFirstBarrier + 2 <= 16, "named barriers are 0..15");
  int consumer;

  // Whether this consumer keeps back its release of the last block's K (V): its O goes there.
  __device__ bool holds_key(bool last) const {
    return Config::kOutputInRing && last && consumer == 0;
  }
  __device__ bool holds_value(bool last) const {
    return Config::kOutputInRing && last && consumer == 1;
  }
  // After the last block's S has landed (P V has finished): the other consumer's half is read.
  __device__ void keys_read(bool last) const {
    if (Config::kOutputInRing && last && consumer == 1) {
      ptx::named_barrier_arrive(kFirstBarrier, 256);
    }
  }
  __device__ void values_read(bool last) const {
    if (Config::kOutputInRing && last && consumer == 0) {
      ptx::named_barrier_arrive(kFirstBarrier + 1, 256);
    }
  }
  // Epilogue: waits until the other consumer no longer reads this consumer's half.
  __device__ void acquire() const { ptx::named_barrier_sync(kFirstBarrier + consumer, 256); }
  template <typename Element>
  __device__ Element* rows(const ForwardSmem<Config, Element>& smem, int stage) const {
    return consumer == 0 ? smem.key(stage) : smem.value(stage);
  }
  // After store_output: the warpgroup meets once more, behind its storing thread's wait for the
  // store's reads, then gives the stage back. (Warp 0's own arrival already follows that wait,
  // which alone keeps the phase open; the barrier is what ran on the GPU: dropping it is a
  // measurement for later.)
  template <typename Element>
  __device__ void release(const ForwardSmem<Config, Element>& smem, int stage) const {
    ptx::named_barrier_sync(kEpilogueBarrier<Config> + consumer, 128);
    ptx::mbarrier_arrive(consumer == 0 ? &smem.key_free[stage] : &smem.value_free[stage]);
  }
};

// With O staged apart, the storing thread waits for its last TMA store to have read the rows
// only before they are written again (or the CTA exits), not right after issuing it: its warp
// would hold the whole warpgroup at the next turn (measured +0.3 to +1.5% at d64, d128 S <= 4k).
template <typename Config>
__device__ __forceinline__ void wait_for_output_store() {
  if constexpr (Config::kOutputApart) {
    if (threadIdx.x % 128 == 0) ptx::bulk_wait_group_read();
    __syncwarp();  // a divergent path before wgmmas would serialise them (C7520)
  }
}

}  // namespace flashattn::sm90
