// Who runs what when in the sm90 forward: TileQueue hands the persistent CTA's tiles from the
// producer to the consumers, GemmTurns orders the consumers' GEMM issues (ping-pong).
#pragma once

#include <cstdint>

#include "cuda/ptx/mbarrier.cuh"
#include "cuda/ptx/named_barrier.cuh"
#include "cuda/sm90/fwd_smem.cuh"

namespace flashattn::sm90 {

// The CTA's tiles, handed from the producer thread (take) to the consumers (receive) through
// kTileSlots slots in shared memory. The first is blockIdx.x; every later one comes from
// `counter` (zeroed before the launch: tiles gridDim.x, gridDim.x + 1, ... are taken in order);
// a number of `tiles` or more ends the CTA's run.
template <typename Config, typename Element>
struct TileQueue {
  const ForwardSmem<Config, Element>& smem;
  unsigned* counter;
  unsigned tiles;
  std::uint32_t uses = 0;

  __device__ int slot() const { return static_cast<int>(uses % Config::kTileSlots); }
  __device__ std::uint32_t parity() const { return (uses / Config::kTileSlots) & 1; }
  // Producer: the number of the CTA's next tile, at most `tiles`. Taken once the current tile's
  // loads are issued (see produce), while the consumers have at most two key blocks to go.
  __device__ unsigned take() const {
    const unsigned next = gridDim.x + atomicAdd(counter, 1u);
    return next < tiles ? next : tiles;
  }
  // Producer: hands `tile` over once the consumers have read what this slot held before.
  __device__ void publish(unsigned tile) {
    ptx::mbarrier_wait(&smem.tile_free[slot()], parity() ^ 1);
    smem.tile_slots[slot()] = static_cast<int>(tile);
    ptx::mbarrier_arrive(&smem.tile_full[slot()]);  // releases the store
    ++uses;
  }
  // Consumers: the next tile number, `tiles` at the end.
  __device__ unsigned receive() {
    ptx::mbarrier_wait(&smem.tile_full[slot()], parity());
    // Broadcast from lane 0: the warp then branches on it as on a uniform value (a per-thread
    // load would make every tile's wgmmas look divergent to ptxas and serialise them, C7520).
    const unsigned tile =
        __shfl_sync(0xffffffffu, static_cast<unsigned>(smem.tile_slots[slot()]), 0);
    ptx::mbarrier_arrive(&smem.tile_free[slot()]);
    ++uses;
    return tile;
  }
};

// The consumer warpgroups take turns issuing their GEMMs round-robin (ping-pong), so one's
// softmax runs while another's GEMMs occupy the tensor cores (without the overlap inside a
// warpgroup a turn covers one S, or a tile's last P V). Named barrier 1 + c opens consumer
// c's turn: c waits on it (128 threads) and its predecessor c - 1 (mod N) arrives on it (128)
// once its own GEMMs are issued, so each barrier counts 256 whatever N is.
// Balance over the CTA's whole run: every consumer takes the same T turns (key blocks + 1 per
// non-empty tile: all share the CTA's tiles), so it waits T times on its barrier. Barrier 1 + c,
// c > 0, gets T arrivals from c - 1; barrier 1 gets T from consumer N - 1 plus the one it makes
// up front to open consumer 0's first turn, which consumer 0 takes in finish(). Phases never
// merge: turns run 0, 1, .., N - 1, 0, .., so a consumer's next arrival on a barrier comes after
// its successor's wait on it has completed.
template <int Consumers>
struct GemmTurns {
  static constexpr int kFirstBarrier = 1;  // 0 is __syncthreads
  static constexpr int kThreads = 256;     // the waiting and the arriving warpgroup
  static_assert(Consumers >= 2 && kFirstBarrier + Consumers <= 16, "named barriers are 0..15");
  int barrier;  // this consumer's; the only register the turns keep

  __device__ explicit GemmTurns(int consumer) : barrier(kFirstBarrier + consumer) {
    if (consumer == Consumers - 1) ptx::named_barrier_arrive(kFirstBarrier, kThreads);
  }
  __device__ void begin() const { ptx::named_barrier_sync(barrier, kThreads); }
  __device__ void end() const {
    const bool wraps = barrier == kFirstBarrier + Consumers - 1;  // the last consumer
    ptx::named_barrier_arrive(wraps ? kFirstBarrier : barrier + 1, kThreads);
  }
  __device__ void finish() const {
    if (barrier == kFirstBarrier) begin();
  }
};

}  // namespace flashattn::sm90
